"""The same allele gets the same LLR whatever the batch size, worker processes, slicing, entry point
(Python API, CLI in a fresh process, the Kipoi model) and machine load (issue 13): every way of scoring
the scatter VCF is run with two CPU-bound processes beside it and compared with one reference run."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import DATA
from hyenadna_kipoi import load_model
from hyenadna_kipoi.cli import main as cli
from hyenadna_kipoi.score import score_vcf
from hyenadna_kipoi.score.gather import gather_variants
from hyenadna_kipoi.score.slices import Chunk
from test_reproducibility import busy_cpus
from test_variants import write_vcf
from test_variants_scatter import scatter_records

MODEL_DIR = DATA / "fixtures" / "parity-a" / "original"
W = 256
RTOL = 1e-6  # the bound; ATOL only for LLRs within 1e-6 of zero, where a relative bound means nothing
ATOL = 1e-9
COLUMNS = ("llr", "llr_fwd", "llr_rc")


def table(path: Path) -> dict[str, np.ndarray]:
    """A score-variants TSV's keys (chrom, pos, id, ref, alt, status) and its LLR columns."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    out = {k: np.array([float(r[k]) if r[k] not in ("", "NA", ".") else np.nan for r in rows]) for k in COLUMNS}
    out["keys"] = [(r["#CHROM"], r["POS"], r["ID"], r["REF"], r["ALT"], r["status"]) for r in rows]
    return out


def same(got: dict, want: dict, how: str) -> None:
    assert got["keys"] == want["keys"], how
    for k in COLUMNS:
        np.testing.assert_allclose(got[k], want[k], rtol=RTOL, atol=ATOL, err_msg=f"{k}, {how}")


@pytest.mark.slow
def test_every_way_of_scoring_gives_the_same_llr_under_load(genome_text, fasta, tmp_path):
    vcf = write_vcf(tmp_path / "calls.vcf", scatter_records(genome_text))
    model = load_model(MODEL_DIR)

    def api(name: str, **kwargs) -> dict:
        out = tmp_path / name
        out.mkdir()
        score_vcf(model, fasta, vcf, out_tsv=out / "out.tsv", window=W, progress=False, keep_rows=False, **kwargs)
        return table(out / "out.tsv")

    want = api("reference", batch_size=1)  # on an idle machine, one window per forward pass
    assert np.nanmax(np.abs(want["llr"])) > 0.01  # the variants move the likelihood: the comparison means something
    scored = ~np.isnan(want["llr"])
    assert scored.sum() >= 10

    with busy_cpus(2):
        for batch in (2, 5, None):
            same(api(f"batch{batch}", batch_size=batch), want, f"API, batch size {batch}")
        same(api("workers", workers=2), want, "API, 2 worker processes")

        parts = []
        for k in range(1, 4):
            api(f"chunk{k}", chunk=Chunk(k, 3))
            parts.append(tmp_path / f"chunk{k}" / "out.tsv")
        gather_variants(parts, out_tsv=tmp_path / "gathered.tsv")
        same(table(tmp_path / "gathered.tsv"), want, "3 chunks gathered")

        out = tmp_path / "cli.tsv"
        done = subprocess.run([str(Path(sys.executable).parent / "hyenadna"), "score-variants", "-m", str(MODEL_DIR),
                               "-f", str(fasta), "-v", str(vcf), "-w", str(W), "--batch-size", "3", "-q",
                               "--out-tsv", str(out)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        same(table(out), want, "CLI in a fresh process, batch size 3")

        out = tmp_path / "cli-workers.tsv"
        assert cli(["score-variants", "-m", str(MODEL_DIR), "-f", str(fasta), "-v", str(vcf), "-w", str(W),
                    "--workers", "2", "-q", "--out-tsv", str(out)]) == 0
        same(table(out), want, "CLI, --workers 2")

        got = kipoi_llrs(fasta, vcf, batch_size=4)
        for k in COLUMNS:
            np.testing.assert_allclose(got[k], want[k][scored], rtol=RTOL, atol=ATOL, err_msg=f"{k}, Kipoi model")


def kipoi_llrs(fasta: Path, vcf: Path, batch_size: int) -> dict[str, np.ndarray]:
    """The Kipoi variant-effect model on its dataloader, batch by batch as ``kipoi predict`` runs it; scored alleles."""
    from hyenadna_kipoi.kipoi.dataloaders import VariantDataset
    from hyenadna_kipoi.kipoi.model import HyenaDNAModel

    model = HyenaDNAModel(weights=str(MODEL_DIR), task="variant-effect", device="cpu", batch_size=batch_size)
    out: dict[str, list] = {k: [] for k in COLUMNS}
    for batch in VariantDataset(str(vcf), str(fasta), window=W).batch_iter(batch_size=batch_size):
        pred = model.predict_on_batch(batch["inputs"])
        ok = np.isin(np.asarray(batch["metadata"]["status"]), ("OK", "EDGE"))
        for k in COLUMNS:
            out[k] += list(np.asarray(pred[k])[ok])
    return {k: np.array(v) for k, v in out.items()}

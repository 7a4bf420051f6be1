"""In-silico mutagenesis (`hyenadna ism`): every substitution's LLR over a region, its tables and plot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import DATA
from hyenadna_kipoi import InputError
from hyenadna_kipoi.cli import main as cli
from hyenadna_kipoi.score import (Variant, in_silico_mutagenesis, parse_region, plot_ism, score_variants,
                                  write_ism_npz, write_ism_tsv)
from test_variants import model, plain_model, rule_llr  # noqa: F401 (fixtures; genome_text and fasta come from conftest)

W = 64


def test_every_substitution_is_its_snv_score(model, plain_model, fasta, genome_text):
    result = in_silico_mutagenesis(model, fasta, "chr2:239-246", window=W, progress=False)
    ref = genome_text["chr2"][238:246]
    assert result.ref == ref and result.llr.shape == (8, 4) and list(result.positions) == list(range(239, 247))
    assert [np.flatnonzero(np.isnan(row)).tolist() for row in result.llr] == [["ACGT".index(b.upper())] for b in ref]
    snvs = [Variant("chr2", 239 + k, b, tuple(x for x in "ACGT" if x != b.upper())) for k, b in enumerate(ref)]
    rows = score_variants(model, fasta, snvs, window=W, progress=False)
    for r in rows:
        assert result.llr[r.pos - 239, "ACGT".index(r.alt)] == pytest.approx(r.llr, abs=1e-6)
    for pos, alt in [(239, "T"), (244, "A")]:
        expected = rule_llr(plain_model, genome_text, "chr2", pos, ref[pos - 239], alt, W)
        k = "ACGT".index(alt)
        got = [scores[pos - 239, k] for scores in (result.llr, result.llr_fwd, result.llr_rc)]
        np.testing.assert_allclose(got, expected, atol=2e-4)
    np.testing.assert_allclose(result.importance, -np.nanmean(result.llr, axis=1))


def test_outputs(model, fasta, tmp_path):
    result = in_silico_mutagenesis(model, fasta, "chr1:1,001-1,012", window=W, progress=False)
    table = pd.read_csv(write_ism_tsv(result, tmp_path / "ism.tsv"), sep="\t")
    assert len(table) == 36 and set(table["status"]) == {"OK"}
    np.testing.assert_allclose(np.sort(table["llr"]), np.sort(result.llr[~np.isnan(result.llr)]), atol=1e-6)
    z = np.load(write_ism_npz(result, tmp_path / "ism.npz"))
    assert str(z["chrom"]) == "chr1" and str(z["bases"]) == "ACGT" and int(z["window"]) == W
    np.testing.assert_array_equal(z["llr"], result.llr)
    png = plot_ism(result, tmp_path / "ism.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.pyplot as plt

    assert plt.imread(png).shape[0] > 200


def test_near_the_contig_start_is_edge(model, fasta):
    result = in_silico_mutagenesis(model, fasta, "chr1:1-3", window=W, progress=False)
    assert {r.status for r in result.rows} == {"EDGE"} and np.isfinite(result.llr).sum() == 9


@pytest.mark.parametrize("region, message", [
    ("chr1:10-5", "need 1 <= start <= end"), ("chr1-10", "not of the form chrom:start-end"),
    ("chr9:1-10", "contig 'chr9' is not in"), ("chr1:29990-30010", "ends past the end of chr1 \\(30,000 bases\\)"),
])
def test_bad_regions(model, fasta, region, message):
    with pytest.raises(InputError, match=message):
        in_silico_mutagenesis(model, fasta, region, window=W, progress=False)


def test_parse_region():
    assert parse_region("chrX:1,001-1,100") == ("chrX", 1001, 1100)
    assert parse_region(" 1:5-5 ") == ("1", 5, 5)


def test_cli_ism(fasta, tmp_path, capsys):
    model_dir = str(DATA / "fixtures" / "parity-a" / "original")
    assert cli(["ism", "-m", model_dir, "-f", str(fasta), "-r", "1:2001-2010", "-w", str(W), "--out-npz",
                str(tmp_path / "ism.npz"), "--plot", str(tmp_path / "ism.png"), "-q"]) == 0
    out = capsys.readouterr().out
    assert "scored 30 substitutions at 10 positions of 1:2001-2010 (W=64)" in out
    assert (tmp_path / "ism.png").exists() and np.load(tmp_path / "ism.npz")["llr"].shape == (10, 4)
    assert cli(["ism", "-m", model_dir, "-f", str(fasta), "-r", "1:2001-2010", "-q"]) == 2
    assert "give at least one of --out-tsv, --out-npz, --plot" in capsys.readouterr().err

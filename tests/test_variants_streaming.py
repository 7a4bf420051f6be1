"""Streaming `hyenadna score-variants`: chunks of records give the same outputs, errors deep in a big VCF
name their line and leave nothing behind, and memory does not grow with the number of records.

The rows of chunked runs are compared with one unchunked run and with the rule computed from
scratch (``test_variants.rule_llr``); memory is measured with tracemalloc (allocated bytes,
not time), so the test does not depend on the machine being idle.
"""

from __future__ import annotations

import gc
import gzip
import io
import random
import re
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest

from conftest import DATA
from hyenadna_kipoi import InputError, load_model
from hyenadna_kipoi.cli import main as cli
from hyenadna_kipoi.score import score_vcf
from hyenadna_kipoi.score.commands import DEFAULT_CHUNK_SIZE as CLI_DEFAULT
from hyenadna_kipoi.score.variants import DEFAULT_CHUNK_SIZE
from test_variants import HEADER, ATOL, W, build_records, other, rule_llr, write_vcf

MODEL_DIR = DATA / "fixtures" / "parity-a" / "original"


@pytest.fixture(scope="module")
def model():
    return load_model(MODEL_DIR)


def text_of(path: Path) -> str:
    return (gzip.open(path, "rt") if path.name.endswith(".gz") else open(path)).read()


NUMBER = re.compile(r"(?<=HYENADNA_LLR=)[^;\t]+")
SCORES = ["llr", "llr_fwd", "llr_rc"]


def assert_same_outputs(tsv: str, text: str, tsv_other: str, text_other: str) -> None:
    """The same TSV and annotated VCF, byte for byte apart from the scores' last digits (batches differ)."""
    a, b = (pd.read_csv(io.StringIO(t), sep="\t", keep_default_na=False, na_values=["NA"]) for t in (tsv, tsv_other))
    pd.testing.assert_frame_equal(a.drop(columns=SCORES), b.drop(columns=SCORES))
    np.testing.assert_allclose(b[SCORES], a[SCORES], atol=1e-5)
    assert NUMBER.sub("x", text_other) == NUMBER.sub("x", text)
    values = [[float(v) if v != "." else np.nan for v in m.split(",")] for m in NUMBER.findall(text)]
    values_other = [[float(v) if v != "." else np.nan for v in m.split(",")] for m in NUMBER.findall(text_other)]
    assert values and [len(v) for v in values] == [len(v) for v in values_other]
    np.testing.assert_allclose(sum(values_other, []), sum(values, []), rtol=1e-4, atol=1e-5)


def run(model, fasta, vcf, out: Path, chunk_size: int, **kwargs):
    out.mkdir()
    result = score_vcf(model, fasta, vcf, out_tsv=out / "out.tsv", out_vcf=out / "out.vcf.gz", window=W,
                       progress=False, chunk_size=chunk_size, **kwargs)
    return result, (out / "out.tsv").read_text(), text_of(out / "out.vcf.gz")


@pytest.mark.parametrize("chunk_size", [1, 4])
def test_chunks_give_the_rows_and_files_of_one_pass(model, fasta, genome_text, tmp_path, chunk_size):
    vcf = write_vcf(tmp_path / "test.vcf", build_records(genome_text))
    whole, tsv, text = run(model, fasta, vcf, tmp_path / "whole", 10_000)
    chunked, tsv_c, text_c = run(model, fasta, vcf, tmp_path / "chunked", chunk_size)
    assert_same_outputs(tsv, text, tsv_c, text_c)
    assert chunked.counts == whole.counts and chunked.summary().split(" in ")[0] == whole.summary().split(" in ")[0]
    assert chunked.chunks == -(-15 // chunk_size) and whole.chunks == 1
    assert chunked.vcf_index is not None and chunked.vcf_index.exists()  # sorted input: still indexed
    if chunk_size > 1:
        return  # the rule, computed from scratch, once (for one record per chunk)
    plain = load_model(MODEL_DIR)
    plain.fast_path = False
    for r in chunked.rows:
        if r.status in ("OK", "EDGE"):
            expected = rule_llr(plain, genome_text, {"2": "chr2"}.get(r.chrom, r.chrom), r.pos, r.ref, r.alt, W)
            np.testing.assert_allclose([r.llr, r.llr_fwd, r.llr_rc], expected, atol=ATOL, err_msg=r.id)


def test_unsorted_input_streams_to_the_same_rows_without_index(model, fasta, genome_text, tmp_path):
    records = build_records(genome_text)
    random.Random(0).shuffle(records)
    vcf = write_vcf(tmp_path / "shuffled.vcf", records)
    whole, tsv, text = run(model, fasta, vcf, tmp_path / "whole", 10_000)
    chunked, tsv_c, text_c = run(model, fasta, vcf, tmp_path / "chunked", 3)
    assert_same_outputs(tsv, text, tsv_c, text_c)
    assert [r.id for r in chunked.rows] == [r[2] for r in records for _ in r[4].split(",")]  # input order
    assert chunked.vcf_index is None and not (tmp_path / "chunked" / "out.vcf.gz.tbi").exists()


def test_contig_blocks_that_come_back_are_unsorted(model, fasta, genome_text, tmp_path):
    c1, c2 = genome_text["chr1"], genome_text["chr2"]
    records = [("chr1", 1000, "a", c1[999], other(c1[999]), "OK"),
               ("chr2", 1000, "b", c2[999], other(c2[999]), "OK"),
               ("chr1", 2000, "c", c1[1999], other(c1[1999]), "OK")]  # positions rise, but chr1 comes back
    result, _, _ = run(model, fasta, write_vcf(tmp_path / "blocks.vcf", records), tmp_path / "out", 1)
    assert result.vcf_index is None and [r.status for r in result.rows] == ["OK"] * 3


@pytest.mark.slow
def test_sharded_chunks_give_the_same_rows(model, fasta, genome_text, tmp_path):
    vcf = write_vcf(tmp_path / "test.vcf", build_records(genome_text))
    _, tsv, text = run(model, fasta, vcf, tmp_path / "alone", 10_000)
    sharded, tsv_s, text_s = run(model, fasta, vcf, tmp_path / "sharded", 4, workers=2, keep_rows=False)
    assert sharded.rows == [] and sharded.chunks == 4
    assert_same_outputs(tsv, text, tsv_s, text_s)


# --------------------------------------------------------------------------- big VCFs


def cheap_vcf(path: Path, genome_text: dict[str, str], n: int, bad_line_at: int | None = None,
              scored_every: int = 10_000) -> Path:
    """``n`` records, most of which the model never sees (UNKNOWN_CONTIG, SKIPPED_SYMBOLIC,
    REF_MISMATCH), plus a scored SNV every ``scored_every`` records; a malformed record replaces record
    number ``bad_line_at`` (1-based) when given."""
    c1 = genome_text["chr1"]
    kinds = [
        lambda k: f"chrUn_{k % 7}\t{k + 1}\tu{k}\tA\tC\t.\tPASS\tDP=3",
        lambda k: f"chr1\t{1000 + k % 28_000}\ts{k}\t{c1[999 + k % 28_000]}\t<DEL>\t.\tPASS\t.",
        lambda k: f"chr1\t{1000 + k % 28_000}\tm{k}\t{other(c1[999 + k % 28_000])}\tT\t50\tq10\t.",
    ]
    with open(path, "w") as out:
        out.write(HEADER.replace("\tFORMAT\tS1\tS2", ""))
        for k in range(n):
            if bad_line_at is not None and k + 1 == bad_line_at:
                out.write("chr1\tnotapos\t.\tA\tT\t.\t.\t.\n")
            elif k % scored_every == 5:
                pos = 2000 + k // scored_every * 100
                out.write(f"chr1\t{pos}\tok{k}\t{c1[pos - 1]}\t{other(c1[pos - 1])}\t.\tPASS\t.\n")
            else:
                out.write(kinds[k % 3](k) + "\n")
    return path


def test_a_bad_line_deep_in_a_big_vcf_is_named_and_leaves_no_output(model, fasta, genome_text, tmp_path):
    n, bad = 50_000, 49_990
    vcf = cheap_vcf(tmp_path / "big.vcf", genome_text, n, bad_line_at=bad)
    line = HEADER.count("\n") + bad
    assert vcf.read_text().splitlines()[line - 1].startswith("chr1\tnotapos")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InputError, match=rf"big\.vcf, line {line}: malformed VCF record: POS 'notapos'"):
        score_vcf(model, fasta, vcf, out_tsv=out / "big.tsv", out_vcf=out / "big.vcf.gz", window=W, chunk_size=1000,
                  progress=False)
    assert list(out.iterdir()) == []  # 49 chunks were written to temporary files: all removed
    code = cli(["score-variants", "-m", str(MODEL_DIR), "-f", str(fasta), "-v", str(vcf), "--window", str(W),
                "--chunk-size", "1000", "--out-tsv", str(out / "big.tsv"), "-q"])
    assert code == 2 and list(out.iterdir()) == []


def traced_peak(model, fasta, vcf: Path, out: Path, chunk_size: int) -> tuple[int, object]:
    """tracemalloc's peak of Python allocations while the CLI's path (keep_rows=False) scores ``vcf``."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = score_vcf(model, fasta, vcf, out_tsv=out.with_suffix(".tsv"), out_vcf=out.with_suffix(".vcf.gz"),
                           window=W, chunk_size=chunk_size, keep_rows=False, progress=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, result


@pytest.mark.slow
def test_memory_does_not_grow_with_the_number_of_records(model, fasta, genome_text, tmp_path):
    small = cheap_vcf(tmp_path / "small.vcf", genome_text, 10_000, scored_every=25_000)
    big = cheap_vcf(tmp_path / "big.vcf", genome_text, 100_000, scored_every=25_000)
    score_vcf(model, fasta, small, out_tsv=tmp_path / "warm.tsv", window=W, chunk_size=500, progress=False)  # lazy inits
    peak_small, r_small = traced_peak(model, fasta, small, tmp_path / "small_out", 500)
    peak_big, r_big = traced_peak(model, fasta, big, tmp_path / "big_out", 500)
    print(f"tracemalloc peak: {peak_small / 2**20:.2f} MiB for 10,000 records, {peak_big / 2**20:.2f} MiB for "
          f"100,000 (chunks of 500)")
    assert r_small.n_records == 10_000 and r_small.counts["OK"] == 1
    assert r_big.n_records == 100_000 and r_big.rows == [] and r_big.n_alleles == 100_000
    assert r_big.counts["OK"] == 4 and r_big.counts["UNKNOWN_CONTIG"] > 30_000 and r_big.chunks == 200
    assert sum(1 for _ in open(tmp_path / "big_out.tsv")) == 100_001
    assert r_big.vcf_index is None  # chrUn_k records interleave: unsorted
    assert peak_big <= 1.2 * peak_small + (1 << 20), (peak_small, peak_big)
    # 10x the records, the same peak: one chunk is held (holding all 100,000 records and rows would be > 30 MB)
    assert peak_big < 8 * 2**20


def test_cli_chunk_size(fasta, genome_text, tmp_path, capsys):
    vcf = write_vcf(tmp_path / "test.vcf", build_records(genome_text))
    base = ["score-variants", "-m", str(MODEL_DIR), "-f", str(fasta), "-v", str(vcf), "--window", str(W), "-q"]
    assert cli(base + ["--chunk-size", "4", "--out-tsv", str(tmp_path / "a.tsv"),
                       "--out-vcf", str(tmp_path / "a.vcf.gz")]) == 0
    printed = capsys.readouterr().out
    assert "18 alleles of 15 records (W=256)" in printed and (tmp_path / "a.vcf.gz.tbi").exists()
    assert len(pd.read_csv(tmp_path / "a.tsv", sep="\t")) == 18
    assert cli(base + ["--chunk-size", "0", "--out-tsv", str(tmp_path / "b.tsv")]) == 2
    assert "--chunk-size must be at least 1" in capsys.readouterr().err and not (tmp_path / "b.tsv").exists()
    assert CLI_DEFAULT == DEFAULT_CHUNK_SIZE
    with pytest.raises(SystemExit):
        cli(["score-variants", "--help"])
    help_text = capsys.readouterr().out
    assert "--chunk-size N" in help_text and "streamed" in help_text and "Unsorted input" in help_text
    assert "records read, scored and written at a time" in " ".join(help_text.split())
    assert pysam.VariantFile(str(tmp_path / "a.vcf.gz")).header.info["HYENADNA_LLR"].number == "A"

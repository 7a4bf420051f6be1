"""Scoring ALT windows from their first differing base (score/shared_prefix.py) gives the rule's LLRs.

The expected LLRs come from the rule written out here: whole windows, both strands, the plain
(reference) model path, float64 log-softmax. The shared-prefix path must match them within
1e-4 nats for SNVs, MNVs, indels and EDGE windows, on several window lengths (odd ones too),
and it must actually run fewer rows than whole windows.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import DATA
from hyenadna_kipoi import fast_path, load_model
from hyenadna_kipoi.data import Genome
from hyenadna_kipoi.score import variant_windows, window_llrs
from hyenadna_kipoi.score import shared_prefix
from hyenadna_kipoi.tokenizer import encode

ATOL = 1e-4  # nats


@pytest.fixture(scope="module")
def model():
    return load_model(DATA / "fixtures" / "parity-a" / "original")


def rule_ll(model, seq: str) -> float:
    ids = torch.from_numpy(encode(seq))[None]
    model.fast_path = False
    try:
        with torch.no_grad():
            logp = torch.log_softmax(model(ids)[0, :-1].double(), dim=-1)
    finally:
        model.fast_path = True
    return float(logp.gather(-1, ids[0, 1:, None]).sum())


def revcomp(seq: str) -> str:
    return seq.upper().translate(str.maketrans("ACGTN", "TGCAN"))[::-1]


def alleles(c: str, window: int) -> list[tuple[int, str, str]]:
    """(pos, REF, ALT) of each kind of allele on contig text ``c``: SNVs, MNVs, indels, EDGE windows."""
    def other(b: str) -> str:
        return "C" if b.upper() != "C" else "G"

    p = 5_000
    return [
        (p, c[p - 1], other(c[p - 1])),  # SNV
        (p, c[p - 1], "A" if c[p - 1].upper() != "A" else "T"),  # a second ALT at the same position: REF shared
        (p + 7, c[p + 6:p + 9], other(c[p + 6]) + c[p + 7] + other(c[p + 8])),  # MNV, 3 bases
        (p + 20, c[p + 19:p + 21], other(c[p + 19]) + other(c[p + 20])),  # MNV, 2 adjacent
        (p + 40, c[p + 39:p + 45], c[p + 39]),  # deletion of 5
        (p + 60, c[p + 59], c[p + 59] + "GATTACA"),  # insertion of 7
        (p + 80, c[p + 79:p + 81], "TTTGC"),  # complex: 2 bases -> 5
        (3, c[2], other(c[2])),  # EDGE: the window starts before the contig
        (len(c) - 1, c[-2], other(c[-2])),  # EDGE: it ends after the contig
        (p + 100, c[p + 99], c[p + 99] + "ACGT" * window),  # insertion longer than the window's right half
    ]


@pytest.mark.parametrize("window", [2, 3, 64, 101, 256, 1024])
def test_shared_prefix_llrs_equal_the_rule(model, fasta, genome_text, window):
    name = next(iter(genome_text))
    genome = Genome(fasta)
    pairs = [variant_windows(genome, name, pos, ref, alt, window) for pos, ref, alt in alleles(genome_text[name], window)]
    refs, alts = [r for r, _ in pairs], [a for _, a in pairs]
    assert shared_prefix.supported(model, refs, alts)
    got = window_llrs(model, refs, alts, batch_size=3)  # batches of 3: REFs and their ALTs split over batches
    for i, (r, a) in enumerate(pairs):
        fwd = rule_ll(model, a) - rule_ll(model, r)
        rc = rule_ll(model, revcomp(a)) - rule_ll(model, revcomp(r))
        np.testing.assert_allclose([got.llr_fwd[i], got.llr_rc[i], got.llr[i]], [fwd, rc, (fwd + rc) / 2],
                                   atol=ATOL, rtol=0, err_msg=f"allele #{i}, W={window}")


def test_an_alt_window_equal_to_its_ref_scores_zero_and_duplicates_run_once(model, monkeypatch):
    seq = "ACGTTGCAAC" * 10
    snv = seq[:50] + ("A" if seq[50] != "A" else "C") + seq[51:]
    calls: list[int] = []
    real = fast_path.fast_backbone_suffix

    def counting(backbone, ids, start, known, parents, **kw):
        calls.append(ids.shape[0])
        return real(backbone, ids, start, known, parents, **kw)

    monkeypatch.setattr(fast_path, "fast_backbone_suffix", counting)
    out = shared_prefix.pair_llrs(model, [seq, seq, seq], [seq, snv, snv], batch_size=8)
    assert out[0] == 0.0 and out[1] == out[2]
    assert calls == [1]  # the SNV's ALT window once; the identical one not at all


def test_alt_windows_run_only_from_the_first_differing_row(model, monkeypatch):
    window = 200
    seq = ("ACGGT" * 40)[:window]
    snv = seq[:100] + "T" + seq[101:]
    starts: list[int] = []
    real = fast_path.fast_backbone_suffix

    def recording(backbone, ids, start, known, parents, **kw):
        starts.append(start)
        return real(backbone, ids, start, known, parents, **kw)

    monkeypatch.setattr(fast_path, "fast_backbone_suffix", recording)
    scores = window_llrs(model, [seq], [snv], batch_size=4)
    assert starts == [100, window - 101]  # forward: the SNV's row; reverse complement: its mirror
    expected = rule_ll(model, snv) - rule_ll(model, seq)
    assert abs(scores.llr_fwd[0] - expected) < ATOL


def test_dtype_option_scores_close_to_float32(model, fasta, genome_text, tmp_path):
    """score-variants --dtype bfloat16 (also through worker processes) stays near the float32 LLRs."""
    from hyenadna_kipoi.cli import main as cli

    name = next(iter(genome_text))
    c = genome_text[name]
    lines = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    lines += [f"{name}\t{pos}\t.\t{ref}\t{alt}\t.\t.\t." for pos, ref, alt in alleles(c, 64)[:7]]
    vcf = tmp_path / "v.vcf"
    vcf.write_text("\n".join(lines) + "\n")
    base = ["score-variants", "-m", str(DATA / "fixtures" / "parity-a" / "original"), "-f", str(fasta), "-v",
            str(vcf), "-w", "64", "-q"]
    tables = {}
    for dtype, extra in (("float32", []), ("bfloat16", []), ("bfloat16", ["--workers", "2"])):
        out = tmp_path / f"{dtype}{len(extra)}.tsv"
        assert cli(base + ["--dtype", dtype, "--out-tsv", str(out)] + extra) == 0
        tables[dtype, len(extra)] = np.loadtxt(out, usecols=5, skiprows=1)
    assert not np.array_equal(tables["float32", 0], tables["bfloat16", 0])
    np.testing.assert_allclose(tables["bfloat16", 0], tables["float32", 0], atol=0.1, rtol=0)
    np.testing.assert_allclose(tables["bfloat16", 2], tables["bfloat16", 0], atol=1e-5, rtol=0)

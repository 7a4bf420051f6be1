"""Variant-effect scoring (`hyenadna score-variants`): the rule, the statuses, the outputs, the errors.

The expected scores are computed here from scratch: windows cut from the FASTA text
with plain string operations and LL from the plain (reference) model path with
torch ops, so the production path (fast path, batches, regions, shared REF
windows) is checked against an independent reading of the rule.
"""

from __future__ import annotations

import gzip
import math
import shutil
from pathlib import Path

import cyvcf2
import numpy as np
import pandas as pd
import pysam
import pytest
import torch
import yaml

from conftest import DATA, REPO
from hyenadna_kipoi import HyenaConfig, HyenaDNA, InputError, load_model
from hyenadna_kipoi.cli import main as cli
from hyenadna_kipoi.data import Genome
from hyenadna_kipoi.score import (STATUSES, Variant, allele_statuses, default_window, embed_sequences, read_vcf,
                                  score_variants, score_vcf, variant_windows, window_llrs)
from hyenadna_kipoi.tokenizer import encode

W = 256  # most tests use a short window to stay fast; the default (1,024) is tested once
ATOL = 2e-4  # fast vs plain path, batched vs alone: float32 logits over W tokens (measured: 2e-5 at W = 1,024)


# --------------------------------------------------------------------------- the rule, written out independently


def rule_windows(seq: str, pos: int, ref: str, alt: str, window: int) -> tuple[str, str]:
    def base(i: int) -> str:
        return seq[i] if 0 <= i < len(seq) else "N"

    start = pos - 1 - window // 2
    ref_window = "".join(base(i) for i in range(start, start + window))
    alt_window = ref_window[:window // 2] + alt
    j = pos - 1 + len(ref)
    while len(alt_window) < window:
        alt_window += base(j)
        j += 1
    return ref_window, alt_window[:window]


def rule_ll(model: HyenaDNA, seq: str) -> float:
    ids = torch.from_numpy(encode(seq))[None]
    with torch.no_grad():
        logp = torch.log_softmax(model(ids)[0, :-1].double(), dim=-1)
    return float(logp.gather(-1, ids[0, 1:, None]).sum())


def revcomp(seq: str) -> str:
    return seq.upper().translate(str.maketrans("ACGTN", "TGCAN"))[::-1]


def rule_llr(model: HyenaDNA, genome: dict[str, str], chrom: str, pos: int, ref: str, alt: str,
             window: int) -> tuple[float, float, float]:
    r, a = rule_windows(genome[chrom], pos, ref, alt, window)
    fwd = rule_ll(model, a) - rule_ll(model, r)
    rc = rule_ll(model, revcomp(a)) - rule_ll(model, revcomp(r))
    return (fwd + rc) / 2, fwd, rc


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def model() -> HyenaDNA:
    return load_model(DATA / "fixtures" / "parity-a" / "original")


@pytest.fixture(scope="module")
def plain_model() -> HyenaDNA:
    plain = load_model(DATA / "fixtures" / "parity-a" / "original")
    plain.fast_path = False
    return plain


HEADER = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=30000>
##contig=<ID=chr2,length=30000>
##contig=<ID=2>
##contig=<ID=chr3>
##ALT=<ID=DEL,Description="Deletion">
##INFO=<ID=DP,Number=1,Type=Integer,Description="Total depth">
##INFO=<ID=DB,Number=0,Type=Flag,Description="dbSNP membership">
##FILTER=<ID=q10,Description="Quality below 10">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2
"""


def other(base: str) -> str:
    return "C" if base.upper() != "C" else "G"


def build_records(g: dict[str, str]) -> list[tuple[str, int, str, str, str, str]]:
    """(chrom, pos, id, ref, alt, expected status of each ALT, comma-separated), sorted for tabix."""
    c1, c2 = g["chr1"], g["chr2"]
    big_insert = "ACGTTGCA" * 100  # 800 bases: longer than W - W//2, so the ALT window is cut
    return [
        ("chr1", 1000, "snv1", c1[999], other(c1[999]), "OK"),
        ("chr1", 2000, "del1", c1[1999:2004], c1[1999], "OK"),
        ("chr1", 3000, "ins1", c1[2999], c1[2999] + "TTAGC", "OK"),
        ("chr1", 4000, "multi", c1[3999:4002],
         ",".join([c1[3999], c1[3999:4002] + "AC", other(c1[3999]) + c1[4000:4002], "*"]), "OK,OK,OK,SKIPPED_SYMBOLIC"),
        ("chr1", 5000, "mismatch", other(c1[4999]), "T", "REF_MISMATCH"),
        ("chr1", 6000, "sym", c1[5999], "<DEL>", "SKIPPED_SYMBOLIC"),
        ("chr1", 9000, "noalt", c1[8999], ".", "SKIPPED_SYMBOLIC"),
        ("chr1", 29_950, "nearend", c1[29_949:29_952], c1[29_949], "EDGE"),
        ("chr2", 5, "nearstart", c2[4], other(c2[4]), "EDGE"),
        ("chr2", 241, "lowercase", c2[240:243].upper(), other(c2[240]), "OK"),  # soft-masked in the FASTA
        ("chr2", 8000, "bnd", c2[7999], c2[7999] + "]chr1:100]", "SKIPPED_SYMBOLIC"),
        ("chr2", 10_000, "bigins", c2[9999], c2[9999] + big_insert, "OK"),
        ("chr2", 12_000, "bigdel", c2[11_999:13_499], c2[11_999], "OK"),  # REF longer than the window
        ("2", 7000, "alias", c2[6999], other(c2[6999]), "OK"),
        ("chr3", 100, "unknown", "A", "C", "UNKNOWN_CONTIG"),
    ]


def write_vcf(path: Path, records) -> Path:
    lines = [HEADER]
    for k, (chrom, pos, vid, ref, alt, _) in enumerate(records):
        info = f"DP={10 + k};DB" if k % 2 else "."
        lines.append(f"{chrom}\t{pos}\t{vid}\t{ref}\t{alt}\t{30 + k}\t{'PASS' if k % 3 else 'q10'}\t{info}\t"
                     f"GT:DP\t0/1:{k}\t1|1:.\n")
    path.write_text("".join(lines))
    return path


@pytest.fixture
def vcf(tmp_path, genome_text) -> Path:
    return write_vcf(tmp_path / "test.vcf", build_records(genome_text))


def expected_rows(genome_text) -> list[tuple[str, str, str]]:
    """(id, alt, status) of every output row, in order."""
    rows = []
    for _, _, vid, _, alts, statuses in build_records(genome_text):
        rows += list(zip([vid] * 9, alts.split(","), statuses.split(",")))
    return rows


# --------------------------------------------------------------------------- the rule


def test_every_row_has_its_status_and_the_direct_llr(model, plain_model, genome_text, fasta, vcf, tmp_path):
    result = score_vcf(model, fasta, vcf, out_tsv=tmp_path / "out.tsv", window=W, batch_size=4, progress=False)
    table = pd.read_csv(tmp_path / "out.tsv", sep="\t", keep_default_na=False, na_values=["NA"])
    assert list(table.columns) == ["#CHROM", "POS", "ID", "REF", "ALT", "llr", "llr_fwd", "llr_rc", "status"]
    assert list(zip(table["ID"], table["ALT"], table["status"])) == expected_rows(genome_text)
    assert result.counts == {"OK": 10, "EDGE": 2, "REF_MISMATCH": 1, "UNKNOWN_CONTIG": 1, "SKIPPED_SYMBOLIC": 4}
    names = {"2": "chr2"}
    for row in table.itertuples(index=False):
        if row.status not in ("OK", "EDGE"):
            assert math.isnan(row.llr) and math.isnan(row.llr_fwd) and math.isnan(row.llr_rc)
            continue
        expected = rule_llr(plain_model, genome_text, names.get(row[0], row[0]), row.POS, row.REF, row.ALT, W)
        np.testing.assert_allclose([row.llr, row.llr_fwd, row.llr_rc], expected, atol=ATOL, err_msg=row.ID)
        assert row.llr == pytest.approx((row.llr_fwd + row.llr_rc) / 2, abs=1e-6)
    statuses = allele_statuses(Genome(fasta), read_vcf(vcf), W)  # the same statuses, without scoring
    assert [s for record in statuses for s in record] == list(table["status"])


def test_default_window_is_l_max_minus_2_and_matches_the_rule(model, plain_model, genome_text, fasta):
    assert default_window(model) == 1024
    c1 = genome_text["chr1"]
    variants = [Variant("chr1", 15_000, c1[14_999], (other(c1[14_999]), c1[14_999] + "GG")),
                Variant("chr1", 200, c1[199:203], (c1[199],))]  # its window starts before the contig
    rows = score_variants(model, fasta, variants, progress=False)
    assert [r.status for r in rows] == ["OK", "OK", "EDGE"]
    for r in rows:
        expected = rule_llr(plain_model, genome_text, r.chrom, r.pos, r.ref, r.alt, 1024)
        np.testing.assert_allclose([r.llr, r.llr_fwd, r.llr_rc], expected, atol=ATOL)


def test_windows_follow_the_rule(fasta, genome_text):
    genome = Genome(fasta)
    c1 = genome_text["chr1"]
    for pos, ref, alt, window in [(100, c1[99], "T", 11), (100, c1[99:104], c1[99], 10), (3, c1[2], "GATTACA", 9),
                                  (29_999, c1[29_998:], c1[29_998], 12), (50, c1[49], "ACGTACGTACGT", 8)]:
        got = variant_windows(genome, "chr1", pos, ref, alt, window)
        assert got == rule_windows(c1, pos, ref, alt, window)
        assert len(got[0]) == len(got[1]) == window
        assert got[0][window // 2:window // 2 + len(ref)].upper() == ref.upper()[:window - window // 2]


def test_scores_do_not_depend_on_batching_sharing_or_order(model, fasta, genome_text):
    c1 = genome_text["chr1"]
    variants = [Variant("chr1", p, c1[p - 1], tuple(b for b in "ACGT" if b != c1[p - 1].upper())) for p in
                (700, 12_000, 701, 30_000, 25_000)]
    together = score_variants(model, fasta, variants, window=W, batch_size=16, progress=False)
    alone = [r for v in variants for r in score_variants(model, fasta, [v], window=W, batch_size=1, progress=False)]
    assert [(r.pos, r.alt) for r in together] == [(r.pos, r.alt) for r in alone]
    np.testing.assert_allclose([r.llr for r in together], [r.llr for r in alone], atol=1e-4)


def test_window_llrs_api_matches_rows_and_embedding_distance(model, fasta, genome_text):
    c2 = genome_text["chr2"]
    variants = [Variant("chr2", 2000, c2[1999], (other(c2[1999]),)), Variant("chr2", 2100, c2[2099:2102], (c2[2099],))]
    rows = score_variants(model, fasta, variants, window=W, embedding_distance=True, progress=False)
    genome = Genome(fasta)
    pairs = [variant_windows(genome, r.chrom, r.pos, r.ref, r.alt, W) for r in rows]
    scores = window_llrs(model, [p[0] for p in pairs], [p[1] for p in pairs], embedding_distance=True)
    np.testing.assert_allclose(scores.llr, [r.llr for r in rows], atol=1e-5)
    emb = embed_sequences(model, [s for p in pairs for s in p], progress=False).astype(np.float64)
    cos = [1 - emb[2 * i] @ emb[2 * i + 1] / np.linalg.norm(emb[2 * i]) / np.linalg.norm(emb[2 * i + 1])
           for i in range(len(pairs))]
    np.testing.assert_allclose([r.embedding_distance for r in rows], cos, atol=1e-6)
    assert all(r.embedding_distance > 0 for r in rows)


def test_window_must_fit_the_model(model, fasta):
    with pytest.raises(InputError, match="--window must lie in 2..1026"):
        score_variants(model, fasta, [Variant("chr1", 100, "A", ("C",))], window=2048, progress=False)


# --------------------------------------------------------------------------- outputs


def records_of(path: Path) -> list[tuple]:
    """Every field of every record as cyvcf2 reads it, minus this package's INFO keys."""
    out = []
    for v in cyvcf2.VCF(str(path)):
        info = {k: v.INFO.get(k) for k, _ in v.INFO if not k.startswith("HYENADNA")}
        out.append((v.CHROM, v.POS, v.ID, v.REF, v.ALT, v.QUAL, v.FILTER, info, str(v).split("\t")[8:]))
    return out


@pytest.mark.parametrize("name", ["annotated.vcf", "annotated.vcf.gz"])
def test_annotated_vcf_keeps_every_record_and_field(model, fasta, vcf, tmp_path, name):
    out = tmp_path / name
    result = score_vcf(model, fasta, vcf, out_vcf=out, window=W, progress=False)
    assert records_of(out) == records_of(vcf)
    header = cyvcf2.VCF(str(out)).get_header_type("HYENADNA_LLR")
    assert header["Number"] == "A" and header["Type"] == "Float"
    rows = iter(result.rows)
    for rec in pysam.VariantFile(str(out)):
        mine = [next(rows) for _ in range(max(len(rec.alts or ()), 1))]
        if any(r.status in ("OK", "EDGE") for r in mine):
            got = rec.info["HYENADNA_LLR"]
            assert [g is None for g in got] == [r.status not in ("OK", "EDGE") for r in mine]
            np.testing.assert_allclose([g for g in got if g is not None],
                                       [r.llr for r in mine if r.status in ("OK", "EDGE")], rtol=1e-5, atol=1e-5)
        else:
            assert "HYENADNA_LLR" not in rec.info
    # byte for byte, apart from the added header line and INFO values
    original = vcf.read_text().splitlines()
    text = (gzip.open(out, "rt") if name.endswith(".gz") else open(out)).read().splitlines()
    assert [line.split("\t")[:7] + line.split("\t")[8:] for line in text if not line.startswith("#")] == \
           [line.split("\t")[:7] + line.split("\t")[8:] for line in original if not line.startswith("#")]
    if name.endswith(".gz"):
        assert result.vcf_index == Path(str(out) + ".tbi") and result.vcf_index.exists()
        fetched = list(pysam.VariantFile(str(out)).fetch("chr1", 3990, 4010))
        assert [r.id for r in fetched] == ["multi"]


def test_bcf_and_bgzip_inputs_give_the_same_rows(model, fasta, vcf, tmp_path):
    bcf = tmp_path / "test.bcf"
    src = cyvcf2.VCF(str(vcf))
    dst = cyvcf2.Writer(str(bcf), src, mode="wb")  # pysam writes a bad BCF record for <DEL> here
    for rec in src:
        dst.write_record(rec)
    dst.close()
    gz = Path(pysam.tabix_index(str(shutil.copy(vcf, tmp_path / "copy.vcf")), preset="vcf", force=True))
    runs = [score_vcf(model, fasta, path, window=W, progress=False, out_vcf=tmp_path / f"out{k}.vcf")
            for k, path in enumerate([vcf, bcf, gz])]
    first = [(r.id, r.alt, r.status, r.llr) for r in runs[0].rows]
    for run in runs[1:]:
        assert [(r.id, r.alt, r.status, r.llr) for r in run.rows] == first
    assert records_of(tmp_path / "out1.vcf") == records_of(vcf)
    assert read_vcf(bcf)[3].where == "record 4" and read_vcf(vcf)[3].where == "line 16"


def test_unsorted_vcf_gz_is_written_without_index(model, fasta, genome_text, tmp_path):
    records = build_records(genome_text)
    path = write_vcf(tmp_path / "unsorted.vcf", [records[2], records[0]])
    result = score_vcf(model, fasta, path, out_vcf=tmp_path / "out.vcf.gz", window=W, progress=False)
    assert result.vcf_index is None and not (tmp_path / "out.vcf.gz.tbi").exists()
    assert len(records_of(tmp_path / "out.vcf.gz")) == 2


@pytest.mark.parametrize("name", ["vcf42_spec_example.vcf", "formatmissing.vcf"])
def test_real_vcfs(model, fasta, tmp_path, name):
    out = tmp_path / "out.vcf"
    result = score_vcf(model, fasta, DATA / "vcf" / name, out_tsv=tmp_path / "out.tsv", out_vcf=out, window=W,
                       progress=False)
    records = read_vcf(DATA / "vcf" / name)
    assert len(result.rows) == sum(max(len(r.alts), 1) for r in records)
    assert records_of(out) == records_of(DATA / "vcf" / name)
    statuses = [(r.id, r.alt, r.status) for r in result.rows]
    if name.startswith("vcf42"):  # chr2 is 30 kb here: the records at 1.1 Mb cannot match; 'M' is not a base
        assert statuses == [
            (".", ".", "REF_MISMATCH"), ("rs6040355", "G", "REF_MISMATCH"), ("rs6040355", "T", "REF_MISMATCH"),
            ("microsat1", "G", "REF_MISMATCH"), ("microsat1", "GTACT", "REF_MISMATCH"), ("firstbase", "T", "EDGE"),
            ("refmismatch", "C", "REF_MISMATCH"), ("wrongbase", "T", "REF_MISMATCH"), ("rs6054258", "T", "EDGE"),
            ("rs6054259", "C", "EDGE"), ("rs6054253", "G", "OK"), ("rs6054254", "A", "OK")]
    else:  # contig 1 is chr1 here, whose base 100 is not the record's A
        assert statuses == [("a", "T", "REF_MISMATCH")]


# --------------------------------------------------------------------------- errors


def assert_no_outputs(folder: Path, *names: str) -> None:
    left = [p.name for p in folder.iterdir() if p.name.startswith(".") or p.name in names]
    assert left == [], f"partial outputs left behind: {left}"


@pytest.mark.parametrize("line, message", [
    ("chr1\t200\t.\tA\n", r"test\.vcf, line {n}: malformed VCF record: 4 tab-separated column\(s\)"),
    ("chr1\tabc\t.\tA\tT\t.\t.\t.\n", r"line {n}: malformed VCF record: POS 'abc'"),
    ("chr1\t200\t.\tA\tX\t.\t.\t.\n", r"line {n} \(chr1:200\): ALT allele 'X' is neither"),
    ("chr1 200 . A T . . .\n", r"line {n}: malformed VCF record: 1 tab-separated column"),
])
def test_malformed_lines_name_the_line(model, fasta, tmp_path, line, message):
    path = tmp_path / "test.vcf"
    path.write_text(HEADER + "chr1\t100\t.\tA\tT\t.\t.\t.\tGT\t0/1\t0/0\n" + line)
    with pytest.raises(InputError, match=message.format(n=HEADER.count("\n") + 2)):
        score_vcf(model, fasta, path, out_tsv=tmp_path / "out.tsv", out_vcf=tmp_path / "out.vcf", progress=False)
    assert_no_outputs(tmp_path, "out.tsv", "out.vcf")


def test_truncated_bgzip_vcf(model, fasta, vcf, tmp_path):
    gz = Path(pysam.tabix_index(str(vcf), preset="vcf", force=True))
    data = gz.read_bytes()
    gz.write_bytes(data[:len(data) * 2 // 3])
    with pytest.raises(InputError, match="test.vcf.gz"):
        score_vcf(model, fasta, gz, out_tsv=tmp_path / "out.tsv", progress=False)
    assert_no_outputs(tmp_path, "out.tsv")


def test_contigs_all_missing_from_the_fasta(model, fasta, tmp_path):
    with pytest.raises(InputError, match=r"none of the variants' contigs \(3\) is in .*genome build"):
        score_vcf(model, fasta, DATA / "vcf" / "noroundtrip.vcf", out_tsv=tmp_path / "out.tsv", progress=False)
    assert_no_outputs(tmp_path, "out.tsv")


@pytest.mark.parametrize("content", [None, b"this is not a FASTA\x00\x01", b""])
def test_unreadable_fasta(model, vcf, tmp_path, content):
    fasta = tmp_path / "bad.fa"
    if content is not None:
        fasta.write_bytes(content)
    with pytest.raises(InputError, match="bad.fa"):
        score_vcf(model, fasta, vcf, out_tsv=tmp_path / "out.tsv", progress=False)
    assert_no_outputs(tmp_path, "out.tsv")


def test_header_only_and_minimal_vcfs(model, fasta, genome_text, tmp_path):
    (tmp_path / "empty.vcf").write_text(HEADER)
    result = score_vcf(model, fasta, tmp_path / "empty.vcf", out_tsv=tmp_path / "e.tsv", out_vcf=tmp_path / "e.vcf",
                       progress=False)
    assert result.rows == [] and (tmp_path / "e.tsv").read_text().startswith("#CHROM\tPOS")
    assert (tmp_path / "e.vcf").read_text().count("\n") == HEADER.count("\n") + 1  # + the INFO header line
    c1 = genome_text["chr1"]  # no ##fileformat line, no INFO header lines, Windows line ends
    (tmp_path / "min.vcf").write_text(f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\r\n"
                                      f"chr1\t500\t.\t{c1[499]}\t{other(c1[499])}\t.\t.\t.\r\n")
    rows = score_vcf(model, fasta, tmp_path / "min.vcf", out_vcf=tmp_path / "min.out.vcf", window=W,
                     progress=False).rows
    assert [r.status for r in rows] == ["OK"]
    assert f"HYENADNA_LLR={rows[0].llr:.6g}" in (tmp_path / "min.out.vcf").read_text()


def test_not_a_vcf_and_bad_output_name(model, fasta, vcf, tmp_path):
    (tmp_path / "junk.vcf").write_text("hello\tworld\n")
    with pytest.raises(InputError, match=r"junk.vcf: not a VCF file \(line 1 is 'hello\\tworld'\)"):
        score_vcf(model, fasta, tmp_path / "junk.vcf", out_tsv=tmp_path / "out.tsv", progress=False)
    with pytest.raises(InputError, match="no such VCF file"):
        score_vcf(model, fasta, tmp_path / "missing.vcf", out_tsv=tmp_path / "out.tsv", progress=False)
    with pytest.raises(InputError, match="must end in .vcf or .vcf.gz"):
        score_vcf(model, fasta, vcf, out_vcf=tmp_path / "out.bcf", progress=False)


# --------------------------------------------------------------------------- CLI


def test_cli_score_variants(fasta, vcf, tmp_path, capsys):
    model_dir = str(DATA / "fixtures" / "parity-a" / "original")
    out = tmp_path / "out.vcf.gz"
    assert cli(["score-variants", "-m", model_dir, "-f", str(fasta), "-v", str(vcf), "--window", str(W),
                "--out-tsv", str(tmp_path / "out.tsv"), "--out-vcf", str(out), "--embedding-distance", "-q"]) == 0
    printed = capsys.readouterr().out
    assert "18 alleles of 15 records (W=256)" in printed
    assert "OK 10, EDGE 2, REF_MISMATCH 1, UNKNOWN_CONTIG 1, SKIPPED_SYMBOLIC 4" in printed
    table = pd.read_csv(tmp_path / "out.tsv", sep="\t")
    assert table.columns[-1] == "embedding_distance" and len(table) == 18
    assert (tmp_path / "out.vcf.gz.tbi").exists()
    assert cli(["score-variants", "-m", model_dir, "-f", str(fasta), "-v", str(DATA / "vcf" / "noroundtrip.vcf"),
                "--out-tsv", str(tmp_path / "x.tsv"), "-q"]) == 2
    assert "hyenadna score-variants: error: none of the variants' contigs" in capsys.readouterr().err


def test_statuses_are_the_documented_ones():
    """README's `status` column and the Kipoi variant dataloader's `status` doc name every status, in order."""
    import re

    readme = (REPO / "README.md").read_text()
    column = readme[readme.index("`status` is `OK`"):]
    column = column[:column.index(". The annotated VCF")]
    dataloader = yaml.safe_load((REPO / "hyenadna_kipoi" / "zoo" / "HyenaDNA" / "dataloaders" / "variants.yaml")
                                .read_text())["output_schema"]["metadata"]["status"]["doc"]
    for doc in (column, dataloader):
        where = [re.search(rf"\b{status}\b", doc) for status in STATUSES]
        assert all(where) and [m.start() for m in where] == sorted(m.start() for m in where), doc
        assert set(re.findall(r"\b[A-Z]+_[A-Z_]+\b", doc)) <= set(STATUSES), doc  # and no other status


@pytest.mark.slow
def test_sharded_over_processes_gives_the_same_rows(model, fasta, genome_text):
    c1 = genome_text["chr1"]
    variants = [Variant("chr1", p, c1[p - 1], (other(c1[p - 1]),)) for p in range(500, 29_000, 1500)]
    alone = score_variants(model, fasta, variants, window=W, progress=False)
    sharded = score_variants(model, fasta, variants, window=W, workers=2, progress=False)
    assert [(r.pos, r.status) for r in sharded] == [(r.pos, r.status) for r in alone]
    np.testing.assert_allclose([r.llr for r in sharded], [r.llr for r in alone], atol=1e-5)


def test_tiny_random_model_saved_and_reloaded(tmp_path, fasta, genome_text):
    from hyenadna_kipoi import save_model

    torch.manual_seed(0)
    save_model(HyenaDNA(HyenaConfig(d_model=32, n_layer=1, max_seq_len=130)), tmp_path / "tiny")
    tiny = load_model(tmp_path / "tiny")
    c1 = genome_text["chr1"]
    rows = score_variants(tiny, fasta, [Variant("chr1", 1234, c1[1233], (other(c1[1233]),))], progress=False)
    tiny.fast_path = False
    expected = rule_llr(tiny, genome_text, "chr1", 1234, c1[1233], other(c1[1233]), 128)
    np.testing.assert_allclose([rows[0].llr, rows[0].llr_fwd, rows[0].llr_rc], expected, atol=ATOL)

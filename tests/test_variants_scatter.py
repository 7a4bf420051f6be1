"""Slices of one VCF (`score-variants --chunk K/N`, `--regions`) and their merge (`hyenadna gather-variants`):
a slice's outputs are the matching rows and lines of the whole run, N chunks gathered are the whole run's
files byte for byte (TSV, bgzipped VCF, tabix index), a missing chunk leaves no merged output, and the
workflow scatters a VCF over N jobs whose killed member reruns alone."""

from __future__ import annotations

import gzip
import re
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import DATA
from hyenadna_kipoi import InputError, load_model
from hyenadna_kipoi.cli import main as cli
from hyenadna_kipoi.score import score_vcf
from hyenadna_kipoi.score.gather import gather_variants
from hyenadna_kipoi.score.slices import Chunk, parse_chunk, parse_regions
from hyenadna_kipoi.score.vcf_io import count_records, has_tabix_index
from test_variants import build_records, write_vcf

MODEL_DIR = DATA / "fixtures" / "parity-a" / "original"
W = 64  # short windows: these tests are about which rows go where, not the scores (test_variants checks those)


@pytest.fixture(scope="module")
def model():
    return load_model(MODEL_DIR)


def scatter_records(g: dict[str, str]) -> list[tuple]:
    """``build_records`` (multi-allelic, symbolic, REF mismatch, EDGE, unknown contig, ...) plus three records
    at the POS of the record before them (one multi-allelic), still sorted, so outputs are tabix-indexed."""
    c1 = g["chr1"]
    base = c1[999].upper(), c1[2999].upper()
    snv = [b for b in "ACGT" if b != base[0]]
    alts = [b for b in "ACGT" if b != base[1]]
    same = {"snv1": [("chr1", 1000, "same1", base[0], snv[0], "OK"), ("chr1", 1000, "same2", c1[999:1001], base[0], "OK")],
            "ins1": [("chr1", 3000, "same3", base[1], f"{alts[0]},{alts[1]}", "OK,OK")]}
    records: list[tuple] = []
    for record in build_records(g):
        records += [record] + same.get(record[2], [])
    return records


@pytest.fixture(scope="module")
def vcf(tmp_path_factory, genome_text) -> Path:
    return write_vcf(tmp_path_factory.mktemp("scatter") / "calls.vcf", scatter_records(genome_text))


@pytest.fixture(scope="module")
def whole(model, vcf, tmp_path_factory, genome_text):
    """The unscattered run of ``vcf``: (its VcfScores, the folder with out.tsv, out.vcf.gz, out.vcf.gz.tbi)."""
    from conftest import GENOME
    import shutil

    folder = tmp_path_factory.mktemp("whole")
    shutil.copy(GENOME, folder / "genome.fa")
    return score(model, folder / "genome.fa", vcf, folder / "out"), folder / "out"


# One window per forward pass: an allele's scores then cannot depend on which other alleles share its
# batch, which differs between a slice and the whole VCF (see test_default_batches_...).
BATCH = 1


def score(model, fasta, vcf: Path, out: Path, batch_size: int | None = BATCH, **kwargs):
    out.mkdir(parents=True)
    return score_vcf(model, fasta, vcf, out_tsv=out / "out.tsv", out_vcf=out / "out.vcf.gz", window=W,
                     progress=False, keep_rows=False, batch_size=batch_size, **kwargs)


def body(path: Path) -> list[str]:
    """The lines of a (gzipped) VCF after its header, or a TSV's rows."""
    text = (gzip.open(path, "rt") if path.name.endswith(".gz") else open(path)).read().splitlines()
    return [line for line in text if not line.startswith("#")]


def files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if not p.name.startswith(".")}


# --------------------------------------------------------------------------- the rule


def test_chunk_bounds_cover_every_record_once():
    for n_records in (0, 1, 5, 17, 100):
        for n in (1, 2, 3, 7, 40):
            spans = [Chunk(k, n).bounds(n_records) for k in range(1, n + 1)]
            assert spans[0][0] == 0 and spans[-1][1] == n_records
            assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))  # contiguous, disjoint
            assert max(hi - lo for lo, hi in spans) - min(hi - lo for lo, hi in spans) <= 1  # about equal
    assert parse_chunk(" 2/8 ") == Chunk(2, 8) and str(Chunk(2, 8)) == "2/8"
    for bad in ("0/3", "4/3", "2", "a/b", "1/0"):
        with pytest.raises(InputError, match="--chunk"):
            parse_chunk(bad)
    assert parse_regions("chr1:1-1,000,chr2:5,001-6,000") == (("chr1", 1, 1000), ("chr2", 5001, 6000))
    with pytest.raises(InputError, match="chrom:start-end"):
        parse_regions("chr1:5")


# --------------------------------------------------------------------------- slices and their merge


@pytest.mark.parametrize("n", [1, 2, 3, 7, 40])
def test_chunks_gathered_are_the_whole_run_byte_for_byte(model, fasta, vcf, whole, tmp_path, n):
    n_records = count_records(vcf)
    assert n_records == 18 and (n < n_records or n == 40)  # 40 > records: some slices are empty
    whole, whole_dir = whole
    assert whole.vcf_index is not None  # sorted input: the whole run's .vcf.gz is indexed
    rows, lines = body(whole_dir / "out.tsv"), body(whole_dir / "out.vcf.gz")
    tsvs, vcfs, seen = [], [], 0
    for k in range(1, n + 1):
        out = tmp_path / f"{k}-of-{n}"
        part = score(model, fasta, vcf, out, chunk=Chunk(k, n))
        lo, hi = Chunk(k, n).bounds(n_records)
        assert part.n_records == hi - lo
        assert body(out / "out.vcf.gz") == lines[lo:hi]  # exactly the matching lines of the whole run
        mine = body(out / "out.tsv")
        assert mine == rows[seen:seen + len(mine)]  # and its rows (several per multi-allelic record)
        seen += len(mine)
        tsvs.append(out / "out.tsv")
        vcfs.append(out / "out.vcf.gz")
    assert seen == len(rows)
    merged = gather_variants(tsvs, vcfs, out_tsv=tmp_path / "merged" / "out.tsv",
                             out_vcf=tmp_path / "merged" / "out.vcf.gz")
    assert files(tmp_path / "merged") == files(whole_dir)  # TSV, .vcf.gz and .tbi, byte for byte
    assert set(files(tmp_path / "merged")) == {"out.tsv", "out.vcf.gz", "out.vcf.gz.tbi"}
    assert merged.counts == whole.counts and merged.n_alleles == whole.n_alleles == 22
    assert merged.n_records == whole.n_records == 18 and merged.chunks == n
    assert merged.summary().startswith(f"22 alleles of 18 records from {n} chunks in ")


def test_default_batches_give_the_whole_runs_bytes(model, fasta, vcf, tmp_path):
    """What scatter/gather needs from scoring: an allele's scores do not depend on its batch companions."""
    score(model, fasta, vcf, tmp_path / "whole", batch_size=None)
    for k in range(1, 8):
        score(model, fasta, vcf, tmp_path / f"c{k}", batch_size=None, chunk=Chunk(k, 7))
    gather_variants([tmp_path / f"c{k}" / "out.tsv" for k in range(1, 8)], out_tsv=tmp_path / "merged.tsv")
    assert (tmp_path / "merged.tsv").read_text() == (tmp_path / "whole" / "out.tsv").read_text()


def test_regions_score_the_matching_records(model, fasta, vcf, whole, tmp_path):
    whole, whole_dir = whole
    regions = (("chr1", 1000, 3000), ("chr2", 1, 10), ("chr1", 2500, 4000))  # overlapping: records counted once
    part = score(model, fasta, vcf, tmp_path / "part", regions=regions)
    expected = [line for line in body(whole_dir / "out.vcf.gz")
                if any(line.split("\t")[0] == c and s <= int(line.split("\t")[1]) <= e for c, s, e in regions)]
    assert body(tmp_path / "part" / "out.vcf.gz") == expected and part.n_records == len(expected) == 8
    ids = {line.split("\t")[2] for line in expected}
    assert [r for r in body(whole_dir / "out.tsv") if r.split("\t")[2] in ids] == body(tmp_path / "part" / "out.tsv")
    assert part.counts["OK"] > 0 and whole.n_records == 18


def test_bcf_chunks_gather_to_the_whole_run(model, fasta, genome_text, tmp_path):
    import pysam

    plain = [r for r in scatter_records(genome_text) if r[0] in ("chr1", "chr2") and "<" not in r[4] and "]" not in r[4]
             and "*" not in r[4] and r[4] != "."]  # what htslib writes to BCF and reads back
    vcf = write_vcf(tmp_path / "calls.vcf", plain)
    bcf = tmp_path / "calls.bcf"
    with pysam.VariantFile(str(vcf)) as src, pysam.VariantFile(str(bcf), "wb", header=src.header) as dst:
        for rec in src:
            dst.write(rec)
    assert count_records(bcf) == len(plain) == 12
    score(model, fasta, bcf, tmp_path / "whole")
    for k in (1, 2, 3):
        score(model, fasta, bcf, tmp_path / f"c{k}", chunk=Chunk(k, 3))
    gather_variants([tmp_path / f"c{k}" / "out.tsv" for k in (1, 2, 3)],
                    [tmp_path / f"c{k}" / "out.vcf.gz" for k in (1, 2, 3)],
                    out_tsv=tmp_path / "merged" / "out.tsv", out_vcf=tmp_path / "merged" / "out.vcf.gz")
    assert files(tmp_path / "merged") == files(tmp_path / "whole")


def test_a_slice_on_unknown_contigs_scores_and_gather_raises_the_whole_runs_error(model, fasta, tmp_path):
    vcf = tmp_path / "elsewhere.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   "chrZ\t10\ta\tA\tC\t.\t.\t.\nchrZ\t20\tb\tA\tG\t.\t.\t.\n")
    with pytest.raises(InputError, match="none of the variants' contigs"):
        score(model, fasta, vcf, tmp_path / "whole")
    parts = [score(model, fasta, vcf, tmp_path / f"c{k}", chunk=Chunk(k, 2)) for k in (1, 2)]
    assert [p.counts["UNKNOWN_CONTIG"] for p in parts] == [1, 1]  # a slice cannot know the other slices' contigs
    with pytest.raises(InputError, match="none of the variants' contigs is in the FASTA"):
        gather_variants([tmp_path / f"c{k}" / "out.tsv" for k in (1, 2)],
                        [tmp_path / f"c{k}" / "out.vcf.gz" for k in (1, 2)],
                        out_tsv=tmp_path / "merged" / "out.tsv", out_vcf=tmp_path / "merged" / "out.vcf.gz")
    assert not (tmp_path / "merged").exists() or list((tmp_path / "merged").iterdir()) == []


def test_regions_of_an_indexed_vcf_are_read_through_the_index(model, fasta, vcf, tmp_path):
    import pysam

    bgz = tmp_path / "calls.vcf.gz"
    pysam.tabix_index(pysam.tabix_compress(str(vcf), str(bgz)) or str(bgz), preset="vcf", force=True)
    assert has_tabix_index(bgz) and not has_tabix_index(vcf)
    regions = (("chr1", 1000, 3000), ("chr2", 1, 10), ("chr1", 2500, 4000), ("chr3", 1, 5), ("chrZ", 1, 9))
    streamed = score(model, fasta, vcf, tmp_path / "streamed", regions=regions)
    indexed = score(model, fasta, bgz, tmp_path / "indexed", regions=regions)
    assert files(tmp_path / "indexed") == files(tmp_path / "streamed") and indexed.n_records == streamed.n_records == 8
    # a bad record in a region is named by its position: the index does not know line numbers
    lines = vcf.read_text().splitlines()
    bad = next(i for i, line in enumerate(lines) if "\tdel1\t" in line)
    lines[bad] = "\t".join(lines[bad].split("\t")[:3])  # cut to 3 columns
    broken = tmp_path / "broken.vcf"
    broken.write_text("\n".join(lines) + "\n")
    pysam.tabix_index(pysam.tabix_compress(str(broken), str(broken) + ".gz") or str(broken) + ".gz", preset="vcf")
    with pytest.raises(InputError, match=r"broken.vcf.gz, record at chr1:2000 \(line number unknown: read through "
                                         r"the tabix index\): malformed VCF record: 3 tab-separated column"):
        score(model, fasta, Path(str(broken) + ".gz"), tmp_path / "b", regions=(("chr1", 1500, 2500),))
    score(model, fasta, Path(str(broken) + ".gz"), tmp_path / "ok", regions=(("chr2", 1, 30_000),))  # not read


def test_chunks_of_a_tbi_indexed_vcf_are_cut_from_the_index(model, fasta, vcf, whole, tmp_path):
    import pysam

    bgz = tmp_path / "calls.vcf.gz"
    pysam.tabix_compress(str(vcf), str(bgz))
    pysam.tabix_index(str(bgz), preset="vcf")
    score(model, fasta, bgz, tmp_path / "whole")
    assert (tmp_path / "whole" / "out.tsv").read_bytes() == (whole[1] / "out.tsv").read_bytes()
    parts = [score(model, fasta, bgz, tmp_path / f"c{k}", chunk=Chunk(k, 3)) for k in (1, 2, 3)]
    assert sum(p.n_records for p in parts) == 18  # one BGZF block: the index cannot split it, one part has all
    gather_variants([tmp_path / f"c{k}" / "out.tsv" for k in (1, 2, 3)],
                    [tmp_path / f"c{k}" / "out.vcf.gz" for k in (1, 2, 3)],
                    out_tsv=tmp_path / "merged" / "out.tsv", out_vcf=tmp_path / "merged" / "out.vcf.gz")
    assert files(tmp_path / "merged") == files(tmp_path / "whole")


def test_index_bounds_split_a_big_vcf_evenly_keeping_each_pos_whole(tmp_path):
    """60,000 records (pairs at one POS) on two contigs: 7 index slices cover each record once, hold about equal
    counts, and never split a POS."""
    import pysam

    from hyenadna_kipoi.score.slices import slice_lines
    from hyenadna_kipoi.score.tabix_index import chunk_bounds

    text = tmp_path / "big.vcf"
    with open(text, "w") as out:
        out.write("##fileformat=VCFv4.2\n##contig=<ID=chr1>\n##contig=<ID=chr2>\n"
                  "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for chrom, n in (("chr1", 20_000), ("chr2", 10_000)):
            for k in range(n):
                for alt in "CG":
                    out.write(f"{chrom}\t{100 + 37 * k}\t{chrom}_{k}{alt}\tA\t{alt}\t50\tPASS\tDP={k % 97}\n")
    bgz = tmp_path / "big.vcf.gz"
    pysam.tabix_compress(str(text), str(bgz))
    pysam.tabix_index(str(bgz), preset="vcf")
    assert len(chunk_bounds(bgz, 7)) == 8
    seen: list[str] = []
    sizes = []
    for k in range(1, 8):
        ids = [rec.id for rec, _ in slice_lines(bgz, chunk=Chunk(k, 7)) if rec is not None]
        assert not seen or not ids or ids[0][:-1] != seen[-1][:-1]  # the two records at one POS stay together
        seen += ids
        sizes.append(len(ids))
    assert seen == [rec.id for rec, _ in slice_lines(text) if rec is not None]  # each record once, in file order
    print(f"records per index slice of 60,000: {sizes}")
    assert max(sizes) < 1.25 * 60_000 / 7 and min(sizes) > 0.75 * 60_000 / 7, sizes


def test_non_record_lines_go_with_the_record_before_them(model, fasta, genome_text, tmp_path):
    """Blank and '#' lines between records, and after the last: each in exactly one chunk."""
    lines = write_vcf(tmp_path / "plain.vcf", scatter_records(genome_text)).read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    odd = lines[:first] + ["", "##between header and records"] + lines[first:first + 3] + ["", "#a comment"] + \
        lines[first + 3:] + [""]
    vcf = tmp_path / "odd.vcf"
    vcf.write_text("\n".join(odd) + "\n")
    whole = score(model, fasta, vcf, tmp_path / "whole")
    parts = [score(model, fasta, vcf, tmp_path / f"c{k}", chunk=Chunk(k, 4)) for k in range(1, 5)]
    gather_variants([tmp_path / f"c{k}" / "out.tsv" for k in range(1, 5)],
                    [tmp_path / f"c{k}" / "out.vcf.gz" for k in range(1, 5)],
                    out_tsv=tmp_path / "merged" / "out.tsv", out_vcf=tmp_path / "merged" / "out.vcf.gz")
    assert files(tmp_path / "merged") == files(tmp_path / "whole")
    assert sum(p.n_records for p in parts) == whole.n_records == 18
    assert "#a comment" in gzip.open(tmp_path / "c1" / "out.vcf.gz", "rt").read()  # after record 3, in slice 1


def test_a_malformed_line_is_named_by_its_chunk_only(model, fasta, genome_text, tmp_path):
    vcf = write_vcf(tmp_path / "bad.vcf", scatter_records(genome_text))
    lines = vcf.read_text().splitlines()
    bad = [i for i, line in enumerate(lines) if not line.startswith("#")][14]  # record 15 of 18: slice 3 of 3
    lines[bad] = "chr2\tnotapos\tx\tA\tT\t.\t.\t."
    vcf.write_text("\n".join(lines) + "\n")
    for k in (1, 2):
        score(model, fasta, vcf, tmp_path / f"c{k}", chunk=Chunk(k, 3))  # the others never parse it
    with pytest.raises(InputError, match=rf"bad\.vcf, line {bad + 1}: malformed VCF record: POS 'notapos'"):
        score(model, fasta, vcf, tmp_path / "c3", chunk=Chunk(3, 3))
    assert list((tmp_path / "c3").iterdir()) == []
    # the failed chunk is missing: the merge names it and writes nothing
    with pytest.raises(InputError, match=r"missing chunk table output\(s\): .*c3/out.tsv .*nothing was merged"):
        gather_variants([tmp_path / f"c{k}" / "out.tsv" for k in range(1, 4)],
                        [tmp_path / f"c{k}" / "out.vcf.gz" for k in range(1, 4)],
                        out_tsv=tmp_path / "merged" / "out.tsv", out_vcf=tmp_path / "merged" / "out.vcf.gz")
    assert not (tmp_path / "merged").exists() or list((tmp_path / "merged").iterdir()) == []


def test_gather_refuses_mixed_or_truncated_chunks_and_leaves_nothing(model, fasta, vcf, tmp_path):
    for k in (1, 2):
        score(model, fasta, vcf, tmp_path / f"c{k}", chunk=Chunk(k, 2))
    other_run = tmp_path / "w512"
    other_run.mkdir()
    score_vcf(model, fasta, vcf, out_tsv=other_run / "out.tsv", out_vcf=other_run / "out.vcf.gz", window=128,
              progress=False, chunk=Chunk(2, 2), batch_size=BATCH)
    merged = tmp_path / "merged"
    args = dict(out_tsv=merged / "out.tsv", out_vcf=merged / "out.vcf.gz")
    with pytest.raises(InputError, match=r"w512/out.vcf.gz: its header differs from .*c1/out.vcf.gz"):
        gather_variants([tmp_path / "c1" / "out.tsv", other_run / "out.tsv"],
                        [tmp_path / "c1" / "out.vcf.gz", other_run / "out.vcf.gz"], **args)
    assert not merged.exists() or [p.name for p in merged.iterdir()] == []
    cut = tmp_path / "c2" / "out.tsv"
    cut.write_bytes(cut.read_bytes()[:-5])  # a row without its end
    with pytest.raises(InputError, match=r"c2/out.tsv, line \d+: not a complete score-variants row"):
        gather_variants([tmp_path / "c1" / "out.tsv", cut], [tmp_path / "c1" / "out.vcf.gz", tmp_path / "c2" / "out.vcf.gz"],
                        **args)
    assert not merged.exists() or [p.name for p in merged.iterdir()] == []


def test_cli_chunk_regions_and_gather(fasta, vcf, tmp_path, capsys):
    base = ["score-variants", "-m", str(MODEL_DIR), "-f", str(fasta), "-v", str(vcf), "--window", str(W), "-q",
            "--batch-size", str(BATCH)]
    assert cli(base + ["--out-tsv", str(tmp_path / "w.tsv"), "--out-vcf", str(tmp_path / "w.vcf.gz")]) == 0
    whole = capsys.readouterr().out.splitlines()[0]
    for k in (1, 2):
        assert cli(base + ["--chunk", f"{k}/2", "--out-tsv", str(tmp_path / f"{k}.tsv"),
                           "--out-vcf", str(tmp_path / f"{k}.vcf.gz")]) == 0
        assert f"(chunk {k}/2)" in capsys.readouterr().out
    assert cli(["gather-variants", "--tsv", str(tmp_path / "1.tsv"), str(tmp_path / "2.tsv"),
                "--vcf", str(tmp_path / "1.vcf.gz"), str(tmp_path / "2.vcf.gz"),
                "--out-tsv", str(tmp_path / "g.tsv"), "--out-vcf", str(tmp_path / "g.vcf.gz")]) == 0
    gathered = capsys.readouterr().out.splitlines()[0]
    # the merged run's status summary is the whole run's
    assert gathered.split(": ", 1)[1] == whole.split(": ", 1)[1] and "22 alleles of 18 records" in gathered
    for name in ("tsv", "vcf.gz", "vcf.gz.tbi"):
        assert (tmp_path / f"g.{name}").read_bytes() == (tmp_path / f"w.{name}").read_bytes(), name
    assert cli(base + ["--regions", "chr1:1000-3000", "--out-tsv", str(tmp_path / "r.tsv")]) == 0
    assert "(regions chr1:1000-3000)" in capsys.readouterr().out
    assert cli(base + ["--chunk", "3/2", "--out-tsv", str(tmp_path / "x.tsv")]) == 2
    assert "--chunk '3/2': need 1 <= K <= N" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli(base + ["--chunk", "1/2", "--regions", "chr1:1-2", "--out-tsv", str(tmp_path / "x.tsv")])
    assert "not allowed with argument" in capsys.readouterr().err
    assert cli(["gather-variants", "--tsv", str(tmp_path / "1.tsv"), str(tmp_path / "nope.tsv"),
                "--out-tsv", str(tmp_path / "x.tsv")]) == 2
    assert "nope.tsv" in capsys.readouterr().err and not (tmp_path / "x.tsv").exists()
    with pytest.raises(SystemExit):
        cli(["score-variants", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--chunk K/N" in text and "(K-1)*n//N to K*n//N - 1" in text and "goes with the record before it" in text


# --------------------------------------------------------------------------- the workflow: scatter and gather


def test_slurm_plan_scatters_a_vcf_over_gpu_jobs(tmp_path):
    """`variants.<name>.chunks: 8` on the hg38 config: 8 GPU scoring jobs and one gather job (not a GPU job);
    Snakemake's own `--set-scatter` changes the count."""
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="snakemake-executor-plugin-slurm not installed")
    from test_workflow import _edit, _jobs, _planned, _run, _workflow_copy

    workdir = _workflow_copy(tmp_path)
    _edit(workdir / "config/hg38.yaml", lambda c: c["variants"]["vcf42_example"].update(chunks=8))
    args = ("--profile", "slurm", "all", "-n", "--configfile", "config/hg38.yaml")
    result = _run(workdir, *args, cores=False)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = _planned(result)
    assert jobs["score_variants_chunk"] == 8 and jobs["gather_variants"] == 1 and "score_variants" not in jobs
    resources = {job: re.search(r"resources: (.*)", text).group(1) for job, text in _jobs(result).items()}
    chunks = [job for job in resources if job.startswith("score_variants_chunk ")]
    assert sorted(chunks) == sorted(f"score_variants_chunk vcf=vcf42_example, scatteritem={k}-of-8"
                                    for k in range(1, 9))
    for job in chunks:  # each with the scoring resources of config/hg38.yaml
        assert all(r in resources[job] for r in ("gpu=1", "mem_mb=32000", "runtime=240")), resources[job]
    assert "gpu=" not in resources["gather_variants vcf=vcf42_example"]
    assert "--chunk 8/8 " in _jobs(result)["score_variants_chunk vcf=vcf42_example, scatteritem=8-of-8"]
    result = _run(workdir, *args, "--set-scatter", "variants_vcf42__example=3", cores=False)
    assert _planned(result)["score_variants_chunk"] == 3, result.stderr[-2000:]


def snv_vcf(path: Path, g: dict[str, str], n: int) -> Path:
    """``n`` SNVs spread over both contigs of the sample genome (every one scored)."""
    records = []
    for k in range(n):
        chrom = "chr1" if k < n // 2 else "chr2"
        pos = 500 + (k % (n // 2)) * 400
        ref = g[chrom][pos - 1].upper()
        records.append((chrom, pos, f"v{k}", ref, "ACGT"[("ACGT".index(ref) + 1) % 4] if ref in "ACGT" else "A", "OK"))
    return write_vcf(path, records)


def _pids_of(pattern: list[str], cwd: Path) -> list[int]:
    """Processes (this test's descendants) whose command line holds every string of ``pattern``, run in ``cwd``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            here = os.readlink(entry / "cwd")
        except OSError:
            continue
        if here == str(cwd) and all(p in cmd for p in pattern) and "python" in cmd:
            found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_a_killed_chunk_job_reruns_alone(tmp_path, genome_text):
    """The workflow scores a VCF as 3 chunk jobs and a gather job; one chunk's process is SIGKILLed while it
    scores: that job fails, leaves no output and no merged output; the rerun runs that chunk and the gather only
    (the other chunks' files untouched), and the merged outputs are the rows of a single-job run."""
    from test_workflow import _env, _jobs, _workflow_copy, SNAKEMAKE

    workdir = _workflow_copy(tmp_path / "wf").resolve()
    snv_vcf(workdir / "big.vcf", genome_text, 90)
    config = {"variants": {"big": {"vcf": "big.vcf", "fasta": "data/genomes/human_hg19_sample_segments.fa",
                                   "model": "data/fixtures/parity-a/original", "window": 256, "chunks": 3}},
              "device": "cpu", "kipoi": {"export": []}}
    (workdir / "scatter.yaml").write_text(yaml.safe_dump(config))
    target = ("results/variants/big.tsv", "--configfile", "scatter.yaml")
    run = subprocess.Popen([str(SNAKEMAKE), "--cores", "1", "--keep-going", *target], cwd=workdir, env=_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    chunks = workdir / "results" / "variants" / "big.chunks"
    killed = None
    deadline = time.time() + 300
    while killed is None and time.time() < deadline and run.poll() is None:
        pids = _pids_of(["score-variants", "--chunk 2/3"], workdir)
        if pids and list(chunks.glob(".2-of-3.tsv.*.tmp")):  # its outputs are open: it is scoring
            os.kill(pids[0], signal.SIGKILL)
            killed = pids[0]
        time.sleep(0.02)
    output = run.communicate(timeout=600)[0]
    assert killed is not None, output[-3000:]
    assert run.returncode != 0
    assert sorted(p.name for p in chunks.iterdir() if not p.name.startswith(".")) == \
        ["1-of-3.tsv", "1-of-3.vcf.gz", "1-of-3.vcf.gz.tbi", "3-of-3.tsv", "3-of-3.vcf.gz", "3-of-3.vcf.gz.tbi"]
    assert not (workdir / "results" / "variants" / "big.tsv").exists()
    assert not (workdir / "results" / "variants" / "big.vcf.gz").exists()
    done = {p: p.stat().st_mtime_ns for p in chunks.iterdir() if not p.name.startswith(".")}

    plan = _jobs(subprocess.run([str(SNAKEMAKE), "--cores", "1", *target, "-n"], cwd=workdir, env=_env(),
                                capture_output=True, text=True))
    assert set(plan) == {"score_variants_chunk vcf=big, scatteritem=2-of-3", "gather_variants vcf=big"}, set(plan)
    rerun = subprocess.run([str(SNAKEMAKE), "--cores", "1", *target], cwd=workdir, env=_env(), capture_output=True,
                           text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in done} == done  # chunks 1 and 3 were not recomputed
    assert "gathered 90 alleles of 90 records from 3 chunks" in (workdir / "logs/variants/big.gather.log").read_text()

    single = tmp_path / "single.tsv"
    assert cli(["score-variants", "-m", str(workdir / "data/fixtures/parity-a/original"), "-f",
                str(workdir / "data/genomes/human_hg19_sample_segments.fa"), "-v", str(workdir / "big.vcf"),
                "--window", "256", "--out-tsv", str(single), "-q"]) == 0
    merged = (workdir / "results" / "variants" / "big.tsv").read_text().splitlines()
    whole = single.read_text().splitlines()
    assert merged == whole  # the killed and rerun chunk included: the unscattered run's rows, byte for byte
    with gzip.open(workdir / "results" / "variants" / "big.vcf.gz", "rt") as handle:
        assert sum(1 for line in handle if not line.startswith("#")) == 90
    assert (workdir / "results" / "variants" / "big.vcf.gz.tbi").exists()

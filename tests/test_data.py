"""Genome data: FASTA access and its errors, downloads, interval sampling, datasets, loaders."""

from __future__ import annotations

import gzip
import hashlib
import io
from pathlib import Path

import numpy as np
import pysam
import pytest
import torch
from torch.utils.data import DataLoader

from hyenadna_kipoi.data import Genome, check_intervals, fasta_compression, prepare_genome, read_bed
from hyenadna_kipoi.data.genome import bed_lines
from hyenadna_kipoi.data import genome as genome_module
from hyenadna_kipoi.data.dataset import Key, Position, WindowDataset, collate, eval_batches, micro_batches, permutation
from hyenadna_kipoi.data.intervals import (WindowSet, format_summary, make_windows, read_summary, summarize,
                                          write_windows)
from hyenadna_kipoi.download import download
from hyenadna_kipoi.errors import DownloadError, InputError
from hyenadna_kipoi.tokenizer import PAD, encode, reverse_complement


def _random_dna(n: int, seed: int) -> str:
    return "".join(np.random.default_rng(seed).choice(list("ACGT"), size=n))


@pytest.fixture
def genome_fa(tmp_path: Path) -> Path:
    """chr1 (6 kb, an N run at 1000-1100 and one at 5000-5003), chr2 (3 kb), chrM (1 kb), plain FASTA."""
    s1 = list(_random_dna(6000, 1))
    s1[1000:1100] = "N" * 100
    s1[5000:5003] = "NNN"
    records = {"chr1": "".join(s1), "chr2": _random_dna(3000, 2).lower(), "chrM": _random_dna(1000, 3)}
    path = tmp_path / "genome.fa"
    with open(path, "w") as handle:
        for name, seq in records.items():
            handle.write(f">{name} test record\n")
            handle.writelines(seq[i: i + 60] + "\n" for i in range(0, len(seq), 60))
    return path


# --------------------------------------------------------------------------- Genome


def test_plain_and_bgzip_fasta_read_alike_with_aliases(genome_fa, tmp_path):
    bgz = tmp_path / "genome.fa.gz"
    pysam.tabix_compress(str(genome_fa), str(bgz))
    assert fasta_compression(genome_fa) == "plain" and fasta_compression(bgz) == "bgzip"
    with Genome(genome_fa) as plain, Genome(bgz) as packed:
        assert plain.contigs == packed.contigs == {"chr1": 6000, "chr2": 3000, "chrM": 1000}
        for chrom, alias in (("chr1", "1"), ("chrM", "MT"), ("chr2", "2")):
            assert plain.resolve(alias) == chrom
            assert plain.fetch(alias, 10, 70) == packed.fetch(chrom, 10, 70)
        assert plain.fetch("MT", -3, 2, pad=True)[:3] == "NNN"
        assert packed.fetch("chr2", 2990, 3005, pad=True).endswith("N" * 5)


def test_plain_gzip_fasta_is_a_clear_error(genome_fa, tmp_path):
    gz = tmp_path / "genome.fa.gz"
    gz.write_bytes(gzip.compress(genome_fa.read_bytes()))
    assert fasta_compression(gz) == "gzip"
    with pytest.raises(InputError, match=r"genome\.fa\.gz: plain gzip cannot be read .*bgzip.*download-genome"):
        Genome(gz)


def test_duplicate_record_names_are_named_with_their_lines(tmp_path):
    path = tmp_path / "dup.fa"
    path.write_text(">a\nACGT\n>b\nGG\n>a second\nTTTT\n")
    with pytest.raises(InputError, match=r"dup\.fa: record name 'a' occurs more than once \(lines 1, 5\)"):
        Genome(path)
    assert not (tmp_path / "dup.fa.fai").exists()  # no half-made index left behind
    bgz = tmp_path / "dup.fa.gz"
    pysam.tabix_compress(str(path), str(bgz))
    with pytest.raises(InputError, match="record name 'a' occurs more than once"):
        Genome(bgz)


def test_fasta_whose_index_cannot_be_written_is_a_clear_error(genome_fa):
    (genome_fa.parent / "genome.fa.fai").mkdir()  # the index path is taken: pyfaidx cannot write it
    with pytest.raises(InputError, match=r"genome\.fa: cannot index the FASTA"):
        Genome(genome_fa)


def test_gaps_match_a_brute_force_scan_across_chunk_borders(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    seq = "".join(rng.choice(list("ACGTNR"), p=[0.22, 0.22, 0.22, 0.22, 0.08, 0.04], size=700))
    path = tmp_path / "g.fa"
    path.write_text(f">x\n{seq}\n>y\nNNNNACGTNN\n")

    def brute(s, name, min_len):
        runs, i = [], 0
        while i < len(s):
            if s[i] in "ACGT":
                i += 1
                continue
            j = i
            while j < len(s) and s[j] not in "ACGT":
                j += 1
            if j - i >= min_len:
                runs.append((name, i, j))
            i = j
        return runs

    expected = {m: brute(seq, "x", m) + brute("NNNNACGTNN", "y", m) for m in (1, 3)}
    for chunk in (1, 2, 7, 64, 1 << 20):
        monkeypatch.setattr(genome_module, "GAP_SCAN_CHUNK", chunk)
        with Genome(path) as g:
            for m in (1, 3):
                assert [(iv.chrom, iv.start, iv.end) for iv in g.gaps(m)] == expected[m], (chunk, m)


def test_read_bed_keeps_line_numbers_and_check_intervals_reports(genome_fa, tmp_path):
    bed = tmp_path / "r.bed"
    bed.write_text("track name=x\n1\t0\t100\ttrain\nchrUn\t0\t10\ttrain\nchr2\t2900\t3001\tvalid\nMT\t5\t50\n")
    rows = list(read_bed(bed))
    assert [r.line for r in rows] == [2, 3, 4, 5]
    with Genome(genome_fa) as g:
        good, problems = check_intervals(rows, g, bed)
    assert [(iv.chrom, iv.start) for iv in good] == [("chr1", 0), ("chrM", 5)]
    assert problems[0].endswith("line 3: chrUn:0-10: contig 'chrUn' is not in " + str(genome_fa))
    assert "line 4: chr2:2900-3001: ends past the contig's end (chr2 has 3,000 bases)" in problems[1]


def test_bed_lines_is_the_one_bed_line_reader(tmp_path):
    # read_bed (intervals) and the fine-tuning task reader both split lines with bed_lines:
    # headers with or without '#' are flagged, track/browser/blank lines skipped, CRLF ends dropped.
    bed = tmp_path / "h.bed"
    bed.write_bytes(b"browser x\r\n#chrom\tstart\tend\tname\r\nchrom\tstart\tend\r\n\r\nchr1\t0\t10\ta\t0\t-\r\n")
    assert list(bed_lines(bed)) == [(2, ["#chrom", "start", "end", "name"], True), (3, ["chrom", "start", "end"], True),
                                    (5, ["chr1", "0", "10", "a", "0", "-"], False)]
    assert [(iv.chrom, iv.start, iv.end, iv.name, iv.strand, iv.line) for iv in read_bed(bed)] == [
        ("chr1", 0, 10, "a", "-", 5)]


# --------------------------------------------------------------------------- downloads and preparation


def test_prepare_genome_downloads_verifies_and_decompresses(genome_fa, tmp_path):
    gz = tmp_path / "src" / "genome.fa.gz"
    gz.parent.mkdir()
    gz.write_bytes(gzip.compress(genome_fa.read_bytes()))
    sha = hashlib.sha256(gz.read_bytes()).hexdigest()
    dest = tmp_path / "ref" / "hg.fa.gz"
    out = prepare_genome(dest, url=gz.as_uri(), sha256=sha, progress=False)
    assert out == tmp_path / "ref" / "hg.fa" and out.read_bytes() == genome_fa.read_bytes()
    assert (tmp_path / "ref" / "hg.fa.fai").exists()
    assert prepare_genome(dest, sha256=sha, progress=False) == out  # present: verified, reused


def test_checksum_mismatch_leaves_no_file_that_looks_complete(genome_fa, tmp_path):
    dest = tmp_path / "ref" / "g.fa"
    with pytest.raises(DownloadError, match="sha256 checksum mismatch"):
        prepare_genome(dest, url=genome_fa.as_uri(), sha256="0" * 64, progress=False)
    assert not dest.exists() and not (tmp_path / "ref" / "g.fa.part").exists()
    with pytest.raises(DownloadError, match="md5 checksum mismatch"):
        prepare_genome(genome_fa, md5="0" * 32, progress=False)  # a local file is checked too
    with pytest.raises(InputError, match="no such file, and no url"):
        prepare_genome(tmp_path / "missing.fa", progress=False)


def test_file_download_resumes_a_partial_file(tmp_path):
    src = tmp_path / "big.bin"
    payload = np.random.default_rng(0).bytes(50_000)
    src.write_bytes(payload)
    dest = tmp_path / "out" / "big.bin"
    dest.parent.mkdir()
    part = dest.with_name("big.bin.part")
    part.write_bytes(payload[:20_000])
    download(src.as_uri(), dest, sha256=hashlib.sha256(payload).hexdigest(), progress=False)
    assert dest.read_bytes() == payload and not part.exists()


class _FakeFTP:
    """Just enough of ftplib.FTP to serve one file with REST (resume) support."""

    files: dict[str, bytes] = {}
    rests: list = []

    def connect(self, host, port, timeout):
        self.host = host

    def login(self, user, password):
        pass

    def voidcmd(self, cmd):
        assert cmd == "TYPE I"

    def size(self, path):
        return len(self.files[path])

    def transfercmd(self, cmd, rest=None):
        _FakeFTP.rests.append(rest)
        data = self.files[cmd.split(" ", 1)[1]][rest or 0:]

        class Conn:
            def makefile(self, mode):
                return io.BytesIO(data)

            def close(self):
                pass

        return Conn()

    def close(self):
        pass


def test_ftp_download_resumes_with_rest(tmp_path, monkeypatch):
    import hyenadna_kipoi.download as dl

    monkeypatch.delenv("HYENADNA_OFFLINE")
    payload = np.random.default_rng(1).bytes(30_000)
    _FakeFTP.files = {"/pub/g.fa": payload}
    _FakeFTP.rests = []
    monkeypatch.setattr(dl.ftplib, "FTP", _FakeFTP)
    dest = tmp_path / "g.fa"
    dest.with_name("g.fa.part").write_bytes(payload[:12_345])
    download("ftp://ftp.example.org/pub/g.fa", dest, md5=hashlib.md5(payload).hexdigest(), progress=False)
    assert dest.read_bytes() == payload and _FakeFTP.rests == [12_345]


# --------------------------------------------------------------------------- intervals


def _windows(ws):
    return {split: [(iv.chrom, iv.start, iv.end) for iv in ivs] for split, ivs in ws.windows.items()}


def test_windows_by_chromosome_lists_skip_gaps_and_blacklist(genome_fa, tmp_path):
    black = tmp_path / "black.bed"
    black.write_text("chr1\t3000\t3100\nchrUn_x\t0\t100\n")  # a contig this genome lacks is ignored
    with Genome(genome_fa) as g:
        ws = make_windows(g, 500, chroms={"train": ["1"], "valid": ["chr2"], "test": ["MT"]}, blacklist=black,
                          progress=False)
        got = _windows(ws)
        assert list(got) == ["train", "valid", "test"]
        assert got["valid"] == [("chr2", s, s + 500) for s in range(0, 3000, 500)]
        assert got["test"] == [("chrM", 0, 500), ("chrM", 500, 1000)]
        for _, s, e in got["train"]:
            assert e - s == 500
            assert e <= 1000 or s >= 1100  # the N run
            assert e <= 3000 or s >= 3100  # the blacklist
            assert e <= 5000 or s >= 5003
        assert ws.excluded_bases == 100 + 3 + 100
        again = make_windows(g, 500, chroms={"train": ["1"], "valid": ["chr2"], "test": ["MT"]}, blacklist=black,
                             progress=False)
        assert _windows(again) == got  # deterministic


def test_windows_from_a_regions_bed_hold_out_overlaps_and_cap(genome_fa, tmp_path):
    regions = tmp_path / "regions.bed"
    regions.write_text("chr1\t0\t4000\ttrain\nchr1\t3500\t5000\tvalid\nchr2\t0\t3000\ttrain\nchr2\t1000\t2000\ttest\n")
    with Genome(genome_fa) as g:
        ws = make_windows(g, 250, regions=regions, progress=False)
        got = _windows(ws)
        held = [(c, s, e) for split in ("valid", "test") for c, s, e in got[split]]
        for c, s, e in got["train"]:  # no training window overlaps a held-out region
            assert not (c == "chr1" and e > 3500) and not (c == "chr2" and s < 2000 and e > 1000)
        assert all(e - s == 250 for _, s, e in held)
        capped = make_windows(g, 250, regions=regions, max_windows={"train": 5}, seed=3, progress=False)
        sub = _windows(capped)["train"]
        assert len(sub) == 5 and set(sub) <= set(got["train"]) and sub == sorted(sub, key=lambda r: (r[0] != "chr1", r[1]))
        assert _windows(make_windows(g, 250, regions=regions, max_windows={"train": 5}, seed=3, progress=False)) \
            == _windows(capped)


def test_bad_regions_are_reported_with_their_lines_or_dropped(genome_fa, tmp_path):
    regions = tmp_path / "bad.bed"
    regions.write_text("chr1\t0\t4000\ttrain\nchr9\t0\t100\ttrain\nchr2\t0\t3500\tvalid\nchr2\t0\t2000\tvalid\n")
    with Genome(genome_fa) as g:
        with pytest.raises(InputError) as err:
            make_windows(g, 500, regions=regions, progress=False)
        message = str(err.value)
        assert message.startswith("2 region(s) of")
        assert "bad.bed, line 2: chr9:0-100: contig 'chr9' is not in" in message
        assert "bad.bed, line 3: chr2:0-3500: ends past the contig's end" in message
        assert "skip_invalid" in message
        ws = make_windows(g, 500, regions=regions, skip_invalid=True, progress=False)
        assert len(ws.dropped) == 2 and len(ws.windows["valid"]) == 4


def test_window_longer_than_a_contig_and_missing_splits_are_errors(genome_fa):
    with Genome(genome_fa) as g:
        with pytest.raises(InputError, match=r"contig 'chrM' has 1,000 bases, fewer than the window of 2,000"):
            make_windows(g, 2000, chroms={"train": ["chr1"], "valid": ["chrM"]}, progress=False)
        with pytest.raises(InputError, match="longer than every contig"):
            make_windows(g, 7000, chroms={"train": ["chr1"], "valid": ["chr2"]}, skip_invalid=True, progress=False)
        with pytest.raises(InputError, match=r"contig 'chr7' is not in"):
            make_windows(g, 500, chroms={"train": ["chr1"], "valid": ["chr7"]}, progress=False)
        with pytest.raises(InputError, match=r"also listed for split 'train'"):
            make_windows(g, 500, chroms={"train": ["chr1"], "valid": ["1"]}, progress=False)


def test_summary_counts_gc_and_n(tmp_path):
    path = tmp_path / "s.fa"
    path.write_text(">c\nGGCCAATTNNGCGCATAT\n")
    with Genome(path) as g:
        windows = {"train": [genome_module.Interval("c", 0, 10)], "valid": [genome_module.Interval("c", 8, 18)]}
        summary = summarize(g, windows, progress=False)
    assert summary[0].bases == 10 and summary[0].gc == pytest.approx(0.5) and summary[0].n_fraction == pytest.approx(0.2)
    assert summary[1].gc == pytest.approx(4 / 8)
    paths = write_windows(WindowSet(windows), tmp_path / "iv", summary)
    assert paths["train"].read_text() == "c\t0\t10\ttrain\n"
    assert read_summary(tmp_path / "iv" / "summary.tsv")[1].windows == 1
    assert "valid" in format_summary(summary)


# --------------------------------------------------------------------------- datasets and loaders


def test_examples_are_next_token_pairs_with_pad_ignored(tmp_path):
    path = tmp_path / "e.fa"
    path.write_text(">c\nACGTNACGTA\n")
    ds = WindowDataset(path, [genome_module.Interval("c", 0, 10)], augment=False)
    inputs, target = ds[Key(0, 0, 10)]
    assert inputs.tolist() == encode("ACGTNACGTA").tolist()
    assert target.tolist() == encode("CGT").tolist() + [PAD] + encode("ACGTA").tolist() + [PAD]
    assert inputs.dtype == target.dtype == torch.int64


def test_augmentation_is_deterministic_per_seed_epoch_and_index(genome_fa):
    windows = [genome_module.Interval("chr2", s, s + 200) for s in range(0, 2000, 200)]
    ds = WindowDataset(genome_fa, windows, seed=11, shift=5, rc=True)
    again = WindowDataset(genome_fa, windows, seed=11, shift=5, rc=True)
    seqs = [ds.sequence(Key(i, 0, 64)) for i in range(10)]
    assert seqs == [again.sequence(Key(i, 0, 64)) for i in range(10)]
    assert seqs != [ds.sequence(Key(i, 1, 64)) for i in range(10)]  # a new epoch draws anew
    with Genome(genome_fa) as g:
        chr2 = g.fetch("chr2", 0, 3000)
    forward = sum(s in chr2 for s in seqs)
    assert 0 < forward < 10 and all(s in chr2 or reverse_complement(s) in chr2 for s in seqs)
    plain = WindowDataset(genome_fa, windows, augment=False)
    assert plain.sequence(Key(3, 5, 64)) == chr2[600:664]


def test_loader_workers_give_the_same_batches_as_the_main_process(genome_fa):
    windows = [genome_module.Interval("chr2", s, s + 100) for s in range(0, 2900, 100)]
    ds = WindowDataset(genome_fa, windows, seed=2, rc=True, shift=3)

    def batches(workers):
        keys = micro_batches(len(ds), 2, Position(), global_batch=8, seq_len=50, rank=0, world_size=1,
                             micro_batch=4, steps=5)
        loader = DataLoader(ds, batch_sampler=list(keys), collate_fn=collate, num_workers=workers)
        return [torch.cat(b, dim=1) for b in loader]

    serial, parallel = batches(0), batches(2)
    assert len(serial) == 10 and all(torch.equal(a, b) for a, b in zip(serial, parallel))
    assert serial[0].shape == (4, 100)


def test_ranks_share_a_global_batch_exactly_like_accumulation():
    one = list(micro_batches(10, 5, Position(), global_batch=4, seq_len=8, rank=0, world_size=1, micro_batch=2,
                             steps=5))
    ranks = [list(micro_batches(10, 5, Position(), global_batch=4, seq_len=8, rank=r, world_size=2, micro_batch=2,
                                steps=5)) for r in (0, 1)]
    assert [k for pair in zip(*ranks) for k in pair] == one
    # 5 steps of 4 over 10 windows: 2 per epoch, the last partial batch of each epoch is dropped
    epochs = [b[0].epoch for b in one[::2]]
    assert epochs == [0, 0, 1, 1, 2]
    assert {k.index for b in one[:4] for k in b} == set(permutation(10, 5, 0)[:8].tolist())
    pos = Position()
    for _ in range(3):
        pos.advance(10, 4)
    resumed = list(micro_batches(10, 5, pos, global_batch=4, seq_len=8, rank=0, world_size=1, micro_batch=2, steps=2))
    assert resumed == one[6:]
    assert [len(b) for b in eval_batches(7, seq_len=8, rank=1, world_size=2, batch=2)] == [2, 1]

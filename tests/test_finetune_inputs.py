"""Fine-tuning task inputs: every layout, label mapping, splits (disjoint, seeded, stratified), errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from hyenadna_kipoi.errors import ConfigError, InputError
from hyenadna_kipoi.finetune.config import validate_finetune_config
from hyenadna_kipoi.finetune.inputs import check_lengths, check_no_overlap, load_task, sort_labels
from hyenadna_kipoi.finetune.task import Split, TaskData
from hyenadna_kipoi.tokenizer import reverse_complement

REPO = Path(__file__).resolve().parents[1]
GENOMES = REPO / "data" / "genomes"


def rand_seqs(rng: np.random.Generator, n: int, length: int, p=(0.25, 0.25, 0.25, 0.25)) -> list[str]:
    return ["".join(rng.choice(list("ACGT"), size=length, p=p)) for _ in range(n)]


def write_fasta(path: Path, seqs: list[str], prefix: str, gz: bool = False) -> Path:
    text = "".join(f">{prefix}{i} desc\n{s}\n" for i, s in enumerate(seqs))
    if gz:
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


def config(input_: dict, kind: str = "classification", **task) -> dict:
    return validate_finetune_config({"out_dir": "out", "task": {"name": "t", "kind": kind, "input": input_, **task}}, "t.yaml")


def all_seqs(task: TaskData, split: str) -> set[str]:
    return set(task.splits[split].sequences)


def assert_disjoint(task: TaskData) -> None:
    for a, b in (("train", "test"), ("train", "valid"), ("valid", "test")):
        keys_a = all_seqs(task, a) | {reverse_complement(s) for s in all_seqs(task, a)}
        assert not keys_a & all_seqs(task, b), (a, b)
    check_no_overlap(task)


@pytest.fixture
def per_class(tmp_path):
    rng = np.random.default_rng(1)
    files = {}
    for label, n in (("gc", 60), ("at", 40)):
        files[label] = write_fasta(tmp_path / f"{label}.fa.gz", [s.lower() for s in rand_seqs(rng, n, 50)], label, gz=True)
    return files


# --------------------------------------------------------------------------- fasta_per_class


def test_fasta_per_class_carves_stratified_disjoint_seeded_splits(per_class):
    cfg = config({"format": "fasta_per_class", "train": {k: str(v) for k, v in per_class.items()}})
    task = load_task(cfg, seed=3)
    assert task.labels == ["at", "gc"]  # no declared labels: sorted
    sizes = {s: len(task.splits[s]) for s in ("train", "valid", "test")}
    assert sizes == {"train": 80, "valid": 10, "test": 10}
    # stratified: 10% of each class in valid and test
    for split in ("valid", "test"):
        assert np.bincount(task.splits[split].targets, minlength=2).tolist() == [4, 6]
    assert all(s == s.upper() for s in task.splits["train"].sequences)
    # label mapping round trip: the id's prefix names the class of its index
    for split in task.splits.values():
        for id_, t in zip(split.ids, split.targets):
            assert id_.startswith(task.labels[t]) and task.labels.index(task.labels[t]) == t
    assert_disjoint(task)
    again, other = load_task(cfg, seed=3), load_task(cfg, seed=4)
    assert again.splits["test"].ids == task.splits["test"].ids
    assert np.array_equal(again.splits["train"].targets, task.splits["train"].targets)
    assert other.splits["test"].ids != task.splits["test"].ids


def test_declared_labels_set_the_order_and_unknown_labels_fail(per_class):
    train = {k: str(v) for k, v in per_class.items()}
    task = load_task(config({"format": "fasta_per_class", "train": train}, labels=["gc", "at"]), seed=0)
    assert task.labels == ["gc", "at"]
    assert all(id_.startswith("gc") == (t == 0) for id_, t in zip(task.splits["train"].ids, task.splits["train"].targets))
    with pytest.raises(InputError, match=r"at\.fa\.gz \(class 'at' of task\.input\.train\): label 'at' is not in the "
                                         r"declared task\.labels \(gc, cpg\)"):
        load_task(config({"format": "fasta_per_class", "train": train}, labels=["gc", "cpg"]), seed=0)


def test_max_train_is_a_stratified_seeded_cap(per_class):
    cfg = config({"format": "fasta_per_class", "train": {k: str(v) for k, v in per_class.items()}}, max_train=20)
    task = load_task(cfg, seed=0)
    assert len(task.splits["train"]) == 20
    assert np.bincount(task.splits["train"].targets).tolist() == [8, 12]  # 40:60 of 80 -> 8:12 of 20
    assert len(task.splits["valid"]) == 10  # the cap touches train only
    assert load_task(cfg, seed=0).splits["train"].ids == task.splits["train"].ids


def test_explicit_test_files_and_test_duplicates_dropped_from_train(tmp_path, capsys):
    rng = np.random.default_rng(2)
    a, b = rand_seqs(rng, 30, 40), rand_seqs(rng, 30, 40)
    test_a = [a[0], reverse_complement(a[1]), *rand_seqs(rng, 3, 40)]  # two leak into the test split
    cfg = config({"format": "fasta_per_class",
                  "train": {"a": str(write_fasta(tmp_path / "a.fa", a, "a")), "b": str(write_fasta(tmp_path / "b.fa", b, "b"))},
                  "test": {"a": str(write_fasta(tmp_path / "ta.fa", test_a, "ta")),
                           "b": str(write_fasta(tmp_path / "tb.fa", rand_seqs(rng, 5, 40), "tb"))}},
                 valid_fraction=0.0)
    task = load_task(cfg, seed=0)
    assert len(task.splits["test"]) == 10 and len(task.splits["valid"]) == 0
    assert len(task.splits["train"]) == 58
    assert "dropped 2 train sequence(s)" in capsys.readouterr().err
    assert_disjoint(task)


def test_check_no_overlap_finds_leaks_and_overlapping_windows():
    def split(ids, seqs, t):
        return Split(ids, seqs, np.array(t, dtype=np.int64))

    leak = TaskData("x", "classification", ["a", "b"], {
        "train": split(["1", "2"], ["ACGTA", "GGGGG"], [0, 1]), "valid": split([], [], []),
        "test": split(["3"], ["CCCCC"], [1])})
    with pytest.raises(InputError, match=r"1 sequence\(s\) of the test split are also in the train split \(e\.g\. 3\)"):
        check_no_overlap(leak)
    windows = TaskData("x", "classification", ["a", "b"], {
        "train": split(["a/c1:0-10", "b/c1:5-15"], ["ACGTACGTAA", "CCCCCCCCCC"], [0, 1]), "valid": split([], [], []),
        "test": split(["a/c1:8-18"], ["TTTTTTTTTA"], [0])})
    with pytest.raises(InputError, match=r"window a/c1:8-18 \(test\) overlaps a/c1:0-10 \(train\)"):
        check_no_overlap(windows)


def test_check_lengths_names_the_sequence(per_class):
    task = load_task(config({"format": "fasta_per_class", "train": {k: str(v) for k, v in per_class.items()}}), seed=0)
    check_lengths(task, 50)
    with pytest.raises(InputError, match=r"cfg\.yaml: sequence \S+ \(50 bp, \w+ split of task 't'\) is longer than "
                                         r"the model context l_max \(49\)"):
        check_lengths(task, 49, "cfg.yaml")


def test_missing_and_empty_files_are_clear_errors(tmp_path):
    good = write_fasta(tmp_path / "good.fa", ["ACGT"] * 3, "g")
    with pytest.raises(InputError, match=r"missing\.fa: no such FASTA file"):
        load_task(config({"format": "fasta_per_class", "train": {"a": str(good), "b": str(tmp_path / "missing.fa")}}), seed=0)
    (tmp_path / "empty.fa").write_text("")
    with pytest.raises(InputError, match=r"empty\.fa: no FASTA records found"):
        load_task(config({"format": "fasta_per_class", "train": {"a": str(good), "b": str(tmp_path / "empty.fa")}}), seed=0)


# --------------------------------------------------------------------------- genomic_benchmarks


def write_gb(root: Path, splits=("train", "test"), n=12) -> Path:
    rng = np.random.default_rng(5)
    for split in splits:
        for label in ("negative", "positive"):
            folder = root / split / label
            folder.mkdir(parents=True)
            for i, seq in enumerate(rand_seqs(rng, n, 30)):
                (folder / f"{i}.txt").write_text(seq + "\n")
    return root


def test_genomic_benchmarks_layout(tmp_path):
    root = write_gb(tmp_path / "gb")
    task = load_task(config({"format": "genomic_benchmarks", "folder": str(root)}, valid_fraction=0.25), seed=0)
    assert task.labels == ["negative", "positive"]
    assert {s: len(task.splits[s]) for s in ("train", "valid", "test")} == {"train": 18, "valid": 6, "test": 24}
    split = task.splits["test"]
    for id_, seq, t in zip(split.ids, split.sequences, split.targets):
        cls, stem = id_.split("/")
        assert (root / "test" / cls / f"{stem}.txt").read_text().strip() == seq and task.labels[t] == cls
    assert_disjoint(task)


def test_genomic_benchmarks_empty_class_folder(tmp_path):
    root = write_gb(tmp_path / "gb")
    (root / "train" / "other").mkdir()
    with pytest.raises(InputError, match=r"train/other: class folder holds no sequences \(\*\.txt files\)"):
        load_task(config({"format": "genomic_benchmarks", "folder": str(root)}), seed=0)
    with pytest.raises(InputError, match=r"nowhere: no such folder"):
        load_task(config({"format": "genomic_benchmarks", "folder": str(tmp_path / "nowhere")}), seed=0)


# --------------------------------------------------------------------------- nucleotide_transformer


def test_nucleotide_transformer_csv_and_fasta(tmp_path):
    rng = np.random.default_rng(7)
    seqs = rand_seqs(rng, 40, 20)
    csv_path = tmp_path / "train.csv"
    csv_path.write_text("sequence,label,name\n" + "".join(f"{s.lower()},{i % 2},r{i}\n" for i, s in enumerate(seqs)))
    fa_path = tmp_path / "test.fa"
    fa_path.write_text("".join(f">q{i}|{i % 2}\n{s}\n" for i, s in enumerate(rand_seqs(rng, 10, 20))))
    task = load_task(config({"format": "nucleotide_transformer", "train": str(csv_path), "test": str(fa_path)}), seed=0)
    assert task.labels == ["0", "1"]
    assert len(task.splits["test"]) == 10 and task.splits["test"].ids[3] == "q3" and task.splits["test"].targets[3] == 1
    train = task.splits["train"]
    assert len(train) + len(task.splits["valid"]) == 40
    for id_, seq, t in zip(train.ids, train.sequences, train.targets):
        i = int(id_[1:])
        assert seq == seqs[i] and t == i % 2
    # regression from the same CSV layout: one target named after the declared label
    reg = tmp_path / "reg.csv"
    reg.write_text("sequence,label\n" + "".join(f"{s},{i / 4}\n" for i, s in enumerate(seqs)))
    task = load_task(config({"format": "nucleotide_transformer", "train": str(reg)}, kind="regression",
                            labels=["expression"]), seed=0)
    assert task.labels == ["expression"] and task.splits["train"].targets.shape == (32, 1)
    assert task.splits["train"].targets.dtype == np.float32


def test_nucleotide_transformer_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("sequence,label\nACGT,0\nACGA,1,extra\n")
    with pytest.raises(InputError, match=r"bad\.csv, line 3: 3 columns, the header has 2"):
        load_task(config({"format": "nucleotide_transformer", "train": str(bad)}), seed=0)
    bad.write_text("seq,label\nACGT,0\n")
    with pytest.raises(InputError, match=r"bad\.csv, line 1: the CSV header lacks column\(s\) sequence"):
        load_task(config({"format": "nucleotide_transformer", "train": str(bad)}), seed=0)
    bad.write_text("sequence,label\nACGT,0\nACGA,2\n")
    with pytest.raises(InputError, match=r"bad\.csv, line 3: label '2' is not in the declared task\.labels \(0, 1\)"):
        load_task(config({"format": "nucleotide_transformer", "train": str(bad)}, labels=[0, 1]), seed=0)
    fa = tmp_path / "bad.fa"
    fa.write_text(">a|0\nACGT\n>b\nACGT\n")
    with pytest.raises(InputError, match=r"bad\.fa, record 2 \(b\): header must be >name\|label"):
        load_task(config({"format": "nucleotide_transformer", "train": str(fa)}), seed=0)


# --------------------------------------------------------------------------- bed


@pytest.fixture
def reference(tmp_path):
    rng = np.random.default_rng(11)
    contigs = {name: rand_seqs(rng, 1, 400)[0] for name in ("chr1", "chr2", "chr3")}
    path = tmp_path / "ref.fa"
    path.write_text("".join(f">{n}\n{s}\n" for n, s in contigs.items()))
    return path, contigs


def test_bed_multilabel_with_header_split_by_chromosome(tmp_path, reference):
    fasta, contigs = reference
    bed = tmp_path / "m.bed"
    rows = [("chr1", 10, 60, 1, 0), ("chr1", 100, 150, 0, 1), ("chr2", 0, 50, 1, 1), ("1", 200, 250, 0, 0),
            ("chr3", 300, 350, 1, 0)]
    bed.write_text("#chrom\tstart\tend\tctcf\tpol2\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows))
    task = load_task(config({"format": "bed", "bed": str(bed), "fasta": str(fasta), "valid_chroms": ["chr2"],
                             "test_chroms": ["chr3"]}, kind="multilabel"), seed=0)
    assert task.labels == ["ctcf", "pol2"]
    train = task.splits["train"]
    assert train.ids == ["chr1:10-60", "chr1:100-150", "1:200-250"]  # alias 1 -> chr1 resolved
    assert train.sequences[2] == contigs["chr1"][200:250]
    assert train.targets.tolist() == [[1, 0], [0, 1], [0, 0]] and train.targets.dtype == np.float32
    assert task.splits["valid"].targets.tolist() == [[1, 1]] and task.splits["test"].ids == ["chr3:300-350"]
    # declared target names reorder the columns
    task = load_task(config({"format": "bed", "bed": str(bed), "fasta": str(fasta), "valid_chroms": ["chr2"],
                             "test_chroms": ["chr3"]}, kind="multilabel", labels=["pol2", "ctcf"]), seed=0)
    assert task.splits["train"].targets.tolist() == [[0, 1], [1, 0], [0, 0]]


def test_bed_single_label_recentred_and_regression(tmp_path, reference):
    fasta, contigs = reference
    bed = tmp_path / "c.bed"
    rows = [(f"chr{1 + i % 3}", 10 + 20 * (i // 3), 50 + 20 * (i // 3), "on" if i % 2 else "off") for i in range(20)]
    bed.write_text("".join("\t".join(map(str, r)) + "\n" for r in rows))  # recentred to 20 bp: adjacent, disjoint
    task = load_task(config({"format": "bed", "bed": str(bed), "fasta": str(fasta), "length": 20}, test_fraction=0.2),
                     seed=0)
    assert task.labels == ["off", "on"] and task.max_length == 20
    assert sum(len(s) for s in task.splits.values()) == 20
    split = next(sp for sp in task.splits.values() if "chr1:20-40" in sp.ids)  # row 0: centre 30
    assert split.sequences[split.ids.index("chr1:20-40")] == contigs["chr1"][20:40]
    reg = tmp_path / "r.bed"
    reg.write_text("".join(f"chr1\t{30 * i}\t{30 * i + 30}\t{i / 2}\t{-i}\n" for i in range(10)))
    task = load_task(config({"format": "bed", "bed": str(reg), "fasta": str(fasta), "label_columns": ["x", "y"]},
                            kind="regression", valid_fraction=0.2, test_fraction=0.2), seed=1)
    split = task.splits["train"]
    assert task.labels == ["x", "y"] and len(split) == 6
    for id_, t in zip(split.ids, split.targets):
        i = int(id_.split(":")[1].split("-")[0]) // 30
        assert t.tolist() == [i / 2, -i]


@pytest.mark.parametrize("line, message", [
    ("chr1\t10\t60\t1\n", r"m\.bed, line 3: 4 columns, expected 5 \(chrom, start, end and the label column\(s\) a, b\)"),
    ("chr9\t10\t60\t1\t0\n", r"m\.bed, line 3: contig 'chr9' is not in .*ref\.fa"),
    ("chr1\t390\t460\t1\t0\n", r"m\.bed, line 3: chr1:390-460 lies outside its contig \(chr1 has 400 bases\)"),
    ("chr1\t10\t60\t2\t0\n", r"m\.bed, line 3, column a: a multilabel target must be 0 or 1, got '2'"),
])
def test_bed_errors_name_the_line(tmp_path, reference, line, message):
    bed = tmp_path / "m.bed"
    bed.write_text("chrom\tstart\tend\ta\tb\nchr1\t0\t50\t1\t0\n" + line)
    with pytest.raises(InputError, match=message):
        load_task(config({"format": "bed", "bed": str(bed), "fasta": str(reference[0])}, kind="multilabel"), seed=0)


def test_bed_recentred_outside_contig_and_missing_files(tmp_path, reference):
    bed = tmp_path / "c.bed"
    bed.write_text("chr1\t0\t40\ta\nchr1\t100\t140\tb\n")
    with pytest.raises(InputError, match=r"c\.bed, line 1: recentred to 100 bp \(chr1:-30-70\) the interval lies outside"):
        load_task(config({"format": "bed", "bed": str(bed), "fasta": str(reference[0]), "length": 100}), seed=0)
    with pytest.raises(InputError, match=r"nope\.fa: no such FASTA file"):
        load_task(config({"format": "bed", "bed": str(bed), "fasta": str(tmp_path / "nope.fa")}), seed=0)
    with pytest.raises(InputError, match=r"nope\.bed: no such BED file"):
        load_task(config({"format": "bed", "bed": str(tmp_path / "nope.bed"), "fasta": str(reference[0])}), seed=0)


# --------------------------------------------------------------------------- species


def species_config(window=256, **windows) -> dict:
    genomes = {"lambda": str(GENOMES / "lambda_phage.fa.gz"),
               "human": [str(GENOMES / "human_hg19_sample_segments.fa"), str(GENOMES / "human_hg19_chr17_segment.fa")],
               "e_coli": str(GENOMES / "e_coli_MIIJ01000039.fa.gz")}
    return config({"format": "species", "genomes": genomes, "window": window,
                   "windows": {"train": 30, "valid": 8, "test": 8, **windows}})


def test_species_windows_split_by_region_without_overlap():
    task = load_task(species_config(), seed=0)
    assert task.labels == ["e_coli", "human", "lambda"]
    assert {s: len(task.splits[s]) for s in ("train", "valid", "test")} == {"train": 90, "valid": 24, "test": 24}
    assert {len(s) for sp in task.splits.values() for s in sp.sequences} == {256}
    for split in task.splits.values():
        assert np.bincount(split.targets).tolist() == [len(split) // 3] * 3
        for seq in split.sequences:
            assert sum(seq.count(b) for b in "ACGT") >= 0.9 * 256  # the E. coli contig is half N
    assert_disjoint(task)
    # the windows are the genome's bases, and splits sit in their own regions
    from hyenadna_kipoi.data.fasta import read_fasta

    lam = next(read_fasta(GENOMES / "lambda_phage.fa.gz"))[1]
    for split, (lo, hi) in (("train", (0, 0.8)), ("test", (0.9, 1.0))):
        for id_, seq in zip(task.splits[split].ids, task.splits[split].sequences):
            if id_.startswith("lambda/"):
                start, end = map(int, id_.rsplit(":", 1)[1].split("-"))
                assert seq == lam[start:end].upper()
                assert lo * len(lam) - 1 <= start and end <= hi * len(lam) + 1
    again = load_task(species_config(), seed=0)
    assert again.splits["train"].ids == task.splits["train"].ids
    assert load_task(species_config(), seed=1).splits["train"].ids != task.splits["train"].ids


def test_species_too_many_windows_is_a_clear_error():
    with pytest.raises(InputError, match=r"genome 'lambda': found only \d+ of 5000 test windows of 256 bp"):
        load_task(species_config(test=5000), seed=0)


def test_sort_labels_is_numeric_for_integers():
    assert sort_labels(["10", "2", "1"]) == ["1", "2", "10"]
    assert sort_labels(["b", "a", "10"]) == ["10", "a", "b"]


def test_config_derived_checks():
    with pytest.raises(ConfigError, match=r"t\.yaml: config key task\.kind: input format 'species' holds classification"):
        config({"format": "species", "genomes": {"a": "x"}}, kind="regression")
    base = {"out_dir": "o", "task": {"name": "t", "kind": "multilabel",
                                     "input": {"format": "bed", "bed": "b", "fasta": "f"}}}
    with pytest.raises(ConfigError, match=r"soft_prompt\.label_mode: 'token' needs a classification task"):
        validate_finetune_config({**base, "soft_prompt": {"label_mode": "token"}}, "t.yaml")
    five = {**base, "task": {**base["task"], "kind": "classification", "labels": list("abcde")}}
    with pytest.raises(ConfigError, match=r"'token' predicts one of the 4 nucleotides, but task\.labels has 5 classes"):
        validate_finetune_config({**five, "soft_prompt": {"label_mode": "token"}}, "t.yaml")
    with pytest.raises(ConfigError, match=r"model\.architecture applies only to a new model"):
        validate_finetune_config({**base, "model": {"init": "tiny-1k", "architecture": {"d_model": 8}}}, "t.yaml")
    with pytest.raises(ConfigError, match=r"early_stopping\.metric: 'mcc' is not a multilabel metric"):
        validate_finetune_config({**base, "train": {"early_stopping": {"metric": "mcc"}}}, "t.yaml")


def test_carved_bed_splits_share_no_bases(tmp_path, capsys):
    """DeepSEA-style 20-bp bins widened to 60 bp overlap their neighbours: valid/test are carved as
    contiguous blocks, and the training windows at block edges that share bases with them are dropped."""
    rng = np.random.default_rng(4)
    fasta = tmp_path / "ref.fa"
    fasta.write_text("".join(f">{c}\n{rand_seqs(rng, 1, 10_000)[0]}\n" for c in ("chr1", "chr2")))
    bed = tmp_path / "bins.bed"
    bed.write_text("".join(f"{c}\t{s}\t{s + 20}\t{(s // 20) % 2}\n" for c in ("chr1", "chr2") for s in range(40, 9940, 20)))
    task = load_task(config({"format": "bed", "bed": str(bed), "fasta": str(fasta), "length": 60},
                            valid_fraction=0.1, test_fraction=0.1), seed=0)
    n = sum(len(sp) for sp in task.splits.values())
    assert 0.9 * 990 < n < 990 and 0.08 * n < len(task.splits["test"]) < 0.12 * n  # only block edges dropped
    spans = {name: [(i.split(":")[0], *map(int, i.split(":")[1].split("-"))) for i in split.ids]
             for name, split in task.splits.items()}
    assert spans["test"] and spans["valid"] and spans["train"]
    for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
        assert not [(x, y) for x in spans[a] for y in spans[b] if x[0] == y[0] and x[1] < y[2] and y[1] < x[2]], (a, b)
    assert "overlapping a" in capsys.readouterr().err
    check_no_overlap(task, coordinates=True)


def test_bad_characters_and_labels_are_found_when_reading(tmp_path):
    fa = tmp_path / "a.fa"
    fa.write_text(">ok\nACGTACGT\n>dash\nACGT-ACGT\n")
    write_fasta(tmp_path / "b.fa", ["ACGTACGTAA"] * 3, "b")
    with pytest.raises(InputError, match=r"a\.fa.*unknown character '-' at position 5"):
        load_task(config({"format": "fasta_per_class", "train": {"a": str(fa), "b": str(tmp_path / "b.fa")}}), seed=0)
    csv = tmp_path / "nt.csv"
    csv.write_text("\ufeffsequence,label\nACGTACGT,0\nACGTACGA,\n")  # a spreadsheet's byte-order mark
    with pytest.raises(InputError, match=r"nt\.csv, line 3: class label '' is empty"):
        load_task(config({"format": "nucleotide_transformer", "train": str(csv)}), seed=0)


def test_nucleotide_transformer_csv_with_sequences_longer_than_csvs_default_field_limit(tmp_path):
    rng = np.random.default_rng(3)
    seqs = rand_seqs(rng, 6, 140_000)
    csv = tmp_path / "long.csv"
    csv.write_text("sequence,label\n" + "".join(f"{s},{i % 2}\n" for i, s in enumerate(seqs)))
    task = load_task(config({"format": "nucleotide_transformer", "train": str(csv)}, valid_fraction=0.0,
                            test_fraction=0.0), seed=0)
    assert task.max_length == 140_000


def _paths(value) -> list[str]:
    """Every string in a (nested) config block."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    return [p for v in value for p in _paths(v)] if isinstance(value, list) else []


def _shipped_tasks():
    import yaml

    from hyenadna_kipoi.workflow.derived import produced

    repo = Path(__file__).resolve().parents[1]
    for path in sorted([*repo.glob("config/*.yaml"), repo / ".test" / "config.yaml"]):
        raw = yaml.safe_load(path.read_text()) or {}
        made = produced(raw)  # inputs the workflow makes (data package, derived tasks): nothing to load yet
        if "task" in raw:
            yield pytest.param(path, raw, id=path.name)
        for section in ("finetune", "icl"):
            for name, block in (raw.get(section) or {}).items():
                marks = ()
                if any(p in made for p in _paths(block)):
                    marks = pytest.mark.skip(reason="its input is made by the workflow; tests/test_workflow_arabidopsis.py "
                                                    "runs such tasks end to end on the .test config")
                yield pytest.param(path, {**block, "out_dir": "unused"}, id=f"{path.name}:{section}.{name}", marks=marks)


@pytest.mark.parametrize("path, block", list(_shipped_tasks()))
def test_every_shipped_task_loads(path, block, monkeypatch):
    """A shipped config whose task cannot be built would fail only after hours of pretraining."""
    monkeypatch.chdir(Path(__file__).resolve().parents[1])
    cfg = validate_finetune_config(block, str(path))
    task = load_task(cfg, seed=cfg["seed"], source=str(path))
    assert all(len(task.splits[s]) for s in ("train", "valid", "test"))


def test_species_split_by_contig_for_fragmented_assemblies(tmp_path):
    """30 contigs of 8 kb: 10 % regions of a contig cannot hold a 1,024-bp window, whole contigs can."""
    rng = np.random.default_rng(8)
    genomes = {}
    for g in ("a", "b"):
        path = tmp_path / f"{g}.fa"
        path.write_text("".join(f">{g}{i}\n{rand_seqs(rng, 1, 8000)[0]}\n" for i in range(30)))
        genomes[g] = str(path)
    spec = {"format": "species", "genomes": genomes, "window": 1024, "windows": {"train": 40, "valid": 5, "test": 5}}
    with pytest.raises(InputError, match="found only 0 of 5 valid windows"):
        load_task(config(spec), seed=0)
    task = load_task(config({**spec, "split_by": "contig"}), seed=0)
    contigs = {s: {i.split("/")[1].split(":")[0] for i in sp.ids} for s, sp in task.splits.items()}
    assert all(contigs.values()) and not (contigs["train"] & contigs["valid"] or contigs["train"] & contigs["test"]
                                          or contigs["valid"] & contigs["test"])
    assert len(task.splits["test"]) == 10
    two = tmp_path / "two.fa"
    two.write_text(">x\n" + "ACGT" * 600 + "\n>y\n" + "ACGT" * 600 + "\n")
    with pytest.raises(InputError, match="split_by 'contig' needs at least 3 contigs"):
        load_task(config({**spec, "genomes": {"a": genomes["a"], "two": str(two)}, "split_by": "contig"}), seed=0)

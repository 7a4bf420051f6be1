"""Fine-tuning evaluation: metrics against hand-computed values, the k-mer baseline, plots, config schema."""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import numpy as np
import pytest

from hyenadna_kipoi.errors import ConfigError
from hyenadna_kipoi.finetune.config import dump_config, load_finetune_config, validate_finetune_config
from hyenadna_kipoi.finetune.evaluate import (compute_metrics, default_metric, higher_is_better, plot_confusion, plot_roc,
                                              write_metrics_tsv)
from hyenadna_kipoi.finetune.inputs import load_task
from hyenadna_kipoi.finetune.kmer_baseline import KmerBaseline, fit_kmer_baseline, kmer_features
from hyenadna_kipoi.finetune.task import Split, TaskData

REPO = Path(__file__).resolve().parents[1]
PEAKS = REPO / "data" / "peaks"


# --------------------------------------------------------------------------- metrics


def test_binary_metrics_by_hand():
    scores = np.array([[0.9, 0.1], [0.4, 0.6], [0.6, 0.4], [0.1, 0.9]])
    m = compute_metrics("classification", np.array([0, 0, 1, 1]), scores, ["neg", "pos"])
    # predictions 0 1 0 1: one of each outcome
    assert m["accuracy"] == 0.5 and m["mcc"] == 0.0 and m["macro_f1"] == 0.5
    assert m["auroc"] == pytest.approx(0.75)  # positives .4 .9 vs negatives .1 .6: 3 of 4 pairs ordered
    assert m["auprc"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)  # ranks: pos, neg, pos, neg


def test_multiclass_metrics_skip_an_absent_class():
    scores = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]])
    m = compute_metrics("classification", np.array([0, 0, 1, 1]), scores, ["a", "b", "c"])
    assert m["accuracy"] == 0.5  # predictions 0 1 1 2
    assert m["auroc"] == pytest.approx((1.0 + 0.75) / 2)  # class c never occurs: left out, no exception
    one_class = compute_metrics("classification", np.array([1, 1]), np.array([[0.2, 0.8], [0.6, 0.4]]), ["a", "b"])
    assert math.isnan(one_class["auroc"]) and one_class["accuracy"] == 0.5


def test_multilabel_and_regression_metrics_by_hand():
    y = np.array([[1, 0], [0, 0], [1, 0], [0, 0]], dtype=np.float32)
    s = np.array([[0.9, 0.5], [0.2, 0.1], [0.3, 0.2], [0.4, 0.3]])
    m = compute_metrics("multilabel", y, s, ["ctcf", "pol2"])
    assert m["auroc_ctcf"] == pytest.approx(0.75) and math.isnan(m["auroc_pol2"])  # pol2 has no positive
    assert m["auroc"] == pytest.approx(0.75) and m["auprc"] == m["auprc_ctcf"]
    r = compute_metrics("regression", np.array([[1.0], [2], [3], [4]]), np.array([[2.0], [2], [4], [4]]), ["x"])
    assert r["mse"] == pytest.approx(0.5)
    assert r["pearson"] == pytest.approx(4 / math.sqrt(20))  # cov 4, var 5 and 4
    assert r["spearman"] == pytest.approx(4 / math.sqrt(20))  # ranks 1.5 1.5 3.5 3.5
    assert r["r2"] == pytest.approx(1 - 2 / 5)
    two = compute_metrics("regression", np.array([[1.0, 1], [2, 1], [3, 1]]), np.array([[1.0, 0], [2, 1], [3, 2]]), ["a", "b"])
    assert two["pearson_a"] == pytest.approx(1.0) and math.isnan(two["pearson_b"]) and two["pearson"] == pytest.approx(1.0)


def test_default_metrics_and_direction():
    assert [default_metric(k) for k in ("classification", "multilabel", "regression")] == ["mcc", "auroc", "pearson"]
    assert not higher_is_better("mse") and not higher_is_better("valid_loss") and not higher_is_better("loss")
    assert higher_is_better("mcc") and higher_is_better("auroc_ctcf") and higher_is_better("valid_pearson")


# --------------------------------------------------------------------------- k-mer baseline


def gc_task(rng, n=80, length=120) -> TaskData:
    def seqs(p_gc, count):
        p = [(1 - p_gc) / 2, p_gc / 2, p_gc / 2, (1 - p_gc) / 2]
        return ["".join(rng.choice(list("ACGT"), size=length, p=p)) for _ in range(count)]

    splits = {}
    for split, count in (("train", n), ("valid", 0), ("test", n // 2)):
        at, gc = seqs(0.4, count // 2), seqs(0.6, count // 2)
        splits[split] = Split([f"{split}{i}" for i in range(count)], at + gc,
                              np.array([0] * (count // 2) + [1] * (count // 2), dtype=np.int64))
    return TaskData("gc", "classification", ["at_rich", "gc_rich"], splits)


def test_kmer_features_are_per_k_frequencies():
    x = kmer_features(["ACGTN", "AAAA", "aaaa"], [1, 2])
    assert x.shape == (3, 4 + 16)
    assert x[0, :4].tolist() == [0.25] * 4  # N not counted
    assert x[0, 4 + 1] == pytest.approx(1 / 3) and x[0, 4 + 6] == pytest.approx(1 / 3)  # AC, CG (GT too)
    assert x[1, 0] == 1.0 and x[1, 4] == 1.0 and np.array_equal(x[1], x[2])
    assert np.allclose(x[:, :4].sum(1), 1) and np.allclose(x[:, 4:].sum(1), 1)


def test_kmer_baseline_beats_chance_on_gc_content():
    task = gc_task(np.random.default_rng(0))
    baseline = fit_kmer_baseline(task, ks=[1, 2, 3], C=0.1, seed=0)
    scores = baseline.scores(task.splits["test"].sequences)
    assert scores.shape == (40, 2) and np.allclose(scores.sum(1), 1)
    m = compute_metrics("classification", task.splits["test"].targets, scores, task.labels)
    assert m["accuracy"] >= 0.9 and m["auroc"] >= 0.95


def test_kmer_baseline_multilabel_and_regression():
    rng = np.random.default_rng(1)
    task = gc_task(rng, n=100)
    seqs, test = task.splits["train"].sequences, task.splits["test"].sequences
    gc = np.array([(s.count("G") + s.count("C")) / len(s) for s in seqs])
    reg = KmerBaseline("regression", ["gc"], ks=[1, 2], C=1.0).fit(seqs, gc[:, None])
    pred = reg.scores(test)
    truth = np.array([(s.count("G") + s.count("C")) / len(s) for s in test])
    assert pred.shape == (len(test), 1) and compute_metrics("regression", truth[:, None], pred, ["gc"])["pearson"] > 0.95
    targets = np.stack([gc > 0.5, np.zeros(len(seqs), bool)], 1).astype(np.float32)  # second target never on
    ml = KmerBaseline("multilabel", ["gc_high", "never"], ks=[1, 2], C=0.1).fit(seqs, targets)
    p = ml.scores(test)
    assert p.shape == (len(test), 2) and np.all(p[:, 1] == 0.0)
    assert compute_metrics("multilabel", np.stack([truth > 0.5, truth < 0], 1), p, ["gc_high", "never"])["auroc"] > 0.9


def test_kmer_baseline_on_the_peak_sets():
    cfg = validate_finetune_config({"out_dir": "o", "task": {"name": "peaks", "kind": "classification", "input": {
        "format": "fasta_per_class",
        "train": {"set_a": str(PEAKS / "set_a_train.fa"), "set_b": str(PEAKS / "set_b_train.fa")},
        "test": {"set_a": str(PEAKS / "set_a_test.fa"), "set_b": str(PEAKS / "set_b_test.fa")}},
        "valid_fraction": 0.0}}, "peaks")
    task = load_task(cfg, seed=0)  # the whole train files (no validation carved out)
    assert len(task.splits["test"]) == 200 and len(task.splits["train"]) == 7797
    start = time.perf_counter()
    baseline = fit_kmer_baseline(task, seed=0)  # k = 1..6, C = 1 (the config defaults)
    test = task.splits["test"]
    m = compute_metrics("classification", test.targets, baseline.scores(test.sequences), task.labels)
    print("k-mer baseline on peaks (set_a vs set_b), test split: " + ", ".join(f"{k} {v:.3f}" for k, v in m.items())
          + f" ({time.perf_counter() - start:.1f} s)")
    assert m["auroc"] > 0.85 and m["accuracy"] > 0.75  # measured 0.936 / 0.850


# --------------------------------------------------------------------------- plots and tables


def test_plots_are_written_atomically(tmp_path):
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, size=60)
    model = np.eye(3)[y] * 0.6 + rng.random((60, 3)) * 0.4
    base = rng.random((60, 3))
    model, base = model / model.sum(1, keepdims=True), base / base.sum(1, keepdims=True)
    plot_confusion(y, model, ["a", "b", "c"], tmp_path / "confusion.png", "test")
    plot_roc({"hyenadna": (y, model), "kmer_baseline": (y, base)}, ["a", "b", "c"], tmp_path / "roc.png", "test")
    yb = (y > 0).astype(int)
    plot_roc({"hyenadna": (yb, np.stack([1 - model[:, 0], model[:, 0]], 1))}, ["x", "y"], tmp_path / "roc2.png", "bin")
    ml = np.stack([y == 0, y == 1], 1).astype(np.float32)
    plot_roc({"m": (ml, model[:, :2])}, ["t0", "t1"], tmp_path / "roc3.png", "ml")
    for name in ("confusion.png", "roc.png", "roc2.png", "roc3.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["confusion.png", "roc.png", "roc2.png", "roc3.png"]


def test_metrics_tsv_round_trip(tmp_path):
    rows = [("test", "hyenadna", "mcc", 0.5), {"split": "test", "method": "kmer_baseline", "metric": "auroc", "value": math.nan}]
    write_metrics_tsv(rows, tmp_path / "m.tsv")
    with open(tmp_path / "m.tsv") as handle:
        read = list(csv.reader(handle, delimiter="\t"))
    assert read == [["split", "method", "metric", "value"], ["test", "hyenadna", "mcc", "0.5"],
                    ["test", "kmer_baseline", "auroc", "nan"]]


# --------------------------------------------------------------------------- config schema


MINIMAL = {"out_dir": "o", "task": {"name": "peaks", "kind": "classification",
                                    "input": {"format": "fasta_per_class", "train": {"a": "a.fa", "b": "b.fa"}}}}


def test_config_defaults_are_filled():
    cfg = validate_finetune_config(MINIMAL, "c.yaml")
    assert cfg["seed"] == 0 and cfg["device"] == "auto"
    assert cfg["task"]["valid_fraction"] == 0.1 and cfg["task"]["labels"] is None and cfg["task"]["max_train"] is None
    assert cfg["task"]["input"]["test"] is None and cfg["task"]["input"]["valid"] is None
    assert cfg["model"] == {"init": None, "architecture": {"d_model": 128, "n_layer": 2, "max_seq_len": 1026},
                            "pooling": "mean", "freeze_backbone": False}
    assert cfg["soft_prompt"] == {"length": 0, "label_mode": "head", "init": "vocab"}
    assert cfg["train"]["lr"] == 6e-4 and cfg["train"]["batch_size"] == 128 and cfg["train"]["micro_batch_size"] == 32
    assert cfg["train"]["early_stopping"] == {"metric": "mcc", "patience": 3}  # auto resolved by kind
    assert cfg["baseline"]["kmer"] == {"enabled": True, "k": [1, 2, 3, 4, 5, 6], "C": 1.0, "max_iter": 2000}
    assert cfg["icl"] == {"shots": 4, "queries": 200, "instruction_tuning": {"steps": 0, "lr": 1e-4}}
    assert MINIMAL["task"]["input"].get("test", "absent") == "absent"  # the input is not modified
    species = validate_finetune_config({**MINIMAL, "task": {**MINIMAL["task"], "input": {
        "format": "species", "genomes": {"a": "a.fa", "b": ["b1.fa", "b2.fa"]}}}})
    assert species["task"]["input"]["window"] == 1024
    assert species["task"]["input"]["windows"] == {"train": 200, "valid": 40, "test": 40}


def test_config_file_errors_name_key_and_file(tmp_path):
    path = tmp_path / "ft.yaml"
    path.write_text("out_dir: o\ntask:\n  name: t\n  kind: classification\n  input: {format: species, genomes: {a: x}, "
                    "windos: 3}\ntrain: {lr: 3e-4}\n")
    with pytest.raises(ConfigError, match=r"ft\.yaml: unknown config key task\.input\.windos; allowed keys under "
                                          r"task\.input: format, genomes, max_n_fraction, split_by, window, windows"):
        load_finetune_config(path)
    path.write_text("out_dir: o\ntask:\n  name: t\n  kind: classification\n  input: {format: species, genomes: {a: x}}\n"
                    "train: {lr: 3e-4, epoch: 2}\n")
    with pytest.raises(ConfigError, match=r"ft\.yaml: unknown config key train\.epoch; allowed keys under train: .*epochs"):
        load_finetune_config(path)
    path.write_text("out_dir: o\ntask:\n  name: t\n  kind: classification\n  input: {format: species, genomes: {a: x}}\n"
                    "train: {lr: 3e-4}\n")
    cfg = load_finetune_config(path)
    assert cfg["train"]["lr"] == pytest.approx(3e-4)  # a float, not YAML 1.1's string
    assert load_finetune_config(path) == validate_finetune_config(__import__("yaml").safe_load(dump_config(cfg)))
    with pytest.raises(ConfigError, match="no such config file"):
        load_finetune_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize("change, message", [
    ({"model": {"pooling": "max"}}, r"config key model\.pooling: 'max' is not one of \['mean', 'last'\]"),
    ({"task": {"kind": "ordinal"}}, r"config key task\.kind: 'ordinal' is not one of"),
    ({"task": {"input": {"format": "vcf"}}}, r"config key task\.input\.format: 'vcf' is not one of \['fasta_per_class'"),
    ({"soft_prompt": {"label_mode": "prompt"}}, r"config key soft_prompt\.label_mode: 'prompt' is not one of"),
    ({"train": {"precision": "fp8"}}, r"config key train\.precision: 'fp8' is not one of"),
    ({"task": {"valid_fraction": 0.6, "test_fraction": 0.5}}, r"config key task\.valid_fraction \+ task\.test_fraction must be < 1, got 0\.6 \+ 0\.5"),
])
def test_config_bad_values(change, message):
    raw = {**MINIMAL, **{k: v for k, v in change.items() if k != "task"}}
    if "task" in change:
        raw["task"] = {**MINIMAL["task"], **change["task"]}
    with pytest.raises(ConfigError, match=r"c\.yaml: " + message):
        validate_finetune_config(raw, "c.yaml")


def test_metrics_are_written_as_strict_json():
    import json

    from hyenadna_kipoi.finetune.evaluate import json_safe

    value = {"auroc": float("nan"), "per": [0.5, float("nan")], "n": {"test": 3}}
    assert json_safe(value) == {"auroc": None, "per": [0.5, None], "n": {"test": 3}}
    json.dumps(json_safe(value), allow_nan=False)  # raises on NaN

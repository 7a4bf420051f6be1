"""Fine-tuning: heads, the trainer (every head kind x pooling), outputs, resume, freezing, predict, export.

Tiny models (d_model 16-32, 1-2 layers) on synthetic tasks a linear probe of base composition
solves (GC-rich vs AT-rich sequences; GC fraction as the regression target), so a few dozen
optimizer steps must learn them. The k-mer baseline is off except where its output is checked.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from hyenadna_kipoi import HyenaConfig, HyenaDNA, load_model, save_model
from hyenadna_kipoi.cli import main as hyenadna
from hyenadna_kipoi.errors import CheckpointError, ConfigError, InputError
from hyenadna_kipoi.fast_path import compute_dtype
from hyenadna_kipoi.finetune.batches import encode_left_padded, plan_epoch
from hyenadna_kipoi.finetune.predict import predict_sequences
from hyenadna_kipoi.finetune.trainer import finetune
from hyenadna_kipoi.heads import Head, load_head, save_head
from hyenadna_kipoi.tokenizer import PAD, encode
from hyenadna_kipoi.train.init import init_weights

TINY = {"d_model": 16, "n_layer": 1, "max_seq_len": 128, "filter_order": 16, "embed_dropout": 0.0}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --------------------------------------------------------------------------- synthetic data


def random_seq(rng: np.random.Generator, n: int, gc: float) -> str:
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    return "".join(rng.choice(list("ACGT"), size=n, p=p))


def write_fasta(path: Path, seqs: list[str], prefix: str) -> Path:
    path.write_text("".join(f">{prefix}{i}\n{s}\n" for i, s in enumerate(seqs)))
    return path


def class_files(tmp: Path, gcs: dict[str, float], n: int, seed: int = 0, lengths=(48, 49)) -> dict[str, str]:
    """One FASTA per class; class c's sequences have GC content gcs[c] and lengths in ``lengths``."""
    rng = np.random.default_rng(seed)
    files = {}
    for label, gc in gcs.items():
        seqs = [random_seq(rng, int(rng.integers(*lengths)), gc) for _ in range(n)]
        files[label] = str(write_fasta(tmp / f"{label}.fa", seqs, f"{label}_"))
    return files


def config(tmp: Path, task: dict, **sections) -> dict:
    cfg = {
        "out_dir": str(tmp / "out"), "seed": 3, "device": "cpu", "task": task,
        "model": {"init": None, "architecture": dict(TINY), "pooling": "mean"},
        "train": {"lr": 3e-3, "batch_size": 16, "micro_batch_size": 8, "epochs": 4, "warmup_fraction": 0.1,
                  "weight_decay": 0.0, "precision": "fp32", "early_stopping": {"patience": None}},
        "baseline": {"kmer": {"enabled": False}},
    }
    for key, value in sections.items():
        cfg[key] = {**cfg.get(key, {}), **value}
    return cfg


def binary_task(tmp: Path, n: int = 48, lengths=(48, 49), **extra) -> dict:
    files = class_files(tmp, {"at": 0.25, "gc": 0.75}, n, lengths=lengths)
    return {"name": "gc", "kind": "classification", "valid_fraction": 0.2, "test_fraction": 0.2,
            "input": {"format": "fasta_per_class", "train": files}, **extra}


def multiclass_task(tmp: Path) -> dict:
    return {"name": "gc3", "kind": "classification", "valid_fraction": 0.2, "test_fraction": 0.2,
            "input": {"format": "fasta_per_class", "train": class_files(tmp, {"low": 0.1, "mid": 0.5, "high": 0.9}, 40)}}


def regression_task(tmp: Path, n: int = 120) -> dict:
    rng = np.random.default_rng(5)
    rows = ["name,sequence,label"]
    for i in range(n):
        gc = float(rng.uniform(0.1, 0.9))
        seq = random_seq(rng, 48, gc)
        rows.append(f"r{i},{seq},{(seq.count('G') + seq.count('C')) / len(seq):.4f}")
    (tmp / "reg.csv").write_text("\n".join(rows) + "\n")
    return {"name": "gcfrac", "kind": "regression", "valid_fraction": 0.2, "test_fraction": 0.2,
            "input": {"format": "nucleotide_transformer", "train": str(tmp / "reg.csv")}}


def multilabel_task(tmp: Path, n: int = 120) -> dict:
    """Windows of a synthetic genome: target ``gc`` = GC-rich window, ``purine`` = A/G-rich window."""
    rng = np.random.default_rng(7)
    chroms, bed = {}, ["chrom\tstart\tend\tgc\tpurine"]
    for c in ("chr1", "chr2", "chr3"):
        parts = []
        for i in range(n // 3):
            gc, pur = int(rng.integers(2)), int(rng.integers(2))
            strong, weak = ("GC" if gc else "AT"), ("AT" if gc else "GC")
            probs = {b: (0.4 if b in strong else 0.1) for b in "ACGT"}
            for b in "AG":  # purine-rich: shift mass to A and G within each strength class
                probs[b] *= 3.0 if pur else 0.33
            p = np.array([probs[b] for b in "ACGT"])
            parts.append("".join(rng.choice(list("ACGT"), size=48, p=p / p.sum())))
            bed.append(f"{c}\t{i * 48}\t{(i + 1) * 48}\t{gc}\t{pur}")
        chroms[c] = "".join(parts)
    (tmp / "genome.fa").write_text("".join(f">{c}\n{s}\n" for c, s in chroms.items()))
    (tmp / "labels.bed").write_text("\n".join(bed) + "\n")
    return {"name": "multi", "kind": "multilabel",
            "input": {"format": "bed", "bed": str(tmp / "labels.bed"), "fasta": str(tmp / "genome.fa"),
                      "valid_chroms": ["chr2"], "test_chroms": ["chr3"]}}


def read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path) as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def tiny_model_folder(tmp: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    return save_model(init_weights(HyenaDNA(HyenaConfig(**TINY))), tmp / "init")


# --------------------------------------------------------------------------- heads


def test_mask_pooling_of_a_left_padded_batch_equals_pooling_each_sequence_alone():
    torch.manual_seed(0)
    lengths = [7, 3, 5]
    alone = [torch.randn(n, 8) for n in lengths]
    padded = torch.randn(3, 7, 8) * 100  # garbage at the pad positions must not leak in
    mask = torch.zeros(3, 7, dtype=torch.bool)
    for i, h in enumerate(alone):
        padded[i, 7 - len(h):] = h
        mask[i, 7 - len(h):] = True
    for pooling in ("mean", "last"):
        head = Head("regression", ["y"], pooling, weight=torch.ones(1, 8), bias=torch.zeros(1))
        got = head.pool(padded, mask)
        want = torch.stack([h.mean(0) if pooling == "mean" else h[-1] for h in alone])
        torch.testing.assert_close(got, want)
    # right padding too: "last" is the last real position, not position -1
    right = torch.zeros(1, 5, 8)
    right[0, :2] = alone[1][:2]
    head = Head("regression", ["y"], "last", weight=torch.ones(1, 8), bias=torch.zeros(1))
    torch.testing.assert_close(head.pool(right, torch.tensor([[True, True, False, False, False]])), alone[1][1:2])


def test_the_trainer_left_pads_with_pad_tokens_and_buckets_steps_by_length():
    ids = encode_left_padded(["ACGT", "AC"], reverse=np.array([False, True]))
    assert ids.tolist() == [encode("ACGT").tolist(), [PAD, PAD] + encode("GT").tolist()]
    lengths = list(range(10, 74))
    plan = plan_epoch(lengths, 8, seed=1, epoch=0)
    assert sorted(int(i) for step in plan for i in step) == list(range(64))  # each sequence once per epoch
    assert all(max(lengths[i] for i in s) - min(lengths[i] for i in s) == 7 for s in plan)  # sorted pools
    assert [s.tolist() for s in plan] == [s.tolist() for s in plan_epoch(lengths, 8, seed=1, epoch=0)]
    assert [s.tolist() for s in plan] != [s.tolist() for s in plan_epoch(lengths, 8, seed=1, epoch=1)]


def test_head_outputs_per_task_and_file_round_trip(tmp_path):
    torch.manual_seed(0)
    hidden = torch.randn(2, 5, 4)
    w, b = torch.randn(3, 4), torch.randn(3)
    logits = hidden.mean(1) @ w.T + b
    for task, act in (("classification", torch.softmax(logits, -1)), ("multilabel", torch.sigmoid(logits)),
                      ("regression", logits)):
        head = Head(task, ["b", "a", "7"], "mean", weight=w, bias=b)
        torch.testing.assert_close(head.outputs(hidden), act)
        save_head(head, tmp_path / task)
        back = load_head(tmp_path / task, 4)
        assert (back.task, back.labels, back.pooling, back.label_mode, back.prompt_length) == (task, ["b", "a", "7"], "mean", "head", 0)
        assert back.columns == ["b", "a", "class_7"]
        torch.testing.assert_close(back.outputs(hidden), act)
    token = Head("classification", ["x", "y"], "last", "token", prompt=torch.randn(3, 4))
    save_head(token, tmp_path / "token")
    assert set(load_file(tmp_path / "token" / "head.safetensors")) == {"prompt"}
    assert load_head(tmp_path / "token", 4).prompt_length == 3
    with pytest.raises(CheckpointError, match=r"expected weight \[3, 8\]"):
        load_head(tmp_path / "regression", 8)
    (tmp_path / "regression" / "head.json").write_text(json.dumps({"task": "ranking", "labels": ["a"]}))
    with pytest.raises(ConfigError, match="task 'ranking' is not one of"):
        load_head(tmp_path / "regression", 4)
    with pytest.raises(ConfigError, match="label_mode 'token' needs a classification task with at most 4"):
        Head("classification", list("abcde"), "last", "token")


def test_load_model_attaches_the_head_without_changing_the_state_dict(tmp_path):
    folder = tiny_model_folder(tmp_path)
    plain = load_model(folder)
    assert plain.head is None
    save_head(Head("classification", ["n", "p"], "last", weight=torch.randn(2, 16), bias=torch.randn(2)), folder)
    model = load_model(folder)
    assert isinstance(model.head, Head) and model.head.labels == ["n", "p"]
    assert list(model.state_dict()) == list(plain.state_dict())


# --------------------------------------------------------------------------- training: every kind x pooling


def _learned(out: Path, kind: str) -> dict:
    metrics = json.loads((out / "metrics.json").read_text())
    history = read_tsv_csv(out / "history.csv")
    assert float(history[-1]["train_loss"]) < float(history[0]["train_loss"])  # the loss falls
    return metrics["model"]["test"]


def read_tsv_csv(path: Path) -> list[dict[str, str]]:
    with open(path) as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("pooling", ["mean", "last"])
@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel", "regression"])
def test_every_head_and_pooling_learns_a_separable_task(tmp_path, kind, pooling):
    task = {"binary": binary_task, "multiclass": multiclass_task, "multilabel": multilabel_task,
            "regression": regression_task}[kind](tmp_path)
    # "last" pooling sees one position: a causal model needs more steps to gather composition there;
    # purine richness is strand-specific, so the multilabel task trains without reverse complements
    cfg = config(tmp_path, task, model={"pooling": pooling},
                 train={"epochs": 6 if pooling == "mean" else 16, "rc_augment": kind != "multilabel"})
    finetune(cfg, progress=False)
    test = _learned(tmp_path / "out", kind)
    if kind == "binary":
        assert test["accuracy"] >= 0.8 and test["auroc"] >= 0.85
    elif kind == "multiclass":
        assert test["accuracy"] >= 0.7
    elif kind == "multilabel":
        assert test["auroc"] >= 0.75
    else:
        assert test["pearson"] >= 0.7
    head = json.loads((tmp_path / "out" / "model" / "head.json").read_text())
    assert head["pooling"] == pooling and head["task"] == ("regression" if kind == "regression" else
                                                           "multilabel" if kind == "multilabel" else "classification")


# --------------------------------------------------------------------------- outputs, reload, predict


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One binary run with every output (baseline on, labels declared in a non-sorted order)."""
    tmp = tmp_path_factory.mktemp("trained")
    task = binary_task(tmp, lengths=(40, 64), labels=["gc", "at"])  # unequal lengths: padded batches
    cfg = config(tmp, task, baseline={"kmer": {"enabled": True, "k": [1, 2, 3]}}, train={"epochs": 5})
    metrics = finetune(cfg, progress=False)
    return tmp, cfg, metrics


def test_a_run_writes_every_output_of_the_contract(trained, capsys):
    tmp, cfg, metrics = trained
    out = tmp / "out"
    for name in ("model/config.json", "model/model.safetensors", "model/head.json", "model/head.safetensors",
                 "metrics.json", "metrics.tsv", "predictions.tsv", "history.csv", "confusion.png", "roc.png",
                 "splits.tsv"):
        assert (out / name).exists(), name
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    assert saved["labels"] == ["gc", "at"] and saved["kind"] == "classification" and saved["init"] is None
    assert set(saved["n"]) == {"train", "valid", "test"} and sum(saved["n"].values()) == 96
    assert {"accuracy", "mcc", "auroc"} <= set(saved["model"]["test"]) and saved["baseline"]["k"] == [1, 2, 3]
    assert saved["baseline"]["test"]["accuracy"] > 0.8  # composition is what the 1-mers see
    assert 1 <= saved["best_step"] <= saved["steps"]
    rows = read_tsv(out / "predictions.tsv")
    assert len(rows) == saved["n"]["test"]
    assert list(rows[0]) == ["id", "split", "true", "predicted", "p_gc", "p_at"]
    assert all(r["true"] == r["id"].split("_")[0] for r in rows)  # ids are the FASTA names (class prefix)
    acc = np.mean([r["true"] == r["predicted"] for r in rows])
    assert acc == pytest.approx(saved["model"]["test"]["accuracy"])
    splits = read_tsv(out / "splits.tsv")
    assert {(r["split"], r["label"]) for r in splits} == {(s, c) for s in ("train", "valid", "test") for c in ("gc", "at")}
    assert sum(int(r["count"]) for r in splits) == 96
    tsv = read_tsv(out / "metrics.tsv")
    assert {r["method"] for r in tsv} == {"hyenadna", "kmer_baseline"}
    history = read_tsv_csv(out / "history.csv")
    assert list(history[0]) == ["step", "epoch", "lr", "train_loss", "valid_loss", "valid_mcc"]


def test_saved_model_reloads_with_its_head_and_predicts_as_in_memory(trained):
    tmp, cfg, metrics = trained
    model = load_model(tmp / "out" / "model")
    assert model.head.labels == ["gc", "at"] and model.head.task == "classification"
    rows = read_tsv(tmp / "out" / "predictions.tsv")
    seqs = {}
    for path in cfg["task"]["input"]["train"].values():
        for line in Path(path).read_text().split(">")[1:]:
            name, seq = line.split("\n")[:2]
            seqs[name] = seq
    ids = [r["id"] for r in rows]
    probs = predict_sequences(model, model.head, [seqs[i] for i in ids], ids)
    np.testing.assert_allclose(probs, [[float(r["p_gc"]), float(r["p_at"])] for r in rows], rtol=1e-4, atol=1e-5)


def test_predict_cli_on_fasta_and_on_bed_with_genome(trained, tmp_path, capsys):
    tmp, _, _ = trained
    model_dir = tmp / "out" / "model"
    rng = np.random.default_rng(9)
    seqs = [random_seq(rng, 50, 0.8), random_seq(rng, 30, 0.2)]
    write_fasta(tmp_path / "q.fa", seqs, "q")
    assert hyenadna(["predict", str(model_dir), "--fasta", str(tmp_path / "q.fa"), "--out", str(tmp_path / "p.tsv"),
                     "--quiet"]) == 0
    rows = read_tsv(tmp_path / "p.tsv")
    assert list(rows[0]) == ["id", "p_gc", "p_at", "predicted"] and [r["id"] for r in rows] == ["q0", "q1"]
    model = load_model(model_dir)
    want = predict_sequences(model, model.head, seqs)
    np.testing.assert_allclose([[float(r["p_gc"]), float(r["p_at"])] for r in rows], want, rtol=1e-4, atol=1e-5)
    assert [r["predicted"] for r in rows] == [["gc", "at"][int(np.argmax(p))] for p in want]

    write_fasta(tmp_path / "genome.fa", ["".join(seqs)], "chrQ")
    (tmp_path / "q.bed").write_text("chrQ0\t0\t50\tfirst\t0\t+\nchrQ0\t50\t80\tsecond\t0\t-\n")
    assert hyenadna(["predict", str(model_dir), "--bed", str(tmp_path / "q.bed"), "--genome", str(tmp_path / "genome.fa"),
                     "--out", str(tmp_path / "b.tsv"), "--quiet"]) == 0
    rows = read_tsv(tmp_path / "b.tsv")
    from hyenadna_kipoi.tokenizer import reverse_complement

    want = predict_sequences(model, model.head, [seqs[0], reverse_complement(seqs[1])])
    assert [r["id"] for r in rows] == ["first", "second"]
    np.testing.assert_allclose([[float(r["p_gc"]), float(r["p_at"])] for r in rows], want, rtol=1e-4, atol=1e-5)

    # a header without '#', no name column, intervals recentred as the task's `length` did
    (tmp_path / "h.bed").write_text("chrom\tstart\tend\tlabel\nchrQ0\t20\t30\tgc\n")
    assert hyenadna(["predict", str(model_dir), "--bed", str(tmp_path / "h.bed"), "--genome", str(tmp_path / "genome.fa"),
                     "--length", "40", "--out", str(tmp_path / "h.tsv"), "--quiet"]) == 0
    rows = read_tsv(tmp_path / "h.tsv")
    want = predict_sequences(model, model.head, ["".join(seqs)[5:45]])  # centre 25, 40 bases
    assert [r["id"] for r in rows] == ["gc"]
    np.testing.assert_allclose([[float(r["p_gc"]), float(r["p_at"])] for r in rows], want, rtol=1e-4, atol=1e-5)


PREDICT_BF16_ATOL = 2e-5  # |p_bf16 - p_fp32| of the tiny classifier: measured 1.3e-6 (torch 2.13, an AMX CPU)


def test_predict_dtype_bfloat16_is_close_float32_stays_the_exact_default_and_the_head_runs_in_fp32(trained, tmp_path,
                                                                                                 capsys):
    tmp, _, _ = trained
    model_dir = tmp / "out" / "model"
    rng = np.random.default_rng(11)
    seqs = [random_seq(rng, 64, gc) for gc in (0.8, 0.5, 0.2)] + [random_seq(rng, 40, 0.6)]
    write_fasta(tmp_path / "q.fa", seqs, "q")
    tables = {}
    for name, extra in (("default", []), ("float32", ["--dtype", "float32"]), ("bfloat16", ["--dtype", "bfloat16"])):
        assert hyenadna(["predict", str(model_dir), "--fasta", str(tmp_path / "q.fa"), "--out",
                         str(tmp_path / f"{name}.tsv"), "--quiet", *extra]) == 0
        tables[name] = (tmp_path / f"{name}.tsv").read_text()
    assert tables["default"] == tables["float32"]
    probs = {name: np.array([[float(r["p_gc"]), float(r["p_at"])] for r in read_tsv(tmp_path / f"{name}.tsv")])
             for name in tables}
    assert not np.array_equal(probs["bfloat16"], probs["float32"])  # the CLI's --dtype bfloat16 really ran
    model = load_model(model_dir)
    want = predict_sequences(model, model.head, seqs)
    np.testing.assert_allclose(probs["float32"], want, rtol=0, atol=1e-6)  # the table's 6 significant digits
    with compute_dtype("bfloat16"):
        low = predict_sequences(model, model.head, seqs)
    np.testing.assert_allclose(probs["bfloat16"], low, rtol=0, atol=1e-6)
    assert low.dtype == np.float32 and 0 < np.abs(low - want).max() <= PREDICT_BF16_ATOL

    # the head reads the backbone's fp32 hidden states and runs in fp32: no bf16 rounding after the backbone
    ids = torch.from_numpy(encode(seqs[0]))[None]
    head = model.head
    with torch.inference_mode(), compute_dtype("bfloat16"):
        hidden = model.embed(ids)
        got = head.predict(model, ids)
    assert hidden.dtype == torch.float32 and got.dtype == torch.float32
    logits = hidden.double().mean(dim=1) @ head.weight.double().T + head.bias.double()
    torch.testing.assert_close(got.double(), torch.softmax(logits, dim=-1), rtol=0, atol=1e-6)

    with pytest.raises(SystemExit) as exit_info:
        hyenadna(["predict", str(model_dir), "--fasta", str(tmp_path / "q.fa"), "--out", str(tmp_path / "x.tsv"),
                  "--dtype", "float16"])
    assert exit_info.value.code == 2
    assert "--dtype: invalid choice: 'float16' (choose from" in capsys.readouterr().err


def test_predict_names_the_file_and_record_of_an_empty_sequence(trained, tmp_path, capsys):
    tmp, _, _ = trained
    fasta = tmp_path / "q.fa"
    fasta.write_text(">ok\nACGTACGT\n>blank\n")
    assert hyenadna(["predict", str(tmp / "out" / "model"), "--fasta", str(fasta), "--out", str(tmp_path / "p.tsv")]) == 2
    assert f"{fasta}: record 'blank' has no sequence" in capsys.readouterr().err
    assert not (tmp_path / "p.tsv").exists()


def test_predict_refuses_a_model_without_a_head(tmp_path, capsys):
    folder = tiny_model_folder(tmp_path)
    write_fasta(tmp_path / "q.fa", ["ACGT"], "q")
    assert hyenadna(["predict", str(folder), "--fasta", str(tmp_path / "q.fa"), "--out", str(tmp_path / "p.tsv")]) == 2
    err = capsys.readouterr().err
    assert "no head.json" in err and "hyenadna finetune" in err and not (tmp_path / "p.tsv").exists()


def test_export_kipoi_of_a_fine_tuned_classifier(trained, tmp_path):
    import h5py
    import yaml

    from hyenadna_kipoi.kipoi.export import EXPECT, export_model

    tmp, _, _ = trained
    done = export_model(tmp / "out" / "model", tmp_path / "kipoi")
    assert done.task == "classifier"
    md = yaml.safe_load((tmp_path / "kipoi" / "model.yaml").read_text())
    assert list(md["schema"]["targets"]) == ["gc", "at"]
    assert load_head(tmp_path / "kipoi" / "model", 16).labels == ["gc", "at"]
    with h5py.File(tmp_path / "kipoi" / EXPECT) as f:
        probs = np.stack([f["preds/gc"][:], f["preds/at"][:]], axis=1)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


# --------------------------------------------------------------------------- resume, freezing, errors


def test_resume_after_a_kill_reproduces_the_uninterrupted_run(tmp_path):
    task = binary_task(tmp_path, n=40)
    base = config(tmp_path, task, model={"architecture": {**TINY, "embed_dropout": 0.2}},  # dropout: RNG state matters
                  train={"epochs": 3, "eval_every": 2})
    whole = finetune({**base, "out_dir": str(tmp_path / "whole")}, progress=False)
    parts = {**base, "out_dir": str(tmp_path / "parts")}
    assert finetune(parts, progress=False, stop_after=5) == {"stopped_at": 5}
    with pytest.raises(InputError, match="pass --resume"):
        finetune(parts, progress=False)
    changed = {**parts, "train": {**parts["train"], "lr": 1e-3}}
    with pytest.raises(InputError, match="started with other settings"):
        finetune(changed, progress=False, resume=True)
    resumed = finetune(parts, progress=False, resume=True)
    whole.pop("wall_s"), resumed.pop("wall_s")
    assert resumed == whole
    a, b = (load_file(tmp_path / d / "model" / "model.safetensors") for d in ("whole", "parts"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "whole" / "history.csv").read_text() == (tmp_path / "parts" / "history.csv").read_text()
    assert (tmp_path / "whole" / "predictions.tsv").read_text() == (tmp_path / "parts" / "predictions.tsv").read_text()


def test_freeze_backbone_trains_only_the_head(tmp_path):
    init = tiny_model_folder(tmp_path)
    cfg = config(tmp_path, binary_task(tmp_path, n=24), model={"init": str(init), "architecture": {},
                                                               "freeze_backbone": True}, train={"epochs": 2})
    finetune(cfg, progress=False)
    before, after = load_file(init / "model.safetensors"), load_file(tmp_path / "out" / "model" / "model.safetensors")
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    head = load_file(tmp_path / "out" / "model" / "head.safetensors")
    assert head["weight"].shape == (2, 16) and head["weight"].abs().sum() > 0


@pytest.mark.parametrize("make_task", [binary_task, multiclass_task])
def test_linear_probe_head_is_the_standardised_logistic_regression(tmp_path, make_task):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from hyenadna_kipoi.finetune.inputs import load_task
    from hyenadna_kipoi.score.embeddings import embed_sequences

    init = tiny_model_folder(tmp_path)
    cfg = config(tmp_path, make_task(tmp_path), model={"init": str(init), "architecture": {}},
                 train={"method": "linear_probe", "probe_c": [0.5]})
    results = finetune(cfg, progress=False)
    out = tmp_path / "out"
    before, after = load_file(init / "model.safetensors"), load_file(out / "model" / "model.safetensors")
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert results["steps"] == 0 and results["best_step"] == 0 and 0 <= results["model"]["valid"]["mcc"] <= 1
    assert (out / "history.csv").read_text().splitlines()[1].startswith("0,0.0,0.0,")
    # the saved head gives the probabilities of the same regression fitted by scikit-learn
    task = load_task(cfg["task"], seed=cfg["seed"])
    train, test = task.splits["train"], task.splits["test"]
    model = load_model(init)
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=5000))
    probe.fit(embed_sequences(model, train.sequences, progress=False).astype(np.float64), train.targets)
    expected = probe.predict_proba(embed_sequences(model, test.sequences, progress=False).astype(np.float64))
    rows = {r["id"]: r for r in read_tsv(out / "predictions.tsv")}
    labels = [str(x) for x in task.labels]
    got = np.array([[float(rows[i][f"p_{label}"]) for label in labels] for i in test.ids])
    assert np.abs(got - expected).max() < 1e-4
    assert results["model"]["test"]["accuracy"] > 0.7  # the GC content of these classes is linearly separable


def test_linear_probe_needs_a_classification_task(tmp_path):
    cfg = config(tmp_path, regression_task(tmp_path), model={"init": str(tiny_model_folder(tmp_path)),
                                                             "architecture": {}}, train={"method": "linear_probe"})
    with pytest.raises(ConfigError, match="linear_probe .* needs a classification task; task 'gcfrac' is regression"):
        finetune(cfg, progress=False)


def test_soft_prompt_with_label_tokens_trains_only_the_prompt_and_reloads(tmp_path):
    init = tiny_model_folder(tmp_path)
    cfg = config(tmp_path, binary_task(tmp_path, n=24), model={"init": str(init), "architecture": {}},
                 soft_prompt={"length": 4, "label_mode": "token", "init": "vocab"}, train={"epochs": 2})
    finetune(cfg, progress=False)
    out = tmp_path / "out"
    before, after = load_file(init / "model.safetensors"), load_file(out / "model" / "model.safetensors")
    assert all(torch.equal(before[k], after[k]) for k in before)
    meta = json.loads((out / "model" / "head.json").read_text())
    assert meta["label_mode"] == "token" and meta["prompt_length"] == 4
    assert set(load_file(out / "model" / "head.safetensors")) == {"prompt"}
    model = load_model(out / "model")
    rows = read_tsv(out / "predictions.tsv")
    seqs = {}
    for path in cfg["task"]["input"]["train"].values():
        for line in Path(path).read_text().split(">")[1:]:
            name, seq = line.split("\n")[:2]
            seqs[name] = seq
    probs = predict_sequences(model, model.head, [seqs[r["id"]] for r in rows], [r["id"] for r in rows])
    np.testing.assert_allclose(probs, [[float(r["p_at"]), float(r["p_gc"])] for r in rows], rtol=1e-4, atol=1e-5)


def test_a_sequence_longer_than_l_max_is_a_clear_error(tmp_path):
    cfg = config(tmp_path, binary_task(tmp_path, n=12), model={"architecture": {**TINY, "max_seq_len": 40}})
    with pytest.raises(InputError, match=r"sequence \w+_\d+ \(48 bp, .* split of task .gc.\) is longer than the model context l_max \(40\)"):
        finetune(cfg, progress=False)
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_export_kipoi_of_a_regression_head_has_one_output_per_target(tmp_path):
    import yaml

    from hyenadna_kipoi.kipoi.export import export_model

    folder = tiny_model_folder(tmp_path)
    torch.manual_seed(1)
    save_head(Head("regression", ["signal", "width"], "last", weight=torch.randn(2, 16), bias=torch.randn(2)), folder)
    export_model(folder, tmp_path / "kipoi")
    md = yaml.safe_load((tmp_path / "kipoi" / "model.yaml").read_text())
    assert list(md["schema"]["targets"]) == ["signal", "width"]


def test_a_chromatin_profile_style_task_with_919_targets(tmp_path):
    """DeepSEA-shaped input: a BED with a header naming 919 0/1 columns on a reference; the head has one
    output per target and the metrics report every target that has both classes in the test split."""
    rng = np.random.default_rng(11)
    n_targets, rows, seqs = 919, [], {}
    names = [f"cell{i // 3}_mark{i % 3}" for i in range(n_targets)]
    for chrom in ("chr1", "chr2", "chr3"):
        gcs = rng.uniform(0.2, 0.8, size=16)
        seqs[chrom] = "".join(random_seq(rng, 40, gc) for gc in gcs)
        for i, gc in enumerate(gcs):
            labels = (rng.uniform(size=n_targets) < gc).astype(int)  # every target leans on GC content
            rows.append("\t".join([chrom, str(i * 40), str((i + 1) * 40), *map(str, labels)]))
    (tmp_path / "genome.fa").write_text("".join(f">{c}\n{s}\n" for c, s in seqs.items()))
    (tmp_path / "profiles.bed").write_text("\t".join(["#chrom", "start", "end", *names]) + "\n" + "\n".join(rows) + "\n")
    task = {"name": "profiles", "kind": "multilabel",
            "input": {"format": "bed", "bed": str(tmp_path / "profiles.bed"), "fasta": str(tmp_path / "genome.fa"),
                      "valid_chroms": ["chr2"], "test_chroms": ["chr3"]}}
    metrics = finetune(config(tmp_path, task, train={"epochs": 2}), progress=False)
    head = load_head(tmp_path / "out" / "model", TINY["d_model"])
    assert head.task == "multilabel" and head.labels == names and tuple(head.weight.shape) == (n_targets, 16)
    test = metrics["model"]["test"]
    assert {"auroc", "auprc"} <= set(test) and f"auroc_{names[0]}" in test
    header = (tmp_path / "out" / "predictions.tsv").read_text().split("\n", 1)[0].split("\t")
    assert sum(col.startswith("p_") for col in header) == n_targets

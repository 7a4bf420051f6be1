"""k-shot in-context learning: prompt layout, demonstration sampling, scoring, instruction tuning, CLI."""

from __future__ import annotations

import csv
import json
from collections import Counter

import numpy as np
import pytest
import torch

from hyenadna_kipoi.errors import ConfigError, InputError
from hyenadna_kipoi.finetune.icl import (build_prompt, build_prompts, instruction_tune, label_nucleotides,
                                         label_probabilities, run_icl, sample_demonstrations)
from hyenadna_kipoi.finetune.task import Split, TaskData
from hyenadna_kipoi.model import HyenaConfig, HyenaDNA
from hyenadna_kipoi.tokenizer import A, C, G, SEP, T, decode


def _model(l_max: int = 64, n_layer: int = 1) -> HyenaDNA:
    torch.manual_seed(0)
    return HyenaDNA(HyenaConfig(d_model=16, n_layer=n_layer, max_seq_len=l_max, embed_dropout=0.0)).eval()


def _split(n: int, seed: int, length: int = 12, prefix: str = "s") -> Split:
    """Class 0 sequences use only A/G, class 1 only C/T: the label is readable from the query itself."""
    rng = np.random.default_rng(seed)
    seqs = ["".join(rng.choice(list("AG" if i % 2 == 0 else "CT"), length)) for i in range(n)]
    return Split([f"{prefix}{i}" for i in range(n)], seqs, np.arange(n) % 2)


def _task() -> TaskData:
    return TaskData("toy", "classification", ["pos", "neg"], {"train": _split(40, 0), "test": _split(20, 1, prefix="q")})


def test_two_shot_prompt_token_ids():
    ids = build_prompt([("ACG", 1), ("TT", 0)], "GA")
    assert ids.tolist() == [A, C, G, C, SEP, T, T, A, SEP, G, A]
    assert build_prompt([], "ACGT").tolist() == [A, C, G, T]
    # 4 classes: class c -> "ACGT"[c] right after its sequence, [SEP] after the label
    assert build_prompt([("A", 3), ("C", 2)], "G").tolist() == [A, T, SEP, C, G, SEP, G]


def test_class_to_nucleotide_mapping():
    assert label_nucleotides(["yes", "no"]) == {"yes": "A", "no": "C"}
    assert label_nucleotides(list("wxyz")) == {"w": "A", "x": "C", "y": "G", "z": "T"}
    with pytest.raises(ConfigError, match="1 to 4 classes"):
        label_nucleotides(list("abcde"))


def test_demonstrations_are_balanced_shuffled_and_seeded():
    targets = np.array([0] * 10 + [1] * 10 + [2] * 10)
    for shots, expected in ((6, [2, 2, 2]), (3, [1, 1, 1])):
        picked = sample_demonstrations(targets, shots, 3, np.random.default_rng(5))
        assert sorted(Counter(targets[picked].tolist()).values()) == expected and len(set(picked)) == shots
    counts = Counter(targets[sample_demonstrations(targets, 4, 3, np.random.default_rng(1))].tolist())
    assert sorted(counts.values()) == [1, 1, 2]  # the extra shot goes to one class
    draws = [sample_demonstrations(targets, 6, 3, np.random.default_rng(s)) for s in range(20)]
    assert draws[3] == sample_demonstrations(targets, 6, 3, np.random.default_rng(3))
    assert any(targets[d].tolist() != sorted(targets[d].tolist()) for d in draws)  # order is shuffled
    assert all(0 not in sample_demonstrations(targets[:11], 1 * 2, 2, np.random.default_rng(s), exclude=0)
               for s in range(30))
    with pytest.raises(InputError, match="need 3 training example"):
        sample_demonstrations(np.array([0, 0, 0, 1]), 6, 2, np.random.default_rng(0))


def test_prompts_resampled_per_query_and_independent_of_the_other_queries():
    train = _split(40, 0)
    both = build_prompts(train, ["GGAA", "CCTT"], [0, 7], 4, 2, seed=3)
    alone = build_prompts(train, ["CCTT"], [7], 4, 2, seed=3)
    np.testing.assert_array_equal(both[1], alone[0])
    assert not np.array_equal(both[0][:-4], both[1][:-4])  # different demonstrations per query
    assert not np.array_equal(build_prompts(train, ["CCTT"], [7], 4, 2, seed=4)[0], alone[0])
    prompt = both[0]
    seps = np.flatnonzero(prompt == SEP)
    assert len(seps) == 4 and decode(prompt[seps[-1] + 1:]) == "GGAA"
    # each demonstration is a train sequence followed by its class's nucleotide
    starts = [0, *(seps[:-1] + 1)]
    for s, e in zip(starts, seps):
        seq, label = decode(prompt[s:e - 1]), int(prompt[e - 1])
        i = train.sequences.index(seq)
        assert label == [A, C][train.targets[i]]


def test_label_probabilities_are_normalised_next_token_probabilities():
    model = _model()
    prompts = build_prompts(_split(10, 0), ["ACGTAC", "GGGTTT", "ACG"], [0, 1, 2], 2, 2, seed=0)
    probs = label_probabilities(model, prompts, 2, batch_size=2, progress=False)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-9)
    model.fast_path = False
    with torch.no_grad():
        for prompt, p in zip(prompts, probs):
            logits = model(torch.from_numpy(prompt)[None])[0, -1, [A, C]]
            np.testing.assert_allclose(p, torch.softmax(logits, -1).numpy(), atol=1e-5)


def test_run_icl_report_predictions_and_determinism():
    model, task = _model(), _task()
    report = run_icl(model, task, shots=[2, 1], queries=8, seed=0, batch_size=4, progress=False)
    assert [(r["model"], r["shots"]) for r in report["results"]] == [("pretrained", s) for s in (0, 1, 2)]
    assert report["n_queries"] == 8 and report["chance"]["uniform_accuracy"] == 0.5
    assert report["results"][2]["prompt_tokens"] == 2 * 14 + 12
    preds = report["predictions"]
    assert len(preds) == 3 * 8 and len({p["id"] for p in preds}) == 8
    for r in report["results"]:
        rows = [p for p in preds if p["shots"] == r["shots"]]
        assert all(p["predicted"] == ("pos" if p["p_pos"] >= p["p_neg"] else "neg") for p in rows)
        assert abs(sum(p["predicted"] == p["true"] for p in rows) / 8 - r["accuracy"]) < 1e-12
        assert -1 <= r["mcc"] <= 1
    again = run_icl(model, task, shots=[2, 1], queries=8, seed=0, batch_size=3, progress=False)
    assert [p["p_pos"] for p in again["predictions"]] == pytest.approx([p["p_pos"] for p in preds], abs=1e-6)


def test_icl_input_errors():
    model, task = _model(l_max=40), _task()
    with pytest.raises(InputError, match="3-shot prompts reach 54 tokens.*l_max of 40"):
        run_icl(model, task, shots=3, queries=4, progress=False)
    with pytest.raises(ConfigError, match="classification"):
        run_icl(model, TaskData("r", "regression", ["y"], task.splits), shots=1, progress=False)


def test_instruction_tuning_lowers_the_label_loss_and_leaves_the_model_alone():
    model, task = _model(), _task()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = run_icl(model, task, shots=2, queries=None, seed=0, batch_size=16, progress=False,
                     instruction_steps=25, instruction_lr=1e-2)
    losses = report["instruction_tuning"]["losses"]
    assert len(losses) == 25 and np.mean(losses[-5:]) < 0.2 * losses[0]
    tuned = {r["shots"]: r for r in report["results"] if r["model"] == "instruction_tuned"}
    assert tuned[2]["accuracy"] == 1.0  # the toy label is readable from the query
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_instruction_tune_in_place_uses_train_queries_only():
    model, task = _model(), _task()
    losses = instruction_tune(model, task.splits["train"], 2, shots=2, steps=3, lr=1e-3, batch_size=4, seed=1,
                              progress=False)
    assert len(losses) == 3 and all(np.isfinite(losses)) and not model.training


def _write_config(tmp_path, task: TaskData, model_dir) -> str:
    files = {}
    for split in ("train", "test"):
        for c, label in enumerate(task.labels):
            path = tmp_path / f"{label}_{split}.fa"
            sp = task.splits[split]
            path.write_text("".join(f">{i}\n{s}\n" for i, s, y in zip(sp.ids, sp.sequences, sp.targets) if y == c))
            files.setdefault(split, {})[label] = str(path)
    cfg = tmp_path / "icl.yaml"
    cfg.write_text(json.dumps({
        "out_dir": str(tmp_path / "out"), "seed": 0, "device": "cpu",
        "task": {"name": "toy", "kind": "classification", "labels": task.labels,
                 "input": {"format": "fasta_per_class", **files}},
        "model": {"init": str(model_dir)},
        "icl": {"shots": 2, "queries": 6},
    }))
    return str(cfg)


def test_cli_writes_metrics_and_predictions(tmp_path, capsys):
    pytest.importorskip("hyenadna_kipoi.finetune.inputs")
    from hyenadna_kipoi.checkpoints import save_model
    from hyenadna_kipoi.cli import main

    task = _task()
    save_model(_model(), tmp_path / "model")
    config = _write_config(tmp_path, task, tmp_path / "model")
    assert main(["icl", config, "--shots", "1", "2", "--quiet", "--out", str(tmp_path / "o")]) == 0
    metrics = json.loads((tmp_path / "o" / "icl_metrics.json").read_text())
    assert [r["shots"] for r in metrics["results"]] == [0, 1, 2] and metrics["n_queries"] == 6
    assert metrics["labels"] == ["pos", "neg"] and metrics["label_nucleotides"] == {"pos": "A", "neg": "C"}
    assert "predictions" not in metrics and metrics["chance"]["uniform_accuracy"] == 0.5
    assert {"accuracy", "mcc", "macro_f1", "auroc", "auprc", "wall_s"} <= set(metrics["results"][0])
    with open(tmp_path / "o" / "icl_predictions.tsv") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert len(rows) == 18 and list(rows[0]) == ["id", "model", "shots", "true", "predicted", "p_pos", "p_neg"]
    assert all(abs(float(r["p_pos"]) + float(r["p_neg"]) - 1) < 1e-5 for r in rows)
    out = capsys.readouterr().out
    assert "ICL on toy: 6 test queries" in out and "chance: accuracy 0.500" in out
    # too many shots is a one-line error (exit 2); the config's out_dir is the default output folder
    assert main(["icl", config, "--shots", "9", "--quiet"]) == 2
    assert "9-shot prompts reach" in capsys.readouterr().err
    assert main(["icl", config, "--shots", "1", "--queries", "2", "--quiet"]) == 0
    text = (tmp_path / "out" / "icl_metrics.json").read_text()

    def strict(name):
        raise AssertionError(f"{name} in JSON")

    assert json.loads(text, parse_constant=strict)["n_queries"] == 2  # NaN AUROC (one class) written as null

"""k-shot in-context learning (ICL) as in the HyenaDNA paper, and optional instruction tuning.

Labels are nucleotides: class c is the token "ACGT"[c] (binary tasks: class 0 -> A,
class 1 -> C). A k-shot prompt is, token by token,

    demo_1 label_1 [SEP] demo_2 label_2 [SEP] ... demo_k label_k [SEP] query

and the prediction is read from the next-token distribution at the last position (the
query's last base), restricted to the C label nucleotides and renormalised (softmax over
their C logits). No padding is ever used: prompts of equal length share a batch.

Protocol: the demonstrations are drawn afresh for every query from the train split,
balanced over classes (shots // C per class, the remaining shots % C to distinct random
classes), in shuffled order. The draw for (seed, shots, query) has its own RNG, so a
query's prompt does not depend on which other queries or shot counts are run. A 0-shot
prompt is the query alone.

Instruction tuning (``steps > 0``) fine-tunes a copy of the whole model on k-shot prompts
built from the train split (queries and demonstrations both from train, the query never
among its own demonstrations) with next-token cross-entropy on the label nucleotide only.
"""

from __future__ import annotations

import copy
import csv
import json
import time
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..checkpoints import load_model
from ..errors import ConfigError, InputError
from ..heads import label_token_ids, label_token_logits
from ..io import atomic_open
from ..model import HyenaConfig, HyenaDNA
from ..tokenizer import SEP, encode
from ..train.init import init_weights
from .evaluate import compute_metrics, json_safe
from .task import Split, TaskData

LABEL_NUCLEOTIDES = "ACGT"


def label_nucleotides(labels: Sequence[str]) -> dict[str, str]:
    """The nucleotide standing for each class: {label: "A" | "C" | "G" | "T"}."""
    label_token_ids(len(labels))  # checks 1 <= C <= 4
    return {label: LABEL_NUCLEOTIDES[c] for c, label in enumerate(labels)}


def build_prompt(demos: Sequence[tuple[str, int]], query: str) -> np.ndarray:
    """Token ids [sum(len(demo) + 2) + len(query)] of ``demos`` ((sequence, class) pairs) then ``query``."""
    tokens = label_token_ids(len(LABEL_NUCLEOTIDES))
    parts = [np.append(encode(seq), [tokens[c], SEP]) for seq, c in demos]
    return np.concatenate([*parts, encode(query)]).astype(np.int64)


def sample_demonstrations(targets: np.ndarray, shots: int, n_classes: int, rng: np.random.Generator,
                          exclude: int | None = None) -> list[int]:
    """Indices of ``shots`` training examples balanced over classes, in random order.

    ``targets`` [N] class indices; each class gives shots // C examples and shots % C
    distinct random classes give one more; ``exclude`` (an index) is never drawn.
    """
    per_class = np.full(n_classes, shots // n_classes)
    per_class[rng.choice(n_classes, size=shots % n_classes, replace=False)] += 1
    picked: list[int] = []
    for c in range(n_classes):
        pool = np.flatnonzero(targets == c)
        if exclude is not None:
            pool = pool[pool != exclude]
        if len(pool) < per_class[c]:
            raise InputError(f"{shots}-shot prompts need {per_class[c]} training example(s) of class {c}; "
                             f"the train split has {len(pool)}")
        picked.extend(rng.choice(pool, size=per_class[c], replace=False).tolist())
    return [picked[i] for i in rng.permutation(len(picked))]


def _query_rng(seed: int, shots: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, shots, index])


def build_prompts(train: Split, queries: Sequence[str], query_index: Sequence[int], shots: int, n_classes: int,
                  seed: int, *, exclude_self: bool = False) -> list[np.ndarray]:
    """One k-shot prompt per query (demonstrations resampled per query, see the module doc)."""
    prompts = []
    for q, qi in zip(queries, query_index):
        rng = _query_rng(seed, shots, qi)
        demo_idx = sample_demonstrations(train.targets, shots, n_classes, rng, qi if exclude_self else None)
        demos = [(train.sequences[i], int(train.targets[i])) for i in demo_idx]
        prompts.append(build_prompt(demos, q))
    return prompts


def _check_fits(model: HyenaDNA, prompts: Sequence[np.ndarray], shots: int) -> None:
    longest = max(len(p) for p in prompts)
    if longest > model.l_max:
        raise InputError(f"{shots}-shot prompts reach {longest} tokens, more than the model's l_max of "
                         f"{model.l_max}; use fewer shots or a longer-context model")


def _by_length(prompts: Sequence[np.ndarray], batch_size: int) -> list[list[int]]:
    groups: dict[int, list[int]] = defaultdict(list)
    for i, p in enumerate(prompts):
        groups[len(p)].append(i)
    return [idx[s:s + batch_size] for idx in groups.values() for s in range(0, len(idx), batch_size)]


def label_logits(model: HyenaDNA, ids: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Next-token logits of the C label nucleotides after the last position: [B, L] -> [B, C]."""
    return label_token_logits(model.embed(ids)[:, -1], model.lm_head.weight, n_classes)


def label_probabilities(model: HyenaDNA, prompts: Sequence[np.ndarray], n_classes: int, *, batch_size: int = 8,
                        progress: bool = True, desc: str = "icl") -> np.ndarray:
    """Class probabilities [N, C] of each prompt (softmax over the label nucleotides' logits)."""
    device = next(model.parameters()).device
    out = np.zeros((len(prompts), n_classes), dtype=np.float64)
    model.eval()
    with torch.inference_mode(), tqdm(total=len(prompts), desc=desc, unit="prompt", disable=not progress,
                                      leave=False) as bar:
        for chunk in _by_length(prompts, batch_size):
            ids = torch.from_numpy(np.stack([prompts[i] for i in chunk])).to(device)
            out[chunk] = torch.softmax(label_logits(model, ids, n_classes), dim=-1).double().cpu().numpy()
            bar.update(len(chunk))
    return out


def _metrics(y_true: np.ndarray, probs: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    """The fine-tuning classification metrics: accuracy, mcc, macro_f1, auroc, auprc."""
    with warnings.catch_warnings():  # a single class among few queries: mcc 0 / auroc NaN, not worth a warning
        warnings.simplefilter("ignore", UserWarning)
        return compute_metrics("classification", y_true, probs, list(labels))


def _chance(y_true: np.ndarray, n_classes: int) -> dict[str, float]:
    counts = np.bincount(y_true, minlength=n_classes)
    return {"uniform_accuracy": 1.0 / n_classes, "majority_accuracy": float(counts.max() / max(len(y_true), 1)),
            "mcc": 0.0}


def instruction_tune(model: HyenaDNA, train: Split, n_classes: int, *, shots: int, steps: int, lr: float,
                     batch_size: int = 8, seed: int = 0, progress: bool = True) -> list[float]:
    """Fine-tune ``model`` in place on k-shot prompts from ``train``; returns the loss of each step.

    Each step draws ``batch_size`` train queries (seeded), builds their prompts (the query is
    never its own demonstration) and takes one AdamW step on the mean cross-entropy (whole
    vocabulary) of the label nucleotide after the query. Prompts of different lengths run in
    separate passes, so there is no padding.
    """
    from ..train.optim import build_optimizer

    device = next(model.parameters()).device
    tokens = torch.tensor(label_token_ids(n_classes), device=device)
    opt = build_optimizer(model, {"lr": lr, "weight_decay": 0.0, "betas": (0.9, 0.999), "eps": 1e-8})
    rng = np.random.default_rng([seed, 1])
    losses: list[float] = []
    model.train()
    for step in tqdm(range(steps), desc="instruction tuning", unit="step", disable=not progress, leave=False):
        batch = rng.choice(len(train), size=min(batch_size, len(train)), replace=False)
        prompts = build_prompts(train, [train.sequences[i] for i in batch], batch.tolist(), shots, n_classes,
                                seed + 1000 * (step + 1), exclude_self=True)
        _check_fits(model, prompts, shots)
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for chunk in _by_length(prompts, len(prompts)):
            ids = torch.from_numpy(np.stack([prompts[i] for i in chunk])).to(device)
            target = tokens[torch.as_tensor(train.targets[batch[chunk]], device=device)]
            logits = model.lm_head(model.embed(ids)[:, -1]).float()
            loss = F.cross_entropy(logits, target, reduction="sum") / len(prompts)
            loss.backward()
            total += float(loss.detach())
        opt.step()
        losses.append(total)
    model.eval()
    return losses


def run_icl(model: HyenaDNA, task: TaskData, *, shots: int | Sequence[int] = (2, 4), queries: int | None = 200,
            seed: int = 0, batch_size: int = 8, device: str | torch.device | None = None, progress: bool = True,
            instruction_steps: int = 0, instruction_lr: float = 1e-4) -> dict[str, Any]:
    """k-shot ICL on ``task``'s test split; 0-shot is always included.

    ``queries``: number of test sequences scored (a seeded random subset; None = all).
    Returns {"task", "labels", "label_nucleotides", "n_queries", "seed", "chance", "results":
    [{"model", "shots", "prompt_tokens", "accuracy", "mcc", ..., "wall_s"}], "instruction_tuning",
    "predictions": [{"id", "model", "shots", "true", "predicted", "p_<label>"...}]}.
    With ``instruction_steps > 0`` a tuned copy of the model (lr ``instruction_lr``, prompts with
    max(shots) demonstrations) is evaluated after the pretrained one; ``model`` is unchanged.
    """
    if task.kind != "classification":
        raise ConfigError(f"in-context learning needs a classification task; task {task.name!r} is {task.kind}")
    for split in ("train", "test"):
        if split not in task.splits or not len(task.splits[split]):
            raise InputError(f"in-context learning needs a non-empty {split} split; task {task.name!r} has none")
    n_classes = len(task.labels)
    tokens = label_nucleotides(task.labels)
    shot_list = sorted({0, *([shots] if isinstance(shots, int) else shots)})
    if any(s < 0 for s in shot_list):
        raise ConfigError(f"icl.shots must be >= 0, got {shots}")
    if device is not None:
        model = model.to(device)
    train, test = task.splits["train"], task.splits["test"]
    rng = np.random.default_rng(seed)
    index = np.arange(len(test)) if queries is None or queries >= len(test) else \
        np.sort(rng.choice(len(test), size=queries, replace=False))
    y_true = test.targets[index].astype(np.int64)
    query_seqs = [test.sequences[i] for i in index]

    prompts = {s: build_prompts(train, query_seqs, index.tolist(), s, n_classes, seed) for s in shot_list}
    for s in shot_list:
        _check_fits(model, prompts[s], s)

    results: list[dict[str, Any]] = []
    predictions: list[dict[str, Any]] = []

    def evaluate(m: HyenaDNA, name: str) -> None:
        for s in shot_list:
            start = time.perf_counter()
            probs = label_probabilities(m, prompts[s], n_classes, batch_size=batch_size, progress=progress,
                                        desc=f"icl {name} {s}-shot")
            wall = time.perf_counter() - start
            results.append({"model": name, "shots": s, "prompt_tokens": max(len(p) for p in prompts[s]),
                            **_metrics(y_true, probs, task.labels), "wall_s": round(wall, 3)})
            for row, i in enumerate(index):
                predictions.append({"id": test.ids[i], "model": name, "shots": s, "true": task.labels[y_true[row]],
                                    "predicted": task.labels[int(probs[row].argmax())],
                                    **{f"p_{label}": float(probs[row, c]) for c, label in enumerate(task.labels)}})

    evaluate(model, "pretrained")
    tuning = None
    if instruction_steps > 0:
        tune_shots = max(shot_list)
        tuned = copy.deepcopy(model)
        start = time.perf_counter()
        losses = instruction_tune(tuned, train, n_classes, shots=tune_shots, steps=instruction_steps,
                                  lr=instruction_lr, batch_size=batch_size, seed=seed, progress=progress)
        tuning = {"steps": instruction_steps, "lr": instruction_lr, "shots": tune_shots, "losses": losses,
                  "wall_s": round(time.perf_counter() - start, 3)}
        evaluate(tuned, "instruction_tuned")
    return {"task": task.name, "labels": list(task.labels), "label_nucleotides": tokens, "n_queries": len(index),
            "seed": seed, "protocol": "demonstrations resampled per query (balanced over classes, shuffled)",
            "chance": _chance(y_true, n_classes), "results": results, "instruction_tuning": tuning,
            "predictions": predictions}


# --------------------------------------------------------------------------- a run from a fine-tuning config: model, files


def load_backbone(config: dict[str, Any], source: str | None, device: str, progress: bool) -> HyenaDNA:
    """The model of ``source`` (``--model``), else the config's ``model.init``; a new seeded random model
    from ``model.architecture`` when both are unset."""
    source = source or config["model"]["init"]
    if source is None:
        torch.manual_seed(config["seed"])
        return init_weights(HyenaDNA(HyenaConfig.from_dict(config["model"]["architecture"]))).eval().to(device)
    return load_model(source, device=device, progress=progress)


def write_outputs(out: Path, report: dict[str, Any]) -> tuple[Path, Path]:
    """OUT/icl_metrics.json (everything but the predictions) and OUT/icl_predictions.tsv, atomically."""
    metrics_path, preds_path = out / "icl_metrics.json", out / "icl_predictions.tsv"
    with atomic_open(metrics_path) as handle:
        json.dump(json_safe({k: v for k, v in report.items() if k != "predictions"}), handle, indent=2)
        handle.write("\n")
    columns = ["id", "model", "shots", "true", "predicted", *(f"p_{label}" for label in report["labels"])]
    with atomic_open(preds_path, newline="") as handle:
        writer = csv.DictWriter(handle, columns, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        for row in report["predictions"]:
            writer.writerow({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in row.items()})
    return metrics_path, preds_path


def summary(report: dict[str, Any]) -> str:
    """A short table: one line per (model, shots)."""
    chance = report["chance"]
    lines = [f"ICL on {report['task']}: {report['n_queries']} test queries, labels "
             + ", ".join(f"{k}->{v}" for k, v in report["label_nucleotides"].items()),
             f"{'model':<18} {'shots':>5} {'tokens':>7} {'accuracy':>8} {'mcc':>7} {'seconds':>8}"]
    for r in report["results"]:
        lines.append(f"{r['model']:<18} {r['shots']:>5} {r['prompt_tokens']:>7} {r['accuracy']:>8.3f} "
                     f"{r['mcc']:>7.3f} {r['wall_s']:>8.2f}")
    lines.append(f"chance: accuracy {chance['uniform_accuracy']:.3f} (uniform), {chance['majority_accuracy']:.3f} "
                 "(majority class), mcc 0")
    return "\n".join(lines)

"""The files a fine-tuning run writes besides its model and checkpoints (``OUT`` = ``out_dir``)::

    OUT/history.csv       step, epoch, lr, train_loss, valid_loss, valid_<metric>
    OUT/metrics.json      model valid/test metrics, baseline test metrics, steps, wall time
    OUT/metrics.tsv       split, method, metric, value
    OUT/predictions.tsv   test split: id, split, true, predicted, p_<label> (regression: true_/pred_<target>)
    OUT/splits.tsv        split, label, count
    OUT/confusion.png     (classification) and OUT/roc.png (classification, multilabel)

Scores follow :mod:`.evaluate`'s convention: probabilities [N, C] (classification), [N, T]
(multilabel), values [N, T] (regression). Every file is written atomically.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..io import atomic_open
from .task import TaskData

__all__ = ["metric_rows", "summary_line", "write_history", "write_outputs", "write_predictions", "write_splits"]


def write_history(path: Path, history: list[dict[str, Any]], metric: str) -> None:
    """history.csv: one row per evaluation; floats written with ``repr`` (exact round trip)."""
    fields = ["step", "epoch", "lr", "train_loss", "valid_loss"] + ([f"valid_{metric}"] if metric != "loss" else [])
    with atomic_open(path, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in history:
            writer.writerow({f: repr(row[f]) if isinstance(row[f], float) else row[f] for f in fields})


def write_outputs(out: Path, task: TaskData, labels: list[str], results: dict[str, Any], scores: np.ndarray,
                  baseline_scores: np.ndarray | None) -> None:
    """metrics.json (``results``), metrics.tsv, predictions.tsv, splits.tsv and the test plots.

    ``scores``: the model's test-split scores; ``baseline_scores``: the k-mer baseline's (None: no baseline).
    """
    from .evaluate import json_safe, plot_confusion, plot_roc, write_metrics_tsv

    kind, test = task.kind, task.splits["test"]
    with atomic_open(out / "metrics.json") as handle:
        json.dump(json_safe(results), handle, indent=2)
        handle.write("\n")
    write_metrics_tsv(metric_rows(results), out / "metrics.tsv")
    write_predictions(out / "predictions.tsv", kind, labels, test.ids, test.targets, scores)
    write_splits(out / "splits.tsv", task, labels)
    if len(test) and kind == "classification":
        plot_confusion(test.targets, scores, labels, out / "confusion.png", f"{task.name}: test confusion matrix")
    if len(test) and kind in ("classification", "multilabel"):
        curves = {"hyenadna": (test.targets, scores)}
        if baseline_scores is not None:
            curves["kmer_baseline"] = (test.targets, baseline_scores)
        plot_roc(curves, labels, out / "roc.png", f"{task.name}: test ROC")


def summary_line(results: dict[str, Any], out: Path) -> str:
    """The run's last message: the task's default test metric (and accuracy / AUROC / R²) next to the baseline's."""
    from .evaluate import default_metric

    metric, test_metrics = default_metric(results["kind"]), results["model"]["test"]
    baseline = results["baseline"]["test"] if "baseline" in results else None
    line = f"[finetune] {results['task']}: test {metric} {test_metrics.get(metric, float('nan')):.3f}"
    if baseline is not None:
        line += f" vs k-mer {baseline.get(metric, float('nan')):.3f}"
    others = [m for m in ("accuracy", "auroc", "r2") if m in test_metrics and m != metric]
    line += "".join(f"; {m} {test_metrics[m]:.3f}"
                    + (f" vs {baseline[m]:.3f}" if baseline is not None and m in baseline else "") for m in others)
    return line + f" (best step {results['best_step']} of {results['steps']}, {results['wall_s']:.0f} s) -> {out}"


def metric_rows(results: dict[str, Any]) -> list[tuple[str, str, str, float]]:
    """metrics.tsv rows: (split, method, metric, value) of the model (valid, test) and the baseline (test)."""
    rows = [(split, "hyenadna", name, value) for split in ("valid", "test")
            for name, value in results["model"][split].items()]
    rows += [("test", "kmer_baseline", name, value) for name, value in results.get("baseline", {}).get("test", {}).items()]
    return rows


def _fmt(x: float) -> str:
    return f"{float(x):.6g}"


def write_predictions(path: Path, kind: str, labels: list[str], ids: list[str], targets: np.ndarray,
                      scores: np.ndarray) -> None:
    """Test-split predictions: id, split, true, predicted, p_<label>... (regression: true_<t>, pred_<t>)."""
    with atomic_open(path) as handle:
        if kind == "regression":
            handle.write("\t".join(["id", "split"] + [f"true_{t}" for t in labels] + [f"pred_{t}" for t in labels]) + "\n")
            y = np.asarray(targets, dtype=np.float64).reshape(len(ids), -1)
            for i, name in enumerate(ids):
                handle.write("\t".join([name, "test"] + [_fmt(v) for v in y[i]] + [_fmt(v) for v in scores[i]]) + "\n")
            return
        handle.write("\t".join(["id", "split", "true", "predicted"] + [f"p_{x}" for x in labels]) + "\n")
        for i, name in enumerate(ids):
            if kind == "classification":
                true, predicted = labels[int(targets[i])], labels[int(np.argmax(scores[i]))]
            else:
                true = ";".join(x for x, t in zip(labels, targets[i]) if t >= 0.5)
                predicted = ";".join(x for x, p in zip(labels, scores[i]) if p >= 0.5)
            handle.write("\t".join([name, "test", true, predicted] + [_fmt(p) for p in scores[i]]) + "\n")


def write_splits(path: Path, task: TaskData, labels: list[str]) -> None:
    """split, label, count: sequences per class (classification), positives per target (multilabel),
    sequences (regression, label ``all``)."""
    with atomic_open(path) as handle:
        handle.write("split\tlabel\tcount\n")
        for name, split in task.splits.items():
            if task.kind == "classification":
                counts = np.bincount(np.asarray(split.targets, dtype=np.int64), minlength=len(labels))
                rows = list(zip(labels, counts))
            elif task.kind == "multilabel":
                t = np.asarray(split.targets).reshape(len(split), -1)
                rows = list(zip(labels, (t >= 0.5).sum(axis=0))) + [("all", len(split))]
            else:
                rows = [("all", len(split))]
            handle.writelines(f"{name}\t{label}\t{int(count)}\n" for label, count in rows)

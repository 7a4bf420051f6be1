"""Task metrics (scikit-learn), the plots of a fine-tuning run, and the metrics table.

Scores follow one convention everywhere (model, k-mer baseline, predictions):
classification: probabilities [N, C] (softmax over ``labels``); multilabel: probabilities
[N, T] (sigmoid per target); regression: values [N, T]. Targets are int64 [N] class
indices (classification) or float [N, T].

Metric names: classification ``accuracy``, ``mcc``, ``macro_f1``, ``auroc``, ``auprc``
(binary: positive class = ``labels[1]``; multiclass: macro one-vs-rest over the classes
present in the targets); multilabel ``auroc_<target>``, ``auprc_<target>`` and their macro
means ``auroc``, ``auprc``; regression ``mse``, ``pearson``, ``spearman``, ``r2`` (means
over targets, plus ``<metric>_<target>`` when there are several). A metric that is
undefined (a class absent, a constant prediction) is NaN, never an exception.
"""

from __future__ import annotations

import csv
import math
import os
import warnings
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..io import atomic_open, atomic_path

__all__ = ["compute_metrics", "default_metric", "higher_is_better", "plot_confusion", "plot_roc", "write_metrics_tsv"]

_DEFAULT = {"classification": "mcc", "multilabel": "auroc", "regression": "pearson"}
_LOWER_IS_BETTER = ("loss", "mse", "mae")


def default_metric(kind: str) -> str:
    """The validation metric that picks the best checkpoint for a task kind."""
    return _DEFAULT[kind]


def higher_is_better(metric: str) -> bool:
    """False for losses and errors (``loss``, ``valid_loss``, ``mse``...), True for every other metric."""
    return not any(metric == m or metric.endswith("_" + m) or metric.startswith(m + "_") for m in _LOWER_IS_BETTER)


def _binary_auc(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """AUROC and AUPRC of one binary target; NaN when only one class is present."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.asarray(y).astype(int)
    if y.min(initial=0) == y.max(initial=0) or len(np.unique(y)) < 2:
        return math.nan, math.nan
    return float(roc_auc_score(y, s)), float(average_precision_score(y, s))


def _nanmean(values: Iterable[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan


def compute_metrics(kind: str, targets: np.ndarray, scores: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    """Metrics of ``scores`` against ``targets`` (shapes in the module docstring)."""
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    scores = np.asarray(scores, dtype=np.float64)
    if kind == "classification":
        y = np.asarray(targets).astype(int).reshape(-1)
        scores = scores.reshape(len(y), -1)
        pred = scores.argmax(1)
        out = {"accuracy": float(accuracy_score(y, pred)),
               "mcc": float(matthews_corrcoef(y, pred)) if len(y) else math.nan,
               "macro_f1": float(f1_score(y, pred, labels=list(range(len(labels))), average="macro", zero_division=0))}
        if len(labels) == 2:
            out["auroc"], out["auprc"] = _binary_auc(y == 1, scores[:, 1])
        else:
            pairs = [_binary_auc(y == c, scores[:, c]) for c in range(len(labels))]
            out["auroc"], out["auprc"] = _nanmean(p[0] for p in pairs), _nanmean(p[1] for p in pairs)
        return out
    y = np.asarray(targets, dtype=np.float64).reshape(len(scores), -1)
    scores = scores.reshape(y.shape)
    if kind == "multilabel":
        out = {}
        for t, name in enumerate(labels):
            out[f"auroc_{name}"], out[f"auprc_{name}"] = _binary_auc(y[:, t] > 0.5, scores[:, t])
        out["auroc"] = _nanmean(out[f"auroc_{n}"] for n in labels)
        out["auprc"] = _nanmean(out[f"auprc_{n}"] for n in labels)
        return out
    if kind != "regression":
        raise ValueError(f"unknown task kind {kind!r}")
    return _regression(y, scores, labels)


def _regression(y: np.ndarray, s: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import r2_score

    per: dict[str, list[float]] = {"mse": [], "pearson": [], "spearman": [], "r2": []}
    for t in range(y.shape[1]):
        a, b = y[:, t], s[:, t]
        per["mse"].append(float(np.mean((a - b) ** 2)) if len(a) else math.nan)
        constant = len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            per["pearson"].append(math.nan if constant else float(pearsonr(a, b)[0]))
            per["spearman"].append(math.nan if constant else float(spearmanr(a, b)[0]))
            per["r2"].append(math.nan if len(a) < 2 or np.ptp(a) == 0 else float(r2_score(a, b)))
    out = {m: _nanmean(v) for m, v in per.items()}
    if y.shape[1] > 1:
        for m, values in per.items():
            out.update({f"{m}_{name}": v for name, v in zip(labels, values)})
    return out


# --------------------------------------------------------------------------- plots


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: str | os.PathLike) -> None:
    plt = _figure()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def plot_confusion(targets: np.ndarray, scores: np.ndarray, labels: Sequence[str], out: str | os.PathLike,
                   title: str) -> None:
    """Confusion matrix (rows true, columns predicted = argmax of ``scores`` [N, C]) as a PNG."""
    from sklearn.metrics import confusion_matrix

    plt = _figure()
    y = np.asarray(targets).astype(int).reshape(-1)
    pred = np.asarray(scores).reshape(len(y), -1).argmax(1)
    matrix = confusion_matrix(y, pred, labels=list(range(len(labels))))
    size = max(3.5, 0.6 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = matrix.max(initial=0)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                    color="white" if top and matrix[i, j] > top / 2 else "black")
    ax.set_title(title)
    _save(fig, out)


def _macro_roc(y: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Macro-average ROC curve over the columns of one-hot/multilabel ``y`` that hold both classes."""
    from sklearn.metrics import roc_auc_score, roc_curve

    grid = np.linspace(0, 1, 201)
    tprs, aucs = [], []
    for t in range(y.shape[1]):
        if len(np.unique(y[:, t])) < 2:
            continue
        fpr, tpr, _ = roc_curve(y[:, t], s[:, t])
        tprs.append(np.interp(grid, fpr, tpr))
        aucs.append(roc_auc_score(y[:, t], s[:, t]))
    if not tprs:
        return None
    return grid, np.mean(tprs, axis=0), float(np.mean(aucs))


def plot_roc(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], labels: Sequence[str], out: str | os.PathLike,
             title: str) -> None:
    """ROC curves of several methods (e.g. ``{"hyenadna": (targets, scores), "kmer_baseline": ...}``) on one PNG.

    Binary classification: positive class ``labels[1]``. Multiclass (targets [N]) and
    multilabel (targets [N, T]): the macro-average curve over classes/targets.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _figure()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="chance")
    for name, (targets, scores) in curves.items():
        targets, scores = np.asarray(targets), np.asarray(scores, dtype=np.float64)
        if targets.ndim == 1:  # classification: one-hot
            y = np.eye(len(labels), dtype=int)[targets.astype(int)]
        else:
            y = (targets > 0.5).astype(int)
        scores = scores.reshape(y.shape)
        if y.shape[1] == 2 and targets.ndim == 1:
            if len(np.unique(y[:, 1])) < 2:
                continue
            fpr, tpr, _ = roc_curve(y[:, 1], scores[:, 1])
            ax.plot(fpr, tpr, label=f"{name} (AUROC {roc_auc_score(y[:, 1], scores[:, 1]):.3f})")
        else:
            macro = _macro_roc(y, scores)
            if macro is not None:
                ax.plot(macro[0], macro[1], label=f"{name} (macro AUROC {macro[2]:.3f})")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_title(title + ("" if len(labels) == 2 else " (macro average)"))
    ax.legend(loc="lower right", fontsize=8)
    _save(fig, out)


def write_metrics_tsv(rows: Iterable[Sequence | Mapping], out: str | os.PathLike) -> None:
    """``split  method  metric  value`` rows (tuples or mappings with those keys) as a TSV, atomically."""
    with atomic_open(out, newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["split", "method", "metric", "value"])
        for row in rows:
            if isinstance(row, Mapping):
                row = [row["split"], row["method"], row["metric"], row["value"]]
            split, method, metric, value = row
            value = math.nan if value is None else float(value)  # None: a NaN that went through JSON
            writer.writerow([split, method, metric, "nan" if math.isnan(value) else f"{value:.6g}"])


def json_safe(value: Any) -> Any:
    """Metrics as strict JSON values: NaN (e.g. AUROC of a split holding one class) -> None, recursively."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value

"""The report's summary figures: variant scores per VCF, the embedding map, fine-tuning vs the k-mer baseline."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..io import atomic_open, atomic_path

# the test metrics reported per task kind
HEADLINE = {"classification": ["accuracy", "mcc", "auroc"], "multilabel": ["auroc", "auprc"],
            "regression": ["pearson", "r2"]}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: str | os.PathLike) -> None:
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")


def plot_vep(tables: list[tuple[str, str]], out: str | os.PathLike) -> dict[str, int]:
    """Histogram of scored llr values per VCF (TSVs of `hyenadna score-variants`); returns name -> alleles scored."""
    import pandas as pd

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    counts = {}
    for name, path in tables:
        table = pd.read_csv(path, sep="\t", na_values=["NA"])
        llr = table["llr"].dropna().to_numpy()
        counts[name] = len(llr)
        statuses = ", ".join(f"{k} {v}" for k, v in table["status"].value_counts().items())
        if len(llr):
            ax.hist(llr, bins=min(40, max(5, len(llr) // 2)), alpha=0.6, label=f"{name} (n={len(llr)}; {statuses})")
        else:
            ax.plot([], [], label=f"{name}: nothing scored ({statuses})")
    ax.axvline(0, color="k", lw=0.8)
    ax.set(xlabel="llr = log P(ALT) − log P(REF) (nats)", ylabel="alleles", title="Variant-effect scores")
    ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    _save(fig, out)
    plt.close(fig)
    return counts


def plot_embeddings(sets: list[tuple[str, str]], out: str | os.PathLike) -> int:
    """2-D PCA map of the embeddings in `.npz` files (`hyenadna embed`), one colour per label; returns N."""
    import numpy as np

    from ..score.embedding_map import plot_embedding_map

    arrays, labels = [], []
    for label, path in sets:
        with np.load(path) as data:
            emb = data["embeddings"]
        arrays.append(emb)
        labels += [label] * len(emb)
    x = np.concatenate(arrays)
    plot_embedding_map(x, labels, out)
    return len(x)


def finetune_table(runs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Rows (task, method, metric, value) of the test metrics of fine-tuning runs (metrics.json) and ICL runs."""
    rows = []
    for name, path in runs:
        data = json.loads(Path(path).read_text())
        if "model" in data:  # fine-tuning
            kind = data.get("kind", "classification")
            for method, block in (("hyenadna", data["model"].get("test", {})),
                                  ("kmer_baseline", (data.get("baseline") or {}).get("test", {}))):
                for metric in HEADLINE.get(kind, []):
                    value = block.get(metric)
                    if isinstance(value, (int, float)):
                        rows.append({"task": name, "method": method, "metric": metric, "value": float(value)})
        else:  # ICL: one entry per (model, shots)
            for result in data.get("results", []):
                method = f"icl_{result.get('model', 'model')}_{result.get('shots', '?')}shot"
                for metric in ("accuracy", "mcc"):
                    if isinstance(result.get(metric), (int, float)):
                        rows.append({"task": name, "method": method, "metric": metric,
                                     "value": float(result[metric])})
    return rows


def plot_finetune(runs: list[tuple[str, str]], out: str | os.PathLike, table: str | os.PathLike) -> int:
    """Grouped bars: each task's test metrics, fine-tuned HyenaDNA vs the k-mer baseline; also a TSV."""
    import numpy as np

    rows = finetune_table(runs)
    with atomic_open(table) as handle:
        handle.write("task\tmethod\tmetric\tvalue\n")
        for r in rows:
            handle.write(f"{r['task']}\t{r['method']}\t{r['metric']}\t{r['value']:.6g}\n")
    plt = _pyplot()
    groups = sorted({(r["task"], r["metric"]) for r in rows})
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(groups) + 2), 4), dpi=120)
    width = 0.8 / max(1, len(methods))
    for i, method in enumerate(methods):
        values = {(r["task"], r["metric"]): r["value"] for r in rows if r["method"] == method}
        ys = [values.get(g, np.nan) for g in groups]
        ax.bar(np.arange(len(groups)) + i * width, ys, width, label=method)
    ax.set_xticks(np.arange(len(groups)) + width * (len(methods) - 1) / 2)
    ax.set_xticklabels([f"{t}\n{m}" for t, m in groups], fontsize=7, rotation=30, ha="right")
    ax.axhline(0, color="k", lw=0.6)
    ax.set(ylabel="test split", title="Fine-tuned HyenaDNA vs k-mer baseline")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    _save(fig, out)
    plt.close(fig)
    return len(rows)


def plot_by_length(runs: list[tuple[str, int, str]], out: str | os.PathLike, table: str | os.PathLike) -> int:
    """Test accuracy and MCC against window length (bases, log scale) for a series of tasks that differ only
    in length (``(task, length, metrics.json)``), fine-tuned HyenaDNA vs the k-mer baseline; also a TSV
    ``task length method metric value``. Returns the number of rows."""
    rows = [dict(r, length=length) for name, length, path in sorted(runs, key=lambda r: r[1])
            for r in finetune_table([(name, path)]) if r["metric"] in ("accuracy", "mcc")]
    with atomic_open(table) as handle:
        handle.write("task\tlength\tmethod\tmetric\tvalue\n")
        for r in rows:
            handle.write(f"{r['task']}\t{r['length']}\t{r['method']}\t{r['metric']}\t{r['value']:.6g}\n")
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.5), dpi=120)
    for ax, metric in zip(axes, ("accuracy", "mcc")):
        for method in dict.fromkeys(r["method"] for r in rows):
            points = [(r["length"], r["value"]) for r in rows if r["method"] == method and r["metric"] == metric]
            if points:
                ax.plot(*zip(*points), marker="o", label=method)
        ax.set_xscale("log", base=2)
        ax.set(xlabel="window (bases)", ylabel=f"test {metric}", title=metric)
    axes[0].legend(frameon=False, fontsize=8)
    fig.suptitle("Species by context length")
    fig.tight_layout()
    _save(fig, out)
    plt.close(fig)
    return len(rows)

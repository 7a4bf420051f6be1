"""Training metrics: CSV/JSONL logs that survive a resume, a loss plot, a markdown report.

Files in the run folder: ``train.csv`` (one row per logged step), ``eval.csv`` (one row
per validation pass), ``metrics.jsonl`` (both, with ``kind``), ``markov.tsv``,
``loss.png`` and ``report.md``.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

from ..io import atomic_open, atomic_path

TRAIN_FIELDS = ("step", "tokens", "seq_len", "batch", "lr", "loss", "bits_per_base", "grad_norm", "tokens_per_s",
                "elapsed_s")
EVAL_FIELDS = ("step", "tokens", "val_loss", "val_perplexity", "val_bits_per_base", "val_bases")
LN2 = math.log(2.0)


class MetricsLog:
    """Appends rows to ``train.csv``, ``eval.csv`` and ``metrics.jsonl`` in ``folder``.

    ``resume_step``: rows of later steps (written by a run that was killed after its last
    checkpoint) are dropped first, so a resumed run's logs read like an uninterrupted one.
    """

    def __init__(self, folder: str | os.PathLike, resume_step: int | None = None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.paths = {"train": self.folder / "train.csv", "eval": self.folder / "eval.csv"}
        self.jsonl = self.folder / "metrics.jsonl"
        if resume_step is None:
            for path in (*self.paths.values(), self.jsonl):
                path.unlink(missing_ok=True)
        else:
            self._truncate(resume_step)
        for kind, fields in (("train", TRAIN_FIELDS), ("eval", EVAL_FIELDS)):
            if not self.paths[kind].exists():
                with atomic_open(self.paths[kind]) as handle:
                    handle.write(",".join(fields) + "\n")

    def _truncate(self, step: int) -> None:
        for path in self.paths.values():
            if path.exists():
                with open(path) as handle:
                    lines = handle.readlines()
                keep = lines[:1] + [ln for ln in lines[1:] if ln.strip() and int(ln.split(",", 1)[0]) <= step]
                with atomic_open(path) as handle:
                    handle.writelines(keep)
        if self.jsonl.exists():
            with open(self.jsonl) as handle:
                rows = [ln for ln in handle if ln.strip()]
            with atomic_open(self.jsonl) as handle:
                handle.writelines(ln for ln in rows if _complete_row(ln) and json.loads(ln)["step"] <= step)

    def log(self, kind: str, row: dict[str, Any]) -> None:
        """Append ``row`` (keys: TRAIN_FIELDS or EVAL_FIELDS) to the ``kind`` logs."""
        fields = TRAIN_FIELDS if kind == "train" else EVAL_FIELDS
        with open(self.paths[kind], "a") as handle:
            handle.write(",".join(_fmt(row.get(f)) for f in fields) + "\n")
        with open(self.jsonl, "a") as handle:
            handle.write(json.dumps({"kind": kind, **row}) + "\n")


def _complete_row(line: str) -> bool:
    try:
        json.loads(line)
        return True
    except json.JSONDecodeError:  # the last line of a killed run may be cut off
        return False


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # full precision: resumed and uninterrupted runs are compared from these files
    return str(value)


def read_csv(path: str | os.PathLike) -> list[dict[str, float]]:
    """Rows of a metrics CSV as floats (empty cells as NaN)."""
    with open(path) as handle:
        return [{k: float(v) if v != "" else float("nan") for k, v in row.items()} for row in csv.DictReader(handle)]


def write_markov(path: str | os.PathLike, bits: dict[int, float], scored: int) -> None:
    with atomic_open(path) as handle:
        handle.write("order\tbits_per_base\tscored_bases\n")
        handle.writelines(f"{k}\t{v:.6f}\t{scored}\n" for k, v in bits.items())


def read_markov(path: str | os.PathLike) -> dict[int, float]:
    with open(path) as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return {int(r["order"]): float(r["bits_per_base"]) for r in rows}


def plot_curves(folder: str | os.PathLike, markov: dict[int, float], out: str | os.PathLike) -> Path:
    """PNG of training loss and validation bits/base vs tokens seen, Markov baselines as lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    train, evals = read_csv(folder / "train.csv"), read_csv(folder / "eval.csv")
    fig, (ax_loss, ax_bits) = plt.subplots(1, 2, figsize=(11, 4))
    if train:
        ax_loss.plot([r["tokens"] for r in train], [r["loss"] for r in train], lw=0.8, label="train")
    if evals:
        ax_loss.plot([r["tokens"] for r in evals], [r["val_loss"] for r in evals], "o-", label="valid")
    ax_loss.set(xlabel="tokens seen", ylabel="cross-entropy (nats/base)", title="loss")
    ax_loss.legend()
    if train:
        tokens, bits = [r["tokens"] for r in train], [r["bits_per_base"] for r in train]
        ax_bits.plot(tokens, bits, lw=0.5, alpha=0.25, color="C0")
        ax_bits.plot(tokens, _smooth(bits), lw=1.2, color="C0", label="train (moving average)")
    if evals:
        ax_bits.plot([r["tokens"] for r in evals], [r["val_bits_per_base"] for r in evals], "o-", color="C1",
                     label="valid (model)")
    shades = plt.get_cmap("viridis")
    for k, bits in markov.items():
        ax_bits.axhline(bits, ls="--", lw=0.9, color=shades(k / max(1, len(markov) - 1)), label=f"order-{k} Markov")
    ax_bits.set(xlabel="tokens seen", ylabel="bits per base", title="validation bits/base vs Markov baselines")
    values = [r["val_bits_per_base"] for r in evals] + list(markov.values())
    if values:
        lo, hi = min(values), max(values)
        ax_bits.set_ylim(lo - 0.05 - 0.1 * (hi - lo), max(hi, 2.0) + 0.05)
    ax_bits.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return Path(out)


def _smooth(values: list[float]) -> list[float]:
    """Trailing moving average over ~5% of the points (at least 1)."""
    width = max(1, len(values) // 20)
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= width:
            total -= values[i - width]
        out.append(total / min(i + 1, width))
    return out


def standing(val_bits: float, markov: dict[int, float]) -> str:
    """One sentence: which Markov orders the model beats on validation."""
    beaten = [k for k, b in markov.items() if val_bits < b]
    if not beaten:
        return f"the model ({val_bits:.4f} bits/base) does not yet beat any Markov baseline, not even order 0"
    if len(beaten) == len(markov):
        return f"the model ({val_bits:.4f} bits/base) beats every Markov baseline up to order {max(markov)}"
    best = min(markov.values())
    best_k = min(markov, key=markov.get)
    return (f"the model ({val_bits:.4f} bits/base) beats Markov orders {', '.join(map(str, beaten))} "
            f"but not the best baseline (order {best_k}: {best:.4f} bits/base)")


def write_report(path: str | os.PathLike, *, summary: dict[str, Any], markov: dict[int, float]) -> Path:
    """``report.md``: the run, its final validation numbers and the Markov comparison."""
    val = summary["val_bits_per_base"]
    lines = [
        f"# Pretraining report: {summary['out_dir']}",
        "",
        f"- genome: `{summary['genome']}`; windows: {summary['windows']}",
        f"- model: d_model={summary['d_model']}, n_layer={summary['n_layer']}, l_max={summary['l_max']}, "
        f"{summary['parameters']:,} parameters",
        f"- {summary['steps']} optimizer steps, {summary['tokens']:,} tokens, stages: {summary['stages']}",
        f"- wall time {summary['wall_s']:.0f} s on {summary['device']} ({summary['world_size']} rank(s))",
        f"- training loss: {summary['first_loss']:.4f} -> {summary['last_loss']:.4f} nats/base "
        f"(mean of the first / last 10 logged steps)",
        "",
        "## Validation",
        "",
        "| model | loss (nats/base) | perplexity | bits/base |",
        "|---|---|---|---|",
        f"| HyenaDNA | {summary['val_loss']:.4f} | {summary['val_perplexity']:.4f} | {val:.4f} |",
    ]
    lines += [f"| order-{k} Markov | {b * LN2:.4f} | {2 ** b:.4f} | {b:.4f} |" for k, b in markov.items()]
    lines += ["", f"**Standing:** {standing(val, markov)}.", "",
              "Markov baselines: add-one smoothed k-mer models fitted on the training windows "
              f"({summary['markov_train_bases']:,} bases), scored on the same validation bases as the model.",
              "", "![loss](loss.png)", ""]
    with atomic_open(path) as handle:
        handle.write("\n".join(lines))
    return Path(path)

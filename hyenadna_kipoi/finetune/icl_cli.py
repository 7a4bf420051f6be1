"""``hyenadna icl``: k-shot in-context learning on the task of a fine-tuning config.

``add_commands(sub)`` registers the subcommand. It reads the fine-tuning CONFIG (its
``task``, ``model.init``, ``seed``, ``device`` and ``icl`` blocks), scores the test split
with 0 and k demonstrations and writes ``OUT/icl_metrics.json`` and ``OUT/icl_predictions.tsv``.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path
from typing import Any

from ..cli_args import add_batch_size, add_device, add_model, add_quiet
from .evaluate import json_safe


def _load_backbone(config: dict[str, Any], source: str | None, device: str, progress: bool):
    """The model of ``--model``, else ``model.init``; a new seeded random model when both are unset."""
    import torch

    from ..checkpoints import load_model
    from ..model import HyenaConfig, HyenaDNA
    from ..train.init import init_weights

    source = source or config["model"]["init"]
    if source is None:
        torch.manual_seed(config["seed"])
        return init_weights(HyenaDNA(HyenaConfig.from_dict(config["model"]["architecture"]))).eval().to(device)
    return load_model(source, device=device, progress=progress)


def write_outputs(out: Path, report: dict[str, Any]) -> tuple[Path, Path]:
    """OUT/icl_metrics.json (everything but the predictions) and OUT/icl_predictions.tsv, atomically."""
    from ..io import atomic_open

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


def cmd_icl(args: argparse.Namespace) -> int:
    from ..device import resolve_device
    from .config import load_finetune_config
    from .icl import run_icl
    from .inputs import load_task

    config = load_finetune_config(args.config)
    icl = config["icl"]
    progress = not args.quiet
    device = resolve_device(args.device or config["device"])
    start = time.perf_counter()
    task = load_task(config, seed=config["seed"], source=str(args.config))
    model = _load_backbone(config, args.model, device, progress)
    report = run_icl(model, task, shots=args.shots if args.shots is not None else icl["shots"],
                     queries=args.queries if args.queries is not None else icl["queries"], seed=config["seed"],
                     batch_size=args.batch_size or config["train"]["micro_batch_size"], device=device,
                     progress=progress, instruction_steps=icl["instruction_tuning"]["steps"],
                     instruction_lr=icl["instruction_tuning"]["lr"])
    report = {"config": str(args.config), "init": args.model or config["model"]["init"], "device": device,
              **report, "wall_s": round(time.perf_counter() - start, 3)}
    out = Path(args.out or config["out_dir"])
    metrics_path, preds_path = write_outputs(out, report)
    print(summary(report))
    print(f"-> {metrics_path}, {preds_path}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``icl`` on ``sub`` (from ``parser.add_subparsers``)."""
    p = sub.add_parser(
        "icl", help="k-shot in-context learning on a fine-tuning config's task (label as next nucleotide)",
        description="Score the test split of a fine-tuning config's task by in-context learning: each query is "
                    "preceded by k demonstrations (sequence, label nucleotide A/C/G/T, [SEP]) drawn from train, "
                    "balanced over classes and resampled per query (seeded); the prediction is the label "
                    "nucleotide the model finds likeliest next. 0-shot is always included. With "
                    "icl.instruction_tuning.steps > 0 a copy of the model is first fine-tuned on k-shot prompts "
                    "from train. Writes OUT/icl_metrics.json and OUT/icl_predictions.tsv.")
    p.add_argument("config", help="fine-tuning config YAML (task, model.init and icl blocks are read)")
    p.add_argument("--out", "-o", help="output folder (default: the config's out_dir)")
    add_model(p, required=False, help="model folder or preset (default: the config's model.init)")
    p.add_argument("--shots", type=int, nargs="+", help="demonstration counts to evaluate, e.g. 2 4 "
                                                        "(default: icl.shots; 0-shot is always added)")
    p.add_argument("--queries", type=int, help="test queries to score (default: icl.queries)")
    add_batch_size(p, default=None, help="prompts per forward pass (default: train.micro_batch_size)")
    add_device(p, default=None, help="cpu, cuda, cuda:1 ... (default: the config's device)")
    add_quiet(p)
    p.set_defaults(func=cmd_icl)

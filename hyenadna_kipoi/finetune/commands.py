"""``hyenadna finetune``, ``hyenadna predict`` and ``hyenadna icl``: argument parsing and calls, nothing more.

``register(sub)`` registers the three on the main parser's subparsers. ``icl`` reads the
fine-tuning CONFIG (its ``task``, ``model.init``, ``seed``, ``device`` and ``icl`` blocks), scores
the test split with 0 and k demonstrations and writes ``OUT/icl_metrics.json`` and
``OUT/icl_predictions.tsv``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..cli_args import add_batch_size, add_device, add_dtype, add_model, add_plain_path, add_quiet
from ..score.commands import in_compute_dtype

FINETUNE_EPILOG = """\
examples:
  hyenadna finetune config/finetune-peaks.yaml
  hyenadna finetune config/finetune-species.yaml --out results/species --device cuda
  hyenadna finetune config/finetune-peaks.yaml --resume     # continue after a kill

outputs (OUT = --out or out_dir): model/ (config.json, model.safetensors, head.json,
head.safetensors), metrics.json, metrics.tsv, predictions.tsv, history.csv, confusion.png,
roc.png, splits.tsv, checkpoints/. Config keys: hyenadna_kipoi/schemas/finetune.schema.yaml and
config/README.md.
"""

PREDICT_EPILOG = """\
examples:
  hyenadna predict results/finetune/peaks/model --fasta peaks.fa --out preds.tsv
  hyenadna predict results/finetune/peaks/model --bed regions.bed --genome hg38.fa --out preds.tsv
  hyenadna predict results/finetune/peaks/model --fasta peaks.fa --out preds.tsv --dtype bfloat16

output columns: id, then p_<label> per class (classification) or target (multilabel), or
pred_<target> (regression), then predicted (classification: the most probable class).
"""

PREDICT_DTYPE_HELP = ("float32 (default, exact) or bfloat16: the backbone's projections and MLP in bf16 "
                      "(AMX/AVX512-BF16 CPUs, GPUs), its residual stream and long convolutions still fp32, the head "
                      "on the fp32 hidden states; outputs differ slightly (README: Fine-tuning)")


def cmd_finetune(args: argparse.Namespace) -> int:
    from .trainer import finetune

    finetune(args.config, out=args.out, resume=args.resume, device=args.device, progress=not args.quiet,
             fast_path=False if args.plain_path else None)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from ..device import resolve_device
    from ..data.sequences import read_sequences
    from ..errors import InputError
    from .predict import load_finetuned, predict_sequences, write_predictions

    if args.bed is not None and args.genome is None:
        raise InputError("--bed needs --genome (the reference FASTA of the intervals)")
    names, seqs = read_sequences(args.fasta, args.bed, args.genome, length=args.length)
    model, head = load_finetuned(args.model, resolve_device(args.device), progress=not args.quiet)
    outputs = predict_sequences(model, head, seqs, names, batch_size=args.batch_size, progress=not args.quiet)
    write_predictions(args.out, names, head, outputs)
    print(f"predicted {len(seqs)} sequence(s) ({head.task}, {len(head.labels)} label(s)) -> {args.out}")
    return 0


def cmd_icl(args: argparse.Namespace) -> int:
    from ..device import resolve_device
    from .config import load_finetune_config
    from .icl import load_backbone, run_icl, summary, write_outputs
    from .inputs import load_task

    config = load_finetune_config(args.config)
    icl = config["icl"]
    progress = not args.quiet
    device = resolve_device(args.device or config["device"])
    start = time.perf_counter()
    task = load_task(config, seed=config["seed"], source=str(args.config))
    model = load_backbone(config, args.model, device, progress)
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


def register(sub: argparse._SubParsersAction) -> None:
    """Register ``finetune``, ``predict`` and ``icl`` on the ``hyenadna`` subparsers."""
    p = sub.add_parser("finetune", help="fine-tune a model on a classification/multilabel/regression task (resumable)",
                       description="Fine-tune HyenaDNA on the task of CONFIG: AdamW, warmup + cosine, gradient "
                                   "clipping, accumulation, reverse-complement augmentation, early stopping on the "
                                   "validation metric; the best model is evaluated on the test split next to a "
                                   "k-mer logistic-regression baseline.",
                       epilog=FINETUNE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="fine-tuning config YAML (e.g. config/finetune-peaks.yaml)")
    p.add_argument("--out", "-o", help="output folder (default: out_dir of the config)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest checkpoint in OUT/checkpoints (starts fresh when there is none)")
    add_device(p, default=None, help="cpu, cuda, cuda:1 ... (default: the config's device, auto)")
    add_plain_path(p)
    add_quiet(p, help="no progress bar or per-evaluation lines")
    p.set_defaults(func=cmd_finetune)

    p = sub.add_parser("predict", help="predict with a fine-tuned model (FASTA records or BED intervals)",
                       description="Outputs of a fine-tuned model's head (class probabilities, per-target "
                                   "probabilities or regression values) for each input sequence. MODEL is the "
                                   "model/ folder of a fine-tuning run (it holds head.json).",
                       epilog=PREDICT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="fine-tuned model folder (with head.json)")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--fasta", "-f", help="FASTA of the sequences to predict")
    source.add_argument("--bed", help="BED intervals (minus strand reverse-complemented); needs --genome")
    p.add_argument("--genome", "-g", help="reference FASTA of the --bed intervals")
    p.add_argument("--length", type=int, help="recentre each --bed interval to this many bases first (use the "
                   "task.input.length the model was fine-tuned with)")
    p.add_argument("--out", "-o", required=True, help="output TSV")
    add_batch_size(p)
    add_device(p)
    add_quiet(p)
    add_dtype(p, help=PREDICT_DTYPE_HELP)
    p.set_defaults(func=in_compute_dtype(cmd_predict))

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

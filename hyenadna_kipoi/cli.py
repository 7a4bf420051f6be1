"""The ``hyenadna`` command line: argument parsing and calls into the package, nothing more."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from ._version import __version__
from .cli_args import add_model_args, add_quiet
from .device import resolve_device
from .errors import HyenaDNAError, InputError
from .finetune.commands import add_commands as add_finetune_commands
from .kipoi.commands import add_commands as add_kipoi_commands
from .score.commands import add_commands as add_score_commands
from .train.commands import add_commands as add_train_commands
from .workflow.commands import add_commands as add_workflow_commands

DESCRIPTION = """\
HyenaDNA long-range DNA language model: load released or own checkpoints,
embed sequences, score their likelihood.

Models are given as a directory (original release, transformers or this
project's layout) or as a preset name (tiny-1k ... large-1m) that is
downloaded once to $HYENADNA_CACHE (~/.cache/hyenadna_kipoi). Set
HYENADNA_OFFLINE=1 to forbid downloads.
"""


def _load(args: argparse.Namespace):
    from .checkpoints import load_model

    return load_model(args.model, device=resolve_device(args.device), progress=not args.quiet)


def _read_inputs(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """Names and sequences from --fasta, or from --bed intervals on --fasta (minus strand reverse-complemented)."""
    from .data.sequences import read_sequences

    return read_sequences(None if args.bed else args.fasta, args.bed, args.fasta)


# --------------------------------------------------------------------------- commands


def cmd_info(args: argparse.Namespace) -> int:
    import torch

    from .checkpoints import PRESETS, detect_layout, load_model
    from .model import HyenaDNA, count_parameters

    if args.model is None:
        print(f"{'preset':<14} {'d_model':>7} {'n_layer':>7} {'l_max':>9} {'parameters':>11}  hub repository")
        for p in PRESETS.values():
            with torch.device("meta"):
                n = count_parameters(HyenaDNA(p.config()))
            print(f"{p.name:<14} {p.d_model:>7} {p.n_layer:>7} {p.max_seq_len:>9} {n:>11,}  {p.repo}[-hf]")
        return 0
    model = load_model(args.model, progress=not args.quiet)
    folder = Path(args.model)
    info = {
        "source": str(args.model),
        "layout": detect_layout(folder if folder.is_dir() else folder.parent) if folder.exists() else "preset",
        "parameters": count_parameters(model),
        "config": model.config.to_dict(),
    }
    print(json.dumps(info, indent=2))
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from .checkpoints import PRESETS, fetch_preset, resolve_preset

    preset = resolve_preset(args.preset)
    if preset is None:
        raise InputError(f"unknown preset {args.preset!r}; presets are {', '.join(PRESETS)}")
    print(fetch_preset(preset, args.layout, progress=not args.quiet))
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from .checkpoints import convert

    out = convert(args.source, args.dest, args.layout)
    print(f"wrote {args.layout} layout to {out}")
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from .score import embed_sequences
    from .score.outputs import write_embeddings

    names, seqs = _read_inputs(args)
    model = _load(args)
    emb = embed_sequences(model, seqs, pooling=args.pooling, names=names, batch_size=args.batch_size,
                          progress=not args.quiet)
    write_embeddings(args.out, names, emb)
    print(f"embedded {len(seqs)} sequence(s) ({args.pooling} pooling, d={model.config.d_model}) -> {args.out}")
    return 0


def cmd_loglik(args: argparse.Namespace) -> int:
    from .score import sequence_loglik
    from .score.outputs import write_loglik

    names, seqs = _read_inputs(args)
    model = _load(args)
    scores = sequence_loglik(model, seqs, window=args.window, names=names, batch_size=args.batch_size,
                             progress=not args.quiet)
    write_loglik(args.out, names, seqs, scores)
    print(f"scored {len(seqs)} sequence(s) -> {args.out}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.config, args.out, progress=not args.quiet)
    return 0


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hyenadna", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"hyenadna-kipoi {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("info", help="list the released presets, or describe one model")
    p.add_argument("model", nargs="?", help="model directory or preset (omit to list presets)")
    add_quiet(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("fetch", help="download a released preset into the cache (size-checked, resumable)")
    p.add_argument("preset", help="preset name, e.g. tiny-1k")
    p.add_argument("--layout", choices=("hf", "original"), default="hf",
                   help="which published layout to fetch (default: hf, safetensors)")
    add_quiet(p)
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser("convert", help="convert a model between the original, transformers (hf) and own layouts")
    p.add_argument("source", help="model directory (any layout) or preset")
    p.add_argument("dest", help="output directory")
    p.add_argument("--layout", choices=("own", "hf", "original"), default="own", help="output layout (default: own)")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("embed", help="embed FASTA records or BED intervals (last hidden states)",
                       description="Embed sequences. Output format from the extension: .npy (pooled [N, d]), "
                                   ".npz (names + embeddings; per-token arrays with --pooling none), .parquet, .tsv.")
    add_model_args(p)
    p.add_argument("--fasta", "-f", required=True, help="FASTA of sequences, or the reference FASTA with --bed")
    p.add_argument("--bed", help="BED intervals on --fasta (minus-strand intervals are reverse-complemented)")
    p.add_argument("--pooling", choices=("mean", "last", "none"), default="mean",
                   help="mean over positions, last position, or none (per-token, .npz only) (default: mean)")
    p.add_argument("--out", "-o", required=True, help="output file: .npy, .npz, .parquet or .tsv")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("loglik", help="log-likelihood and bits per base of FASTA records or BED intervals",
                       description="Per-sequence log-likelihood under the model (TSV: name, length, n_scored, "
                                   "loglik_nats, bits_per_base, perplexity). Each window's first base has no "
                                   "context and is not scored.")
    add_model_args(p)
    p.add_argument("--fasta", "-f", required=True, help="FASTA of sequences, or the reference FASTA with --bed")
    p.add_argument("--bed", help="BED intervals on --fasta")
    p.add_argument("--window", type=int, help="score long sequences in non-overlapping windows of this many bases "
                                              "(at most the model's l_max)")
    p.add_argument("--out", "-o", required=True, help="output TSV")
    p.set_defaults(func=cmd_loglik)

    add_score_commands(sub)
    add_train_commands(sub)
    add_kipoi_commands(sub)
    add_finetune_commands(sub)
    add_workflow_commands(sub)

    p = sub.add_parser("demo", help="run the embedded demo: load a model, embed and score the bundled sequences")
    p.add_argument("--config", default="config/config.yaml", help="demo config (default: config/config.yaml)")
    p.add_argument("--out", default="results/demo", help="output folder (default: results/demo)")
    add_quiet(p)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except HyenaDNAError as err:
        print(f"hyenadna {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

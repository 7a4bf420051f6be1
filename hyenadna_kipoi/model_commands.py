"""The model subcommands ``info``, ``fetch`` and ``convert``: the released presets and the checkpoint
layouts of :mod:`.checkpoints`; argument parsing and calls, nothing more.

``hyenadna_kipoi.cli`` registers them with :func:`register`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .cli_args import add_quiet
from .errors import InputError


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


def register(sub: argparse._SubParsersAction) -> None:
    """Register ``info``, ``fetch`` and ``convert`` on the ``hyenadna`` subparsers."""
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

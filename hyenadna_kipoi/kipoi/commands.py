"""``hyenadna kipoi-setup`` and ``hyenadna export-kipoi``: argument parsing and calls, nothing more.

The CLI wires these in with ``register(sub)`` on its subparsers; each handler returns an
exit code and lets :class:`~hyenadna_kipoi.errors.HyenaDNAError` reach the CLI's handler.
"""

from __future__ import annotations

import argparse

from ..cli_args import add_model, add_quiet


def cmd_kipoi_setup(args: argparse.Namespace) -> int:
    from .render import group_rows
    from .source import register_source

    reg = register_source(args.config, name=args.name)
    print(reg.describe())
    models = [row["model"] for row in group_rows()]
    print(f"{len(models)} models: " + ", ".join(f"HyenaDNA/{m}" for m in models))
    print(f"e.g. kipoi test HyenaDNA/{models[0]} --source {args.name}")
    return 0


def cmd_export_kipoi(args: argparse.Namespace) -> int:
    from .export import export_model

    done = export_model(args.model, args.out, name=args.name, force=args.force, progress=not args.quiet)
    print(done.describe())
    print(f"test it with: kipoi test {done.path} --source dir")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Register ``kipoi-setup`` and ``export-kipoi`` on the ``hyenadna`` subparsers."""
    p = sub.add_parser("kipoi-setup", help="register the HyenaDNA Kipoi model group as the local kipoi source 'hyenadna'",
                       description="Add (or correct) the local source 'hyenadna' in kipoi's ~/.kipoi/config.yaml, "
                                   "pointing at the model group shipped in this package. Idempotent; nothing is "
                                   "downloaded. Afterwards: kipoi predict HyenaDNA/tiny-1k --source hyenadna ...")
    p.add_argument("--config", help="kipoi config file to edit (default: ~/.kipoi/config.yaml, as kipoi reads it)")
    p.add_argument("--name", default="hyenadna", help="source name (default: hyenadna)")
    p.set_defaults(func=cmd_kipoi_setup)

    p = sub.add_parser("export-kipoi", help="write a self-contained Kipoi model directory for a model",
                       description="Export a model (a directory in any layout, or a preset) as a Kipoi model "
                                   "directory: model.yaml, dataloader.yaml, the weights with their md5, a small "
                                   "example and the expected predictions, so that `kipoi test DIR --source dir` and "
                                   "`kipoi predict DIR --source dir` work. Language models also get "
                                   "DIR/variant-effect; models with head.json export as classifiers.")
    add_model(p, help="model directory (any layout) or preset name")
    p.add_argument("--out", "-o", required=True, help="output directory (must not exist, unless --force)")
    p.add_argument("--name", help="model name in the docs (default: the output directory's name)")
    p.add_argument("--force", action="store_true", help="replace an existing export in --out")
    add_quiet(p)
    p.set_defaults(func=cmd_export_kipoi)

"""``hyenadna kipoi-setup``, ``kipoi-expect`` and ``export-kipoi``: argument parsing and calls, nothing more.

The CLI wires these in with ``register(sub)`` on its subparsers; each handler returns an
exit code and lets :class:`~hyenadna_kipoi.errors.HyenaDNAError` reach the CLI's handler.
"""

from __future__ import annotations

import argparse

from ..cli_args import add_model, add_quiet
from ..errors import ConfigError


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


def cmd_kipoi_expect(args: argparse.Namespace) -> int:
    from .expect import write_row_expectation
    from .render import group_rows

    rows = {row["model"]: row for row in group_rows()}
    name = args.row.removeprefix("HyenaDNA/")
    if name not in rows:
        raise ConfigError(f"no row {args.row!r} in the HyenaDNA group; rows are {', '.join(rows)}")
    print(write_row_expectation(rows[name]).describe())
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

    p = sub.add_parser("kipoi-expect", help="write the test.expect file of a row of the HyenaDNA Kipoi group",
                       description="Compute the expected predictions of one embedding or loglik row of the packaged "
                                   "group for its weights (from the project cache: `hyenadna fetch <preset>` first) "
                                   "on the example regions, place them where `kipoi test` finds them "
                                   "(<group>/downloaded/model_files/<row>/test.expect.h5) and print the md5s to "
                                   "enter in models.tsv. Rerun whenever the row's weights change.")
    p.add_argument("row", help="the row, e.g. tiny-1k/loglik (or HyenaDNA/tiny-1k/loglik)")
    p.set_defaults(func=cmd_kipoi_expect)

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

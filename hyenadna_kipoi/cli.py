"""The ``hyenadna`` command line: one parser built from each part's ``register(subparsers)``.

Each part of the package owns its subcommands (``model_commands``: info, fetch, convert;
``score.commands``: embed, loglik, score-variants, ism; ``train.commands``; ``kipoi.commands``;
``finetune.commands``; ``workflow.commands``; ``demo``), declares them with the shared arguments of
:mod:`.cli_args` and binds a handler with ``set_defaults(func=...)``. Here the handler runs; a
:class:`~hyenadna_kipoi.errors.HyenaDNAError` is printed as one line, without a traceback, and sets
the exit code.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from . import demo, model_commands
from ._version import __version__
from .errors import HyenaDNAError
from .finetune import commands as finetune_commands
from .kipoi import commands as kipoi_commands
from .score import commands as score_commands
from .train import commands as train_commands
from .workflow import commands as workflow_commands

DESCRIPTION = """\
HyenaDNA long-range DNA language model: load released or own checkpoints,
embed sequences, score their likelihood.

Models are given as a directory (original release, transformers or this
project's layout) or as a preset name (tiny-1k ... large-1m) that is
downloaded once to $HYENADNA_CACHE (~/.cache/hyenadna_kipoi). Set
HYENADNA_OFFLINE=1 to forbid downloads.
"""

# in the order `hyenadna --help` lists their subcommands
PARTS = (model_commands, score_commands, train_commands, kipoi_commands, finetune_commands, workflow_commands, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hyenadna", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"hyenadna-kipoi {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for part in PARTS:
        part.register(sub)
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

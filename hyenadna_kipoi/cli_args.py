"""The arguments several ``hyenadna`` subcommands share, declared once.

Each subpackage's ``commands.py`` builds its subcommands with these, so ``--model``,
``--device``, ``--batch-size``, ``--dtype`` and ``--quiet`` are spelled, typed and explained the same way
everywhere; a subcommand passes only what differs (a default, a help text). This module knows
argparse and nothing of the model, so every layer's commands can import it.
"""

from __future__ import annotations

import argparse

MODEL_HELP = "model directory (any layout) or preset name, e.g. tiny-1k"
DEVICE_HELP = "cpu, cuda, cuda:1 ... (default: cuda when present, else cpu)"
BATCH_SIZE_HELP = "sequences per forward pass (default: 8)"
QUIET_HELP = "no progress bars"
DTYPE_HELP = ("float32 (default, exact) or bfloat16: the projections and MLP in bf16 (AMX/AVX512-BF16 CPUs, "
              "GPUs), the residual stream, long convolutions and log-softmax still fp32; small score differences, "
              "and not always faster: on a 2-core AMX CPU 1.1-1.3x for batches of 1k-token sequences, slower for "
              "long ones and for score-variants (benchmarks/results/bf16_cpu.md)")


def add_model(p: argparse.ArgumentParser, *, required: bool = True, help: str = MODEL_HELP) -> None:
    """``--model/-m``: a model directory (any layout) or a preset name."""
    p.add_argument("--model", "-m", required=required, help=help)


def add_device(p: argparse.ArgumentParser, *, default: str | None = "auto", help: str = DEVICE_HELP) -> None:
    """``--device``: ``auto`` (resolved by :func:`hyenadna_kipoi.device.resolve_device`), cpu, cuda, cuda:1 ..."""
    p.add_argument("--device", default=default, help=help)


def add_batch_size(p: argparse.ArgumentParser, *, default: int | None = 8, help: str = BATCH_SIZE_HELP) -> None:
    """``--batch-size``: sequences (or windows, prompts) per forward pass."""
    p.add_argument("--batch-size", type=int, default=default, help=help)


def add_quiet(p: argparse.ArgumentParser, *, help: str | None = QUIET_HELP) -> None:
    """``--quiet/-q``: no progress bars; the handler reads ``not args.quiet`` as its ``progress``."""
    p.add_argument("--quiet", "-q", action="store_true", help=help)


PLAIN_PATH_HELP = ("train on the plain PyTorch path (autograd through model.py) instead of the fast path's "
                   "hand-written Hyena backward; the same as train.fast_path: false in the config")


def add_plain_path(p: argparse.ArgumentParser) -> None:
    """``--plain-path``: a trainer's switch back to the plain path; the handler passes
    ``fast_path=False if args.plain_path else None`` (None: the config's ``train.fast_path``)."""
    p.add_argument("--plain-path", action="store_true", help=PLAIN_PATH_HELP)


def add_dtype(p: argparse.ArgumentParser, *, help: str = DTYPE_HELP) -> None:
    """``--dtype``: ``float32`` or ``bfloat16``, the handler's ``hyenadna_kipoi.fast_path.compute_dtype``."""
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32", help=help)


def add_model_args(p: argparse.ArgumentParser, *, device_help: str = DEVICE_HELP, batch_size_default: int | None = 8,
                   batch_size_help: str = BATCH_SIZE_HELP) -> None:
    """``--model``, ``--device``, ``--batch-size``, ``--quiet``: a subcommand that runs a model over inputs."""
    add_model(p)
    add_device(p, help=device_help)
    add_batch_size(p, default=batch_size_default, help=batch_size_help)
    add_quiet(p)

"""Shared helpers for the Triton kernels: deferred import and interpreter detection.

Triton is optional and imported only when a Triton kernel is first needed: each kernel
module defines its kernels inside a cached ``_build()`` function. This keeps
``import hyenadna_kipoi`` light, works where triton is missing or broken, and lets a
process choose ``TRITON_INTERPRET=1`` (the CPU interpreter, read by ``@triton.jit`` and by
``triton.language`` itself at import) any time before the first kernel call.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import Any

import torch

#: Whether a triton package is installed (not imported yet; see :func:`import_triton`).
HAS_TRITON = importlib.util.find_spec("triton") is not None


@functools.cache
def import_triton() -> tuple[Any, Any]:
    """Import and return ``(triton, triton.language)``; raises ImportError if unusable."""
    import triton
    import triton.language as tl

    return triton, tl


@functools.cache
def triton_importable() -> bool:
    """True when triton imports without error (cached)."""
    if not HAS_TRITON:
        return False
    try:
        import_triton()
    except Exception:  # noqa: BLE001 - ImportError, or a broken install (missing driver libs, ...)
        return False
    return True


def interpreting() -> bool:
    """True when Triton kernels run in the CPU interpreter (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def triton_usable(*tensors: torch.Tensor) -> bool:
    """Whether Triton kernels can run on these tensors.

    CUDA tensors need a working Triton; CPU tensors need the interpreter.
    """
    on_cuda = all(t.is_cuda for t in tensors)
    on_cpu = all(t.device.type == "cpu" for t in tensors)
    if not (on_cuda or (on_cpu and interpreting())):
        return False
    return triton_importable()


def require_triton(*tensors: torch.Tensor) -> None:
    """Raise a helpful error when a Triton kernel is requested but cannot run."""
    if not triton_importable():
        raise RuntimeError(
            "the 'triton' kernel backend was requested but triton is not importable; "
            "install triton or use backend='torch' (HYENADNA_KERNELS=torch)"
        )
    if not triton_usable(*tensors):
        raise RuntimeError(
            "the 'triton' kernel backend needs CUDA tensors (or CPU tensors with "
            "TRITON_INTERPRET=1 set before triton is first imported); "
            "use backend='torch' (HYENADNA_KERNELS=torch) instead"
        )


def next_pow2(n: int) -> int:
    """Smallest power of two >= n (and >= 1)."""
    return 1 << max(0, (int(n) - 1).bit_length())


def cdiv(a: int, b: int) -> int:
    """Ceiling division for launch grids."""
    return -(-a // b)

"""Output buffers, with a debug mode that proves every element is written before it is read.

Kernels and the fast path allocate their outputs uninitialised (``torch.empty``): filling
them would cost a pass over memory. A read of an element that no code wrote would then see
whatever the allocator handed back, which depends on what ran before and so on timing. With
``HYENADNA_POISON_EMPTY=1`` (the test suite sets it) these buffers are filled with NaN
instead, so such a read shows up as NaN in the result rather than as a rare wrong number.
"""

from __future__ import annotations

import os

import torch

ENV_VAR = "HYENADNA_POISON_EMPTY"


def poisoning() -> bool:
    """True when new buffers are filled with NaN (``$HYENADNA_POISON_EMPTY`` set to 1/true/yes)."""
    return os.environ.get(ENV_VAR, "").strip().lower() in ("1", "true", "yes")


def _poison(t: torch.Tensor) -> torch.Tensor:
    if t.is_floating_point() or t.is_complex():
        t.fill_(float("nan"))
    else:
        t.fill_(-1)  # integer buffers: an impossible index or token
    return t


def empty(*shape: int, dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
    """``torch.empty(shape)``, NaN-filled in the debug mode."""
    t = torch.empty(shape, dtype=dtype, device=device)
    return _poison(t) if poisoning() else t


def empty_like(x: torch.Tensor, **kwargs) -> torch.Tensor:
    """``torch.empty_like(x, **kwargs)``, NaN-filled in the debug mode."""
    t = torch.empty_like(x, **kwargs)
    return _poison(t) if poisoning() else t

"""Backend selection for the Hyena kernels: one entry point per operation.

Backend resolution, first match wins:

1. the ``backend=`` argument, 2. the environment variable ``HYENADNA_KERNELS``
(read at every call), 3. ``"auto"``.

* ``"torch"``  - plain PyTorch (the references, and the chunked FFT path at inference).
* ``"triton"`` - the Triton kernels; needs CUDA tensors, or CPU tensors with
  ``TRITON_INTERPRET=1`` set before this package is imported (tests). Raises if neither.
* ``"auto"``   - ``"triton"`` for CUDA tensors when Triton imports, else ``"torch"``.

Whatever the backend, a call that needs gradients (grad mode on and any input requiring
grad) or a dtype the kernels do not handle (float64) runs the differentiable torch
reference: the Triton kernels and the chunked path are inference-only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from . import implicit_filter as _filt
from . import long_conv as _lc
from . import short_conv as _sc
from ._triton_utils import require_triton, triton_importable
from .implicit_filter import FilterCache

__all__ = [
    "BACKENDS",
    "ENV_VAR",
    "implicit_filter",
    "implicit_filter_rows",
    "implicit_filter_spectrum",
    "long_conv",
    "long_conv_plan",
    "long_conv_wants_spectrum",
    "resolve_backend",
    "short_conv_gate",
]

ENV_VAR = "HYENADNA_KERNELS"
BACKENDS = ("auto", "torch", "triton")
_KERNEL_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def resolve_backend(backend: str | None, *tensors: torch.Tensor) -> str:
    """Return ``"torch"`` or ``"triton"`` for an operation on ``tensors`` (see module doc)."""
    choice = backend if backend is not None else os.environ.get(ENV_VAR, "") or "auto"
    choice = choice.strip().lower()
    if choice not in BACKENDS:
        raise ValueError(
            f"unknown kernel backend {choice!r} (from "
            f"{'the backend argument' if backend is not None else ENV_VAR}); "
            f"choose one of {', '.join(BACKENDS)}"
        )
    if choice == "triton":
        require_triton(*tensors)
        return "triton"
    if choice == "auto" and tensors and all(t.is_cuda for t in tensors) and triton_importable():
        return "triton"
    return "torch"


def _needs_grad(*tensors: torch.Tensor | None) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _kernel_dtype_ok(*tensors: torch.Tensor | None) -> bool:
    return all(t is None or t.dtype in _KERNEL_DTYPES for t in tensors)


def _kernel_backend(backend: str | None, tensors: Sequence[torch.Tensor | None],
                    on: Sequence[torch.Tensor] | None = None) -> str:
    """``"torch"`` when the call needs autograd or a dtype the kernels lack (float64), else
    :func:`resolve_backend` for the tensors ``on`` (default: all of ``tensors``)."""
    if _needs_grad(*tensors) or not _kernel_dtype_ok(*tensors):
        return "torch"
    return resolve_backend(backend, *(tensors if on is None else on))


# ---------------------------------------------------------------- short conv + gate

def short_conv_gate(
    u: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    *,
    backend: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal depthwise k=3 conv of u [B, L, 3d], split, gate: returns (x0, z), each [B, L, d].

    See :mod:`hyenadna_kipoi.kernels.short_conv`; weight [3d, 1, 3], bias [3d] or None.
    """
    if _kernel_backend(backend, (u, weight, bias), on=(u,)) == "triton":
        return _sc.short_conv_gate_triton(u, weight, bias)
    return _sc.short_conv_gate_reference(u, weight, bias)


# ---------------------------------------------------------------- implicit filter

def _filter_tensors(zpos, tpos, weights, biases, freq, deltas) -> list[torch.Tensor]:
    return [zpos, tpos, *weights, *(b for b in biases if b is not None), freq, deltas]


def _filter_fn(backend_name: str):
    return _filt.implicit_filter_triton if backend_name == "triton" else _filt.implicit_filter_reference


def implicit_filter(
    L: int,
    zpos: torch.Tensor,
    tpos: torch.Tensor,
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor | None],
    freq: torch.Tensor,
    deltas: torch.Tensor,
    *,
    shift: float = 0.05,
    backend: str | None = None,
    cache: FilterCache | None = None,
) -> torch.Tensor:
    """Implicit Hyena filter k [L, d] (see :mod:`hyenadna_kipoi.kernels.implicit_filter`).

    With ``cache`` (one :class:`FilterCache` per layer) the filter is computed once per
    length while the weights are unchanged and no gradient is needed.
    """
    tensors = _filter_tensors(zpos, tpos, weights, biases, freq, deltas)
    name = _kernel_backend(backend, tensors)

    def compute() -> torch.Tensor:
        return _filter_fn(name)(L, zpos, tpos, weights, biases, freq, deltas, shift)

    if cache is None:
        return compute()
    return cache.get(("k", int(L), float(shift), name), tensors, compute)


def implicit_filter_spectrum(
    L: int,
    zpos: torch.Tensor,
    tpos: torch.Tensor,
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor | None],
    freq: torch.Tensor,
    deltas: torch.Tensor,
    *,
    shift: float = 0.05,
    fft_size: int | None = None,
    backend: str | None = None,
    cache: FilterCache | None = None,
) -> torch.Tensor:
    """Normalised spectrum k_f = rfft(k, n) / n of the implicit filter, [n//2+1, d] complex.

    ``fft_size`` n defaults to 2L (the reference). With ``cache`` the spectrum is computed
    once per (L, n) while the weights are unchanged; the filter itself is then not kept.
    """
    n = 2 * int(L) if fft_size is None else int(fft_size)
    tensors = _filter_tensors(zpos, tpos, weights, biases, freq, deltas)
    name = _kernel_backend(backend, tensors)

    def compute() -> torch.Tensor:
        k = _filter_fn(name)(L, zpos, tpos, weights, biases, freq, deltas, shift)
        return _lc.filter_spectrum(k, n)

    if cache is None:
        return compute()
    return cache.get(("kf", int(L), n, float(shift), name), tensors, compute)


def implicit_filter_rows(
    L: int,
    zpos: torch.Tensor,
    tpos: torch.Tensor,
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor | None],
    freq: torch.Tensor,
    deltas: torch.Tensor,
    *,
    shift: float = 0.05,
    cache: FilterCache | None = None,
) -> torch.Tensor:
    """The implicit filter channel-first, k^T [d, L] contiguous (torch; inference).

    Half the size of its spectrum: what a cache can keep when the spectrum is too large
    (``long_conv.filter_spectrum_rows`` turns rows of it into spectra on each call).
    """
    tensors = _filter_tensors(zpos, tpos, weights, biases, freq, deltas)

    def compute() -> torch.Tensor:
        z2, t1, fr, dl, _ = _filt._prepare(L, zpos, tpos, weights, biases, freq, deltas)
        h = _filt.filter_features(z2, weights[:-1], biases[:-1], fr)
        return _filt.filter_head_rows(h, t1, weights[-1], biases[-1], dl, shift)

    if cache is None:
        return compute()
    return cache.get(("kt", int(L), float(shift)), tensors, compute)


# ---------------------------------------------------------------- long conv

def long_conv_plan(
    z: torch.Tensor,
    k_or_kf: torch.Tensor | None = None,
    D: torch.Tensor | None = None,
    x0: torch.Tensor | None = None,
    *,
    backend: str | None = None,
) -> str:
    """Which path :func:`long_conv` takes: ``"reference"`` (autograd / float64),
    ``"chunked"`` (torch inference), ``"triton-direct"`` (L <= DIRECT_MAX_L) or
    ``"triton-fft"``."""
    k_real = None if k_or_kf is None or k_or_kf.is_complex() else k_or_kf
    if _needs_grad(z, k_or_kf, D, x0) or not _kernel_dtype_ok(z, x0, k_real):
        return "reference"
    if resolve_backend(backend, z) == "triton":
        return "triton-direct" if z.shape[1] <= _lc.DIRECT_MAX_L else "triton-fft"
    return "chunked"


def long_conv_wants_spectrum(z: torch.Tensor, *, backend: str | None = None) -> bool:
    """True when :func:`long_conv` would consume a spectrum k_f rather than k (a hint for
    callers holding a :class:`FilterCache`; either input is always accepted)."""
    return long_conv_plan(z, backend=backend) in ("chunked", "triton-fft")


def long_conv(
    z: torch.Tensor,
    k_or_kf: torch.Tensor,
    D: torch.Tensor,
    x0: torch.Tensor | None,
    *,
    backend: str | None = None,
    chunk: int | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Gated long convolution ``(causal_conv(z, k) + D z) * x0``, all [B, L, d].

    Args:
        z: [B, L, d] gated input; x0: [B, L, d] output gate (or None).
        k_or_kf: a real filter k [Lk >= L, d], or its spectrum k_f [n//2+1, d] (complex,
            as from :func:`implicit_filter_spectrum` / ``filter_spectrum``, n >= 2L - 1).
        D: [d] bias weights.
        backend: "auto" | "torch" | "triton" (see module doc).
        chunk: channels per FFT tile for the chunked/FFT paths (default: memory budget).
        out: optional [B, L, d] destination for the inference paths (may be ``z`` itself).

    Returns:
        [B, L, d] in z's dtype.
    """
    L = z.shape[1]
    plan = long_conv_plan(z, k_or_kf, D, x0, backend=backend)
    is_spec = k_or_kf.is_complex()
    if plan in ("reference", "triton-direct"):
        k = _lc.filter_from_spectrum(k_or_kf, L) if is_spec else k_or_kf
        if plan == "reference":
            y = _lc.long_conv_reference(z, k, D, x0)
            return y if out is None else out.copy_(y)
        return _lc.long_conv_direct_triton(z, k, D, x0, out=out)
    k_f = k_or_kf if is_spec else _lc.filter_spectrum(k_or_kf[:L])
    if plan == "triton-fft":
        return _lc.long_conv_fft_triton(z, k_f, D, x0, chunk=chunk, out=out)
    return _lc.long_conv_chunked(z, k_f, D, x0, chunk=chunk, out=out)

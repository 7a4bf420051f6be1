"""Training fast path: the Hyena operator with a hand-written backward (``kernels.hyena_autograd``).

``HyenaOperator.forward`` comes here when the model was switched to it
(:meth:`~hyenadna_kipoi.model.HyenaDNA.set_fast_training`, which the pretraining and
fine-tuning trainers do unless ``train.fast_path: false`` / ``--plain-path``) and gradients
are being recorded. The in- and out-projections and the implicit filter's MLP stay ordinary
autograd modules; the short conv, gate, long convolution, bias term and output gate between
them are one autograd Function that stores u and the convolution output only and recomputes
the rest in its backward (equal to the plain path's gradients up to FFT rounding; tested in
``tests/test_fast_train.py``). The filter is generated afresh on every call (nothing is cached
while parameters change), and its MLP runs again in the backward instead of storing its
[L, filter_order] activations, which cost about as much memory as the rest of the operator's.

In float32 or float64 without autocast, off the Triton backend (so on every CPU), the projections
join the Function too (``kernels.hyena_channel_first``): the in-projection writes its output
channel-first, the filter MLP runs channel-first (:func:`filter_rows`), and nothing between the
two projections is transposed. Otherwise (CUDA with Triton, autocast) the core alone is the
Function, on channel-last tensors (``kernels.hyena_autograd``).

Only order-2 operators with a k=3 short filter and no Hyena dropout while training take it
(every released model); anything else runs the plain path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .kernels.dispatch import resolve_backend
from .kernels.hyena_autograd import hyena_core
from .kernels.hyena_channel_first import hyena_operator_cf

if TYPE_CHECKING:  # model.py imports this module
    from .model import HyenaFilter, HyenaOperator


def supports(mixer: HyenaOperator) -> bool:
    """True when ``mixer`` can train on the fast path (order 2, k=3 short conv, no active Hyena dropout)."""
    return (mixer.order == 2 and mixer.short_filter.kernel_size == (3,)
            and (mixer.dropout.p == 0 or not mixer.training))


def filter_mlp_rows(fn: HyenaFilter, L: int) -> Tensor:
    """The filter MLP's output for the first L positions, channel-first: [channels, L].

    The formulas of :meth:`~hyenadna_kipoi.model.HyenaFilter.filter` with every activation
    transposed (the matmuls read their operands transposed at no cost), so the filter arrives in
    the rows the FFTs transform.
    """
    z, _ = fn.pos_emb(L)  # [1, L, emb_dim]
    h = z[0].t()
    for layer in fn.implicit_filter:
        if isinstance(layer, nn.Linear):
            h = torch.addmm(layer.bias[:, None], layer.weight, h) if layer.bias is not None else layer.weight @ h
        else:  # Sin: sin(freq * x), freq [1, width]
            h = torch.sin(layer.freq.t() * h)
    return h


@torch.no_grad()
def filter_decay_rows(fn: HyenaFilter, L: int) -> Tensor | None:
    """The exponential modulation exp(-t |delta|) + shift, [channels, L] (None when the filter is not
    modulated). It has no parameters: computed once, outside the MLP's recomputation."""
    mod = fn.modulation
    if not mod.modulate:
        return None
    _, t = fn.pos_emb(L)  # [1, L, 1]
    return torch.mul(-t[0].t(), mod.deltas[0].t().abs()).exp_().add_(mod.shift)


def filter_rows(fn: HyenaFilter, L: int) -> Tensor:
    """``fn.filter(L).t()`` computed channel-first: [channels, L]."""
    h = filter_mlp_rows(fn, L)
    decay = filter_decay_rows(fn, L)
    return h if decay is None else h * decay


def _channel_first(u: Tensor, backend: str | None) -> bool:
    """Whether the whole operator runs channel-first (:mod:`~hyenadna_kipoi.kernels.hyena_channel_first`)."""
    return (u.dtype in (torch.float32, torch.float64) and not torch.is_autocast_enabled(u.device.type)
            and resolve_backend(backend, u) == "torch")


def hyena_operator(mixer: HyenaOperator, u: Tensor, *, backend: str | None = None) -> Tensor:
    """``mixer(u)`` through :func:`~hyenadna_kipoi.kernels.hyena_channel_first.hyena_operator_cf`, or
    (CUDA with Triton, autocast) :func:`~hyenadna_kipoi.kernels.hyena_autograd.hyena_core`:
    u [B, L, d] -> [B, L, d]."""
    L = u.shape[1]
    fn = mixer.filter_fn
    D = fn.bias if mixer.use_bias else torch.zeros_like(fn.bias)
    short = mixer.short_filter
    params = (mixer.in_proj.weight, short.weight, mixer.out_proj.weight, fn.bias)
    if _channel_first(u, backend) and all(p.dtype == u.dtype for p in params):
        # k^T [d, L]; its gradient reaches the filter MLP's parameters through autograd (the MLP recomputed,
        # the modulation kept: [d, L] more memory than recomputing it, a third of the MLP's time less)
        kt = checkpoint(filter_mlp_rows, fn, L, use_reentrant=False)
        decay = filter_decay_rows(fn, L)
        if decay is not None:
            kt = kt * decay
        return hyena_operator_cf(u, mixer.in_proj.weight, mixer.in_proj.bias, short.weight, short.bias, kt, D,
                                 mixer.out_proj.weight, mixer.out_proj.bias)
    # k [L, d]; its gradient reaches the filter MLP's parameters through autograd (the MLP recomputed in the backward)
    k = checkpoint(fn.filter, L, use_reentrant=False)
    y = hyena_core(mixer.in_proj(u), short.weight, short.bias, k, D, backend=backend)
    return mixer.out_proj(y)

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

Only order-2 operators with a k=3 short filter and no Hyena dropout while training take it
(every released model); anything else runs the plain path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from .kernels.hyena_autograd import hyena_core

if TYPE_CHECKING:  # model.py imports this module
    from .model import HyenaOperator


def supports(mixer: HyenaOperator) -> bool:
    """True when ``mixer`` can train on the fast path (order 2, k=3 short conv, no active Hyena dropout)."""
    return (mixer.order == 2 and mixer.short_filter.kernel_size == (3,)
            and (mixer.dropout.p == 0 or not mixer.training))


def hyena_operator(mixer: HyenaOperator, u: Tensor, *, backend: str | None = None) -> Tensor:
    """``mixer(u)`` through :func:`~hyenadna_kipoi.kernels.hyena_autograd.hyena_core`: u [B, L, d] -> [B, L, d]."""
    L = u.shape[1]
    fn = mixer.filter_fn
    # k [L, d]; its gradient reaches the filter MLP's parameters through autograd (the MLP recomputed in the backward)
    k = checkpoint(fn.filter, L, use_reentrant=False)
    D = fn.bias if mixer.use_bias else torch.zeros_like(fn.bias)
    short = mixer.short_filter
    y = hyena_core(mixer.in_proj(u), short.weight, short.bias, k, D, backend=backend)
    return mixer.out_proj(y)

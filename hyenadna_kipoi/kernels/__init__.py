"""Triton kernels and their torch references (installed as ``hyenadna_kipoi.kernels``).

Entry points (backend chosen per call: argument, then ``HYENADNA_KERNELS``, then auto):

* ``dispatch.short_conv_gate`` - causal depthwise k=3 conv + split + gate: u [B, L, 3d] -> (x0, z).
* ``dispatch.implicit_filter`` / ``dispatch.implicit_filter_spectrum`` - Hyena filter k [L, d] or
  its normalised spectrum k_f [n//2+1, d], optionally cached in a :class:`FilterCache`.
* ``dispatch.long_conv`` - (causal_conv(z, k) + D z) * x0 on [B, L, d].
* ``hyena_autograd.hyena_core`` - training: short conv, gate, long conv and output gate of an
  order-2 Hyena operator as one autograd Function with a hand-written backward
  (``short_conv_bwd``: the short conv + gate backward, fused in Triton on CUDA).

Each kernel module (``short_conv``, ``implicit_filter``, ``long_conv``) holds the plain
torch reference beside its Triton kernel. Triton is optional and imported on the first
kernel call; without it (or off CUDA) everything runs on the torch paths.

The dispatchers are not re-exported here: ``long_conv`` and ``implicit_filter`` are also the
names of their kernel modules. Import them from ``hyenadna_kipoi.kernels.dispatch``.
"""

from ._triton_utils import HAS_TRITON
from .dispatch import (
    BACKENDS,
    ENV_VAR,
    implicit_filter_spectrum,
    long_conv_plan,
    long_conv_wants_spectrum,
    resolve_backend,
    short_conv_gate,
)
from .implicit_filter import FilterCache, implicit_filter_reference
from .long_conv import filter_from_spectrum, filter_spectrum, long_conv_reference
from .short_conv import short_conv_gate_reference

__all__ = [
    "BACKENDS",
    "ENV_VAR",
    "HAS_TRITON",
    "FilterCache",
    "filter_from_spectrum",
    "filter_spectrum",
    "implicit_filter_reference",
    "implicit_filter_spectrum",
    "long_conv_plan",
    "long_conv_reference",
    "long_conv_wants_spectrum",
    "resolve_backend",
    "short_conv_gate",
    "short_conv_gate_reference",
]

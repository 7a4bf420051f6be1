"""Triton kernels and their torch references (installed as ``hyenadna_kipoi.kernels``).

Entry points (backend chosen per call: argument, then ``HYENADNA_KERNELS``, then auto):

* :func:`short_conv_gate` - causal depthwise k=3 conv + split + gate: u [B, L, 3d] -> (x0, z).
* :func:`implicit_filter` / :func:`implicit_filter_spectrum` - Hyena filter k [L, d] or its
  normalised spectrum k_f [n//2+1, d], optionally cached in a :class:`FilterCache`.
* :func:`long_conv` - (causal_conv(z, k) + D z) * x0 on [B, L, d].

Each kernel module (``short_conv``, ``implicit_filter``, ``long_conv``) holds the plain
torch reference beside its Triton kernel. Triton is optional and imported on the first
kernel call; without it (or off CUDA) everything runs on the torch paths.

Note: the functions ``long_conv`` and ``implicit_filter`` exported here shadow the
submodules of the same name as attributes of this package; import the modules by their
dotted path (``import hyenadna_kipoi.kernels.long_conv`` binds the function, use
``importlib.import_module("hyenadna_kipoi.kernels.long_conv")`` or
``from hyenadna_kipoi.kernels.long_conv import long_conv_chunked``).
"""

from ._triton_utils import HAS_TRITON
from .dispatch import (
    BACKENDS,
    ENV_VAR,
    implicit_filter,
    implicit_filter_spectrum,
    long_conv,
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
    "implicit_filter",
    "implicit_filter_reference",
    "implicit_filter_spectrum",
    "long_conv",
    "long_conv_plan",
    "long_conv_reference",
    "long_conv_wants_spectrum",
    "resolve_backend",
    "short_conv_gate",
    "short_conv_gate_reference",
]

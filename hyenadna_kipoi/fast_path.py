"""Inference fast path: the same numbers as ``model.py``, less memory and time.

What differs from the plain path (which stays the readable reference):

* channel-last ``[B, L, d]`` end to end: no transposes around the convolutions;
* position-wise work (LayerNorms, projections, short conv, MLP) runs over blocks of
  rows, so no ``[B, L, 3d]`` or ``[B, L, 4d]`` tensor is ever materialised; the short
  conv's two-step reach is covered by re-reading two rows before each block;
* the implicit filter's spectrum is computed once per (layer, length) and cached
  (it does not depend on the input), then shared by every sequence of the batch;
* the long convolution is tiled over channels (``kernels.long_conv``) and written in
  place, with the bias term and the output gate fused into its epilogue;
* the residual stream is updated in place, so a layer holds four ``[B, L, d]`` buffers.

The kernels dispatcher picks Triton on CUDA and torch elsewhere (``HYENADNA_KERNELS``).
Only order-2 Hyena operators (every released model) take this path.
"""

from __future__ import annotations

import os
import weakref

import torch
import torch.nn.functional as F
from torch import Tensor

from .kernels.dispatch import implicit_filter_spectrum, long_conv, long_conv_plan, resolve_backend
from .kernels.implicit_filter import FilterCache
from .kernels.short_conv import short_conv_gate_rows, short_conv_gate_triton
from .model import Backbone, Block, HyenaOperator

ROW_BLOCK_ELEMENTS = 1 << 22  # rows per block x widest row (4d) stays near 16 MiB in fp32
# A spectrum costs (L + 1) x d x 8 bytes per layer (64 MiB at L = 32k, d = 256; 1 GiB at
# L = 1M, d = 128): longer ones are recomputed on each call instead of cached, which keeps
# long-context peak memory low (override: HYENADNA_FILTER_CACHE_MB).
FILTER_CACHE_MB = 64

_filter_caches: weakref.WeakKeyDictionary[HyenaOperator, FilterCache] = weakref.WeakKeyDictionary()


def supports(backbone: Backbone) -> bool:
    """True when every layer can run on the fast path (order-2 Hyena, k=3 short conv, modulated filter)."""
    return all(
        layer.mixer.order == 2 and layer.mixer.short_filter.kernel_size == (3,) and layer.mixer.filter_fn.modulation.modulate
        for layer in backbone.layers
    )


def clear_caches() -> None:
    """Forget every cached filter spectrum (needed only after writing weights through ``.data``)."""
    for cache in list(_filter_caches.values()):
        cache.clear()


def _filter_spectrum(mixer: HyenaOperator, L: int) -> Tensor:
    """Spectrum of the layer's implicit filter for length L: [L + 1, d] complex (FFT size 2L), cached."""
    fn = mixer.filter_fn
    linears = [m for m in fn.implicit_filter if isinstance(m, torch.nn.Linear)]
    limit_mb = float(os.environ.get("HYENADNA_FILTER_CACHE_MB", FILTER_CACHE_MB))
    fits = (L + 1) * fn.bias.numel() * 8 <= limit_mb * 2**20
    cache = _filter_caches.setdefault(mixer, FilterCache()) if fits else None
    return implicit_filter_spectrum(
        L, fn.pos_emb.z, fn.pos_emb.t, [m.weight for m in linears], [m.bias for m in linears],
        fn.implicit_filter[1].freq, fn.modulation.deltas, shift=fn.modulation.shift, cache=cache,
    )


def _row_blocks(L: int, width: int, rows: int | None) -> list[tuple[int, int]]:
    step = rows or max(64, ROW_BLOCK_ELEMENTS // max(width, 1))
    return [(start, min(start + step, L)) for start in range(0, L, step)]


def _mixer_inputs(block: Block, residual: Tensor, x0: Tensor, z: Tensor, blocks, use_triton: bool) -> None:
    """LayerNorm 1, in-projection and short conv + gate, block by block, into x0 and z [B, L, d]."""
    mixer = block.mixer
    weight, bias = mixer.short_filter.weight, mixer.short_filter.bias
    dtype = block.norm1.weight.dtype
    for start, end in blocks:
        lo = max(start - 2, 0)  # two rows of context for the causal k=3 conv
        u = mixer.in_proj(block.norm1(residual[:, lo:end].to(dtype)))
        if use_triton:
            x0_blk, z_blk = short_conv_gate_triton(u, weight, bias)
            x0[:, start:end].copy_(x0_blk[:, start - lo:])
            z[:, start:end].copy_(z_blk[:, start - lo:])
        else:
            short_conv_gate_rows(u, weight, bias, skip=start - lo, out_x0=x0[:, start:end], out_z=z[:, start:end])


@torch.inference_mode()
def fast_backbone(backbone: Backbone, input_ids: Tensor, *, backend: str | None = None,
                  rows: int | None = None) -> Tensor:
    """Last hidden states like ``backbone(input_ids)``: [B, L] -> [B, L, d]. Inference only.

    ``backend`` overrides the kernel choice (``auto``/``torch``/``triton``); ``rows``
    sets the row-block length (default: about 16 MiB of activations per block).
    """
    B, L = input_ids.shape
    d = backbone.ln_f.normalized_shape[0]
    emb = backbone.embeddings.word_embeddings(input_ids)
    fp32_residual = backbone.layers[0].residual_in_fp32 if len(backbone.layers) else False
    residual = emb.float() if fp32_residual else emb
    act_dtype = emb.dtype
    x0 = torch.empty(B, L, d, dtype=act_dtype, device=emb.device)
    z = torch.empty_like(x0)
    d_inner = backbone.layers[0].mlp.fc1.out_features if len(backbone.layers) else d
    blocks = _row_blocks(L, max(3 * d, d_inner), rows)
    use_triton = resolve_backend(backend, x0) == "triton"
    for block in backbone.layers:
        mixer = block.mixer
        _mixer_inputs(block, residual, x0, z, blocks, use_triton)
        k_f = _filter_spectrum(mixer, L)
        D = mixer.filter_fn.bias if mixer.use_bias else torch.zeros_like(mixer.filter_fn.bias)
        in_place = long_conv_plan(z, k_f, D, x0, backend=backend) != "triton-direct"
        y = long_conv(z, k_f, D, x0, backend=backend, out=z if in_place else None)
        for start, end in blocks:
            rows_res = residual[:, start:end]
            rows_res += mixer.out_proj(y[:, start:end])
            hidden = block.mlp.fc2(F.gelu(block.mlp.fc1(block.norm2(rows_res.to(block.norm2.weight.dtype))),
                                          approximate="tanh"))
            rows_res += hidden
    out = x0  # reuse a buffer for the final LayerNorm output
    for start, end in blocks:
        out[:, start:end] = backbone.ln_f(residual[:, start:end].to(backbone.ln_f.weight.dtype))
    return out

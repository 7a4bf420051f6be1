"""Inference fast path: the same numbers as ``model.py``, less memory and time.

What differs from the plain path (which stays the readable reference):

* channel-last ``[B, L, d]`` end to end: no transposes around the convolutions;
* position-wise work (LayerNorms, projections, short conv, MLP) runs over blocks of
  rows, so no ``[B, L, 3d]`` or ``[B, L, 4d]`` tensor is ever materialised; the short
  conv's two-step reach is covered by re-reading two rows before each block;
* the implicit filter does not depend on the input: its spectrum is computed once per
  (layer, length) and cached, then shared by every sequence of the batch; past the cache
  budget (long contexts) the cache keeps the filter itself, channel-first (half the size),
  and past that nothing; spectra are then made a channel group at a time on each call;
* the long convolution is tiled over channels (``kernels.long_conv``) and written in
  place, with the bias term and the output gate fused into its epilogue; on CPU the
  channel-last <-> channel-first copies around the FFTs go a cache-sized tile at a time;
* the MLP's first projection and its GELU are one oneDNN call on CPU (fp32);
* the residual stream is updated in place, so a layer holds four ``[B, L, d]`` buffers.
* within :func:`compute_dtype` ``("bfloat16")`` the projections and the MLP run in bf16
  (autocast: bf16 inputs, fp32 accumulation; AMX/AVX512-BF16 on CPU, tensor cores on GPU)
  while the residual stream, the long convolution, the final LayerNorm and everything after
  the backbone (LM head, log-softmax) stay fp32. Not exact: an option, float32 by default.
* a sequence that shares its first ``p`` tokens with one already run (a variant's ALT window
  and its REF) can run rows ``p..L-1`` only (:func:`fast_backbone_suffix`, from the layer
  inputs that :func:`fast_backbone` ``keep=`` recorded): exact, the model being causal.

The kernels dispatcher picks Triton on CUDA and torch elsewhere (``HYENADNA_KERNELS``).
Only order-2 Hyena operators (every released model) take this path.
"""

from __future__ import annotations

import contextlib
import functools
import os
import weakref
from contextvars import ContextVar
from typing import TYPE_CHECKING, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from .kernels._alloc import empty, empty_like
from .kernels.dispatch import (implicit_filter_rows, implicit_filter_spectrum, long_conv, long_conv_plan,
                               resolve_backend)
from .kernels.implicit_filter import FilterCache, filter_features, filter_head_rows
from .kernels.long_conv import fft_dtype, fft_work, filter_spectrum_rows, long_conv_tile
from .kernels.short_conv import short_conv_gate_rows, short_conv_gate_triton

if TYPE_CHECKING:  # the model's classes, for type hints only: model.py imports this module
    from .model import Backbone, Block, HyenaOperator

# Rows per block x widest row (4d): ~16 MiB of fp32 activations per block on CPU; larger on
# CUDA, where each block costs a handful of kernel launches.
ROW_BLOCK_ELEMENTS = {"cpu": 1 << 22, "cuda": 1 << 26}
# Filter channels whose spectrum is produced at once when it is not cached: [L + 1, C] complex
# stays near 2^21 elements (16 MiB) on CPU, so the whole [L + 1, d] spectrum never exists;
# on CUDA larger groups (fewer, wider FFTs) are worth their memory.
SPECTRUM_GROUP_ELEMENTS = {"cpu": 1 << 21, "cuda": 1 << 26}
# ... but at least 16 channels (one 64-byte line of fp32 per row of the channel-last tensors the
# group is copied from and to; fewer would waste most of every cache line read).
SPECTRUM_GROUP_MIN = 16
# A spectrum costs (L + 1) x d x 8 bytes per layer (64 MiB at L = 32k, d = 256; 1 GiB at
# L = 1M, d = 128), the filter itself half that: the cache keeps the spectrum while it fits this
# budget, else the filter while that fits (tiny at 128k: 64 MiB per layer), else nothing, which
# keeps long-context peak memory low (override: HYENADNA_FILTER_CACHE_MB).
FILTER_CACHE_MB = 64

_filter_caches: weakref.WeakKeyDictionary[HyenaOperator, FilterCache] = weakref.WeakKeyDictionary()


DTYPES = {"float32": None, "bfloat16": torch.bfloat16}  # --dtype choices -> the autocast dtype (None: off)
_compute_dtype: ContextVar[torch.dtype | None] = ContextVar("hyenadna_compute_dtype", default=None)


@contextlib.contextmanager
def compute_dtype(dtype: str | torch.dtype | None) -> Iterator[None]:
    """Within the block the fast path runs its projections and MLP in ``dtype`` ("bfloat16"; "float32"
    or None: exact fp32, the default); see the module docstring for what stays fp32.

    A context variable, like autocast's own state: it covers every fast-path forward of this
    thread (embed, loglik, variant scoring, ISM). Processes started inside the block do not inherit
    it (:mod:`.score.sharding` passes :func:`current_compute_dtype` on).
    """
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        dtype = DTYPES[dtype]
    token = _compute_dtype.set(None if dtype == torch.float32 else dtype)
    try:
        yield
    finally:
        _compute_dtype.reset(token)


def current_compute_dtype() -> torch.dtype | None:
    """The dtype set by the innermost :func:`compute_dtype` block (None: fp32)."""
    return _compute_dtype.get()


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


def _filter_parts(mixer: HyenaOperator) -> tuple[list[Tensor], list[Tensor | None]]:
    linears = [m for m in mixer.filter_fn.implicit_filter if isinstance(m, torch.nn.Linear)]
    return [m.weight for m in linears], [m.bias for m in linears]


def _cacheable(nbytes: int) -> bool:
    """True when one layer's cached filter of ``nbytes`` stays within HYENADNA_FILTER_CACHE_MB."""
    return nbytes <= float(os.environ.get("HYENADNA_FILTER_CACHE_MB", FILTER_CACHE_MB)) * 2**20


def _filter_args(mixer: HyenaOperator) -> tuple:
    fn = mixer.filter_fn
    weights, biases = _filter_parts(mixer)
    return fn.pos_emb.z, fn.pos_emb.t, weights, biases, fn.implicit_filter[1].freq, fn.modulation.deltas


def _cached_spectrum(mixer: HyenaOperator, L: int) -> Tensor:
    """Spectrum of the layer's implicit filter for length L: [L + 1, d] complex (FFT size 2L), cached."""
    return implicit_filter_spectrum(L, *_filter_args(mixer), shift=mixer.filter_fn.modulation.shift,
                                    cache=_filter_caches.setdefault(mixer, FilterCache()))


def _cached_filter_rows(mixer: HyenaOperator, L: int) -> Tensor:
    """The layer's implicit filter channel-first, [d, L] real (half its spectrum's size), cached."""
    return implicit_filter_rows(L, *_filter_args(mixer), shift=mixer.filter_fn.modulation.shift,
                                cache=_filter_caches.setdefault(mixer, FilterCache()))


def _gated_long_conv(mixer: HyenaOperator, z: Tensor, x0: Tensor, backend: str | None) -> Tensor:
    """(causal_conv(z, k) + D z) * x0 for the layer's filter k, written into z: [B, L, d].

    A short filter's spectrum is cached whole. Past the cache budget the spectrum is made a
    group of channels at a time, each group convolved as soon as its spectrum exists, from the
    cached filter k (half the spectrum's size) while that fits the budget, else from the sine
    MLP's hidden layer (computed once per call).
    """
    B, L, d = z.shape
    fn = mixer.filter_fn
    D = fn.bias if mixer.use_bias else torch.zeros_like(fn.bias)
    plan = long_conv_plan(z, None, D, x0, backend=backend)
    if _cacheable((L + 1) * d * 8):
        k_f = _cached_spectrum(mixer, L)
        return long_conv(z, k_f, D, x0, backend=backend, out=z if plan != "triton-direct" else None)
    n = 2 * L
    fdt = fft_dtype(z.dtype)
    kt = _cached_filter_rows(mixer, L) if _cacheable(L * d * fn.bias.element_size()) else None
    if kt is None:
        zpos, tpos, weights, biases, freq, deltas = _filter_args(mixer)
        hidden = filter_features(zpos[0, :L], weights[:-1], biases[:-1], freq)
        deltas = deltas.reshape(-1)
    budget = SPECTRUM_GROUP_ELEMENTS["cuda" if z.is_cuda else "cpu"]
    group = min(d, max(SPECTRUM_GROUP_MIN, budget // (L + 1)))
    # Zero-padded buffers reused by every group: only their first L columns are ever written.
    kwork = torch.zeros(group, n, dtype=fdt, device=z.device)
    bg = max(1, min(B, budget // (n * group)))
    zwork = fft_work(bg, group, n, fdt, z.device) if plan == "chunked" else None
    for c0 in range(0, d, group):
        c1 = min(d, c0 + group)
        if kt is not None:
            kft = filter_spectrum_rows(kt[c0:c1], n, work=kwork)
        else:
            direct = hidden.dtype == fdt  # the filter can be written straight into the FFT buffer
            rows = filter_head_rows(hidden, tpos[0, :L], weights[-1][c0:c1], None if biases[-1] is None
                                    else biases[-1][c0:c1], deltas[c0:c1], fn.modulation.shift,
                                    out=kwork[:c1 - c0, :L] if direct else None)
            kft = filter_spectrum_rows(rows, n, work=kwork, in_place=direct)
        if zwork is None:  # the Triton paths (or autograd); the direct kernel must not write over its input
            dst = z[..., c0:c1]
            res = long_conv(dst, kft.t(), D[c0:c1], x0[..., c0:c1], backend=backend,
                            out=None if plan == "triton-direct" else dst)
            if res is not dst:
                dst.copy_(res)
            continue
        for b0 in range(0, B, bg):
            long_conv_tile(z, kft, D, x0, z, (b0, min(B, b0 + bg)), (c0, c1), zwork)
    return z


def _fc1_gelu(fc1: torch.nn.Linear, x: Tensor) -> Tensor | None:
    """gelu_tanh(fc1(x)) for x [N, d] as one oneDNN call (the GELU applied to the product while it is
    in cache; the same numbers up to rounding), or None where that op is missing (CPU builds without
    oneDNN) or does not apply."""
    if x.device.type != "cpu" or x.dtype != torch.float32 or not _onednn_linear():
        return None
    return torch.ops.mkldnn._linear_pointwise(x, fc1.weight, fc1.bias, "gelu", [], "tanh")


@functools.cache
def _onednn_linear() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def _mlp(mlp: torch.nn.Module, x: Tensor, *, fused: bool) -> Tensor:
    """fc2(gelu_tanh(fc1(x))) for the normalised rows x [B, R, d]; ``fused``: fc1 and the GELU in one
    oneDNN call where available (not under autocast, which the fused op would bypass)."""
    h = _fc1_gelu(mlp.fc1, x.flatten(0, 1)) if fused else None
    if h is None:
        return mlp.fc2(F.gelu(mlp.fc1(x), approximate="tanh"))
    return mlp.fc2(h).view(x.shape[0], x.shape[1], -1)


def _row_blocks(L: int, width: int, rows: int | None, device: torch.device) -> list[tuple[int, int]]:
    step = rows or max(64, ROW_BLOCK_ELEMENTS["cuda" if device.type == "cuda" else "cpu"] // max(width, 1))
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
def fast_backbone(backbone: Backbone, input_ids: Tensor, *, prefix: Tensor | None = None,
                  backend: str | None = None, rows: int | None = None,
                  keep: list[tuple[Tensor, Tensor]] | None = None, first_row: int = 0) -> Tensor:
    """Last hidden states like ``backbone(input_ids, prefix)``: [B, L] -> [B, L, d] ([B, k + L, d]
    with a prefix). Inference only.

    ``backend`` overrides the kernel choice (``auto``/``torch``/``triton``); ``rows``
    sets the row-block length (default: about 16 MiB of activations per block). ``keep``, a
    list, receives each layer's (input residual, long-convolution input z), [B, L, d] each:
    what :func:`fast_backbone_suffix` needs to continue a sequence that shares a prefix.
    ``first_row`` > 0 returns rows ``first_row..`` only, [B, L - first_row, d], and skips the last
    layer's out-projection and MLP before them (every earlier row is still run: the long
    convolutions need them).
    """
    emb = backbone.embed_inputs(input_ids, prefix)
    return _layers(backbone, emb, 0, backend, rows, keep=keep, first_row=first_row)


@torch.inference_mode()
def fast_backbone_suffix(backbone: Backbone, input_ids: Tensor, start: int, known: list[tuple[Tensor, Tensor]],
                         parents: Tensor, *, backend: str | None = None, rows: int | None = None) -> Tensor:
    """Last hidden states of rows ``start..L-1`` only, [B, L] -> [B, L - start, d], for sequences whose
    first ``start`` tokens equal those of sequences already run with ``fast_backbone(..., keep=known)``:
    row b continues ``known`` sequence ``parents[b]`` ([B] int).

    Exact because the model is causal: a row's activations depend only on the tokens up to it, so
    every activation of rows < ``start`` is that of the parent. Per layer the parent's input
    residual supplies the two rows of context of the short convolution, and its z the long
    convolution's input before ``start``; the position-wise work (norms, projections, short conv,
    MLP) runs on rows ``start - 2..L-1`` only. The long convolution still runs over all L rows
    (it is not position-wise), on the parent's z followed by the new rows' z.
    """
    if not 0 <= start <= input_ids.shape[1]:
        raise ValueError(f"start must lie in 0..{input_ids.shape[1]}, got {start}")
    lo = max(start - 2, 0)
    emb = backbone.embed_inputs(input_ids[:, lo:])
    return _layers(backbone, emb, start - lo, backend, rows, known=[(r[parents], z[parents]) for r, z in known],
                   length=input_ids.shape[1])


def _layers(backbone: Backbone, emb: Tensor, skip: int, backend: str | None, rows: int | None, *,
            keep: list[tuple[Tensor, Tensor]] | None = None, known: list[tuple[Tensor, Tensor]] | None = None,
            length: int | None = None, first_row: int = 0) -> Tensor:
    """Run every layer on the embedded rows ``emb`` [B, n, d], the last n of ``length`` rows (default n).

    The first ``skip`` (<= 2) rows of ``emb`` are context and the earlier ``length - n`` rows are
    not run: both come from ``known`` (see :func:`fast_backbone_suffix`). Returns the final
    LayerNorm of rows ``max(skip, first_row)..n-1``: [B, n - max(skip, first_row), d].
    """
    B, n, d = emb.shape
    L = n if length is None else length
    start = L - n + skip  # first row computed here, in whole-sequence rows
    fp32_residual = backbone.layers[0].residual_in_fp32 if len(backbone.layers) else False
    residual = emb.float() if fp32_residual else emb
    act_dtype = emb.dtype
    x0 = empty(B, L, d, dtype=act_dtype, device=emb.device)
    z = empty_like(x0)
    if start:
        x0[:, :start] = 0  # the gate of rows whose output is not used
    d_inner = backbone.layers[0].mlp.fc1.out_features if len(backbone.layers) else d
    blocks = [(skip + a, skip + b) for a, b in _row_blocks(n - skip, max(3 * d, d_inner), rows, emb.device)]
    use_triton = resolve_backend(backend, x0) == "triton"
    off = L - n  # residual row i is whole-sequence row off + i
    first = max(skip, first_row)
    last_blocks = [(max(lo, first), hi) for lo, hi in blocks if hi > first]  # rows the output needs
    _run_blocks(backbone, residual, x0, z, blocks, last_blocks, off, start, use_triton, backend, keep, known)
    out = x0[:, off:]  # reuse a buffer for the final LayerNorm output
    for lo, hi in last_blocks:
        out[:, lo:hi] = backbone.ln_f(residual[:, lo:hi].to(backbone.ln_f.weight.dtype))
    return out[:, first:]


def _run_blocks(backbone: Backbone, residual: Tensor, x0: Tensor, z: Tensor, blocks: list[tuple[int, int]],
                last_blocks: list[tuple[int, int]], off: int, start: int, use_triton: bool, backend: str | None,
                keep: list[tuple[Tensor, Tensor]] | None, known: list[tuple[Tensor, Tensor]] | None) -> None:
    """Every layer on the residual rows ``blocks``, in place (see :func:`_layers` for the row offsets); the
    last layer's out-projection and MLP on ``last_blocks`` only.

    Under :func:`compute_dtype` the position-wise parts run in autocast; the long convolution
    (and its filter spectrum, which is cached) never does.
    """
    low = _compute_dtype.get()

    def position_wise() -> torch.autocast:
        return torch.autocast(residual.device.type, dtype=low or torch.float32, enabled=low is not None)

    skip = start - off
    for i, block in enumerate(backbone.layers):
        mixer = block.mixer
        if known is not None:
            residual[:, :skip] = known[i][0][:, off:start]
            z[:, :start] = known[i][1][:, :start]
        if keep is not None:
            keep.append((residual.clone(), None))
        with position_wise():
            _mixer_inputs(block, residual, x0[:, off:], z[:, off:], blocks, use_triton)
        if keep is not None:
            keep[-1] = (keep[-1][0], z.clone())
        y = _gated_long_conv(mixer, z, x0, backend)
        with position_wise():
            for lo, hi in last_blocks if i == len(backbone.layers) - 1 else blocks:
                rows_res = residual[:, lo:hi]
                rows_res += mixer.out_proj(y[:, off + lo:off + hi])
                rows_res += _mlp(block.mlp, block.norm2(rows_res.to(block.norm2.weight.dtype)), fused=low is None)

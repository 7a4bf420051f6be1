"""Long causal depthwise convolution with the Hyena bias term and output gate.

For z, x0 [B, L, d] (channel-last), a filter k [L, d] and a per-channel bias D [d]:

    y[b, t, c]   = sum_{s=0..t} k[s, c] * z[b, t - s, c]        (causal, per channel)
    out[b, t, c] = (y[b, t, c] + D[c] * z[b, t, c]) * x0[b, t, c]

The HyenaDNA reference computes y with a zero-padded FFT of size n = 2L
(:func:`long_conv_reference` is that formula verbatim). Paths here:

* :func:`long_conv_reference`   - torch.fft, exactly the model's formula (autograd works).
* :func:`long_conv_chunked`     - torch.fft over channel chunks with a precomputed
  spectrum k_f (:func:`filter_spectrum`), epilogue fused in place; peak extra memory is
  bounded by ``budget`` elements instead of ~10 x B x L x d. Inference only. The
  channel-last <-> channel-first copies around the transforms go tile by tile of rows
  (:func:`copy_transposed`): torch.fft transforms a contiguous last axis only (a strided
  ``dim=1`` transform transposes internally), and one whole-length strided copy is ~6x
  slower than the tiled one on CPU.
* :func:`long_conv_direct_triton` - Triton blocked Toeplitz convolution on tensor cores,
  bias and gate fused; O(L^2 d) work, for short L (a few thousand).
* :func:`long_conv_fft_triton`  - cuFFT (torch.fft) transforms over channel chunks with a
  fused Triton epilogue (crop, + D z, cast, * x0); for every other length.

Spectra use the reference normalisation: k_f = rfft(k, n) / n and y = irfft(z_f k_f, n,
norm="forward")[:L], so ``k_f`` can be cached once per (filter, n) and reused across
batches and calls.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import torch

from ._alloc import empty_like
from ._triton_utils import cdiv, import_triton, interpreting, next_pow2, require_triton

# Bound by _build() on first use; module globals so the kernels' `tl.` resolves.
triton = tl = None

__all__ = [
    "DIRECT_MAX_L",
    "copy_transposed",
    "fft_dtype",
    "filter_from_spectrum",
    "filter_spectrum",
    "filter_spectrum_rows",
    "long_conv_chunked",
    "long_conv_tile",
    "long_conv_direct_triton",
    "long_conv_fft_triton",
    "long_conv_reference",
]

#: Longest sequence for which the 'triton' backend uses the direct (Toeplitz) kernel;
#: longer ones go through the FFT path. Measured on an H200 (d=256, B=1, fp32, eager):
#: direct 77 us vs 150-240 us for the FFT paths at L=512-1024 (all launch-bound: in a
#: CUDA graph the FFT path needs only 16-19 us of GPU time vs 53-59 us), 150 vs 170 us
#: at 2k, and the FFT path wins from 3k on. See benchmarks/bench_long_conv.py.
DIRECT_MAX_L = 1024

#: Rows per tile of :func:`copy_transposed`: a tile of 16 channels (128 KiB) stays in L2.
TRANSPOSE_ROWS = 2048


def fft_dtype(dtype: torch.dtype) -> torch.dtype:
    """Real dtype the FFTs run in: float64 stays, everything else is float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _check(z: torch.Tensor, D: torch.Tensor, x0: torch.Tensor | None) -> tuple[int, int, int]:
    if z.dim() != 3:
        raise ValueError(f"z must be [B, L, d], got shape {tuple(z.shape)}")
    B, L, d = z.shape
    if D.numel() != d:
        raise ValueError(f"D must have d={d} elements, got shape {tuple(D.shape)}")
    if x0 is not None and x0.shape != z.shape:
        raise ValueError(f"x0 must match z's shape {tuple(z.shape)}, got {tuple(x0.shape)}")
    return B, L, d


def long_conv_reference(
    z: torch.Tensor, k: torch.Tensor, D: torch.Tensor, x0: torch.Tensor | None
) -> torch.Tensor:
    """The HyenaDNA ``fftconv`` formula on channel-last tensors, then the x0 gate.

    Args:
        z: [B, L, d] gated input (v * x1).
        k: [Lk, d] real filter, Lk >= L (only k[:L] is used, as the model does).
        D: [d] bias ("skip") weights.
        x0: [B, L, d] output gate, or None for no gate.

    Returns:
        [B, L, d] in z's dtype: ``((irfft(rfft(z, 2L) * rfft(k, 2L) / 2L)[:L] + z * D)
        .to(z.dtype)) * x0``.
    """
    _, L, d = _check(z, D, x0)
    n = 2 * L
    fdt = fft_dtype(k.dtype)
    k_f = torch.fft.rfft(k[:L].to(fdt), n=n, dim=0) / n
    z_f = torch.fft.rfft(z.to(fdt), n=n, dim=1)
    y = torch.fft.irfft(z_f * k_f, n=n, dim=1, norm="forward")[:, :L]
    out = (y + z * D.reshape(d)).to(z.dtype)
    return out if x0 is None else out * x0


def copy_transposed(dst: torch.Tensor, src: torch.Tensor, *, mul: torch.Tensor | None = None,
                    rows: int = TRANSPOSE_ROWS) -> torch.Tensor:
    """``dst[b, t, c] = src[b, c, t]`` (times ``mul[b, t, c]`` if given), a tile of rows at a time.

    Args:
        dst: [b, T, C] destination (any strides; typically a channel slice of a channel-last tensor,
            or the transposed view of a channel-first buffer).
        src: [b, C, T] source, the same data with the last two axes swapped (any strides).
        mul: optional [b, T, C] factor, multiplied in on the way (the long convolution's gate).
        rows: rows (T) per tile.

    Returns:
        ``dst``. One strided copy over the whole length walks it once per channel and re-reads
        every cache line C times; tiles of ``rows`` rows stay in cache.
    """
    T = dst.shape[1]
    for t0 in range(0, T, rows):
        t1 = min(T, t0 + rows)
        tile = src[:, :, t0:t1].transpose(1, 2)
        if mul is None:
            dst[:, t0:t1].copy_(tile)
        else:
            torch.mul(tile.to(dst.dtype), mul[:, t0:t1], out=dst[:, t0:t1])
    return dst


def filter_spectrum(k: torch.Tensor, fft_size: int | None = None) -> torch.Tensor:
    """Normalised real FFT of a filter, as consumed by the FFT paths.

    Args:
        k: [L, d] real filter.
        fft_size: n (default 2L); must be >= 2L - 1 for an exact linear convolution.

    Returns:
        k_f [n // 2 + 1, d] complex (complex64, or complex128 for float64 k) equal to
        ``rfft(k, n, dim=0) / n``. It is a transposed view of a contiguous [d, n//2+1]
        tensor, the layout the chunked paths read (so ``k_f.t()`` costs nothing).
    """
    return filter_spectrum_rows(k.t(), fft_size).t()


def filter_spectrum_rows(kt: torch.Tensor, fft_size: int | None = None, *, work: torch.Tensor | None = None,
                         in_place: bool = False) -> torch.Tensor:
    """:func:`filter_spectrum` of a channel-first filter: kt [C, L] -> rfft(kt, n) / n, [C, n//2+1] contiguous.

    ``work`` (optional) is a zero-padded [>= C, n] real buffer whose columns L..n-1 are zero: kt is
    copied into its first L columns (tile by tile when kt is a transposed view), so the transform
    needs no padded copy of its own. With ``in_place`` kt already is ``work[:C, :L]``.
    """
    C, L = kt.shape
    n = 2 * L if fft_size is None else int(fft_size)
    if n < 2 * L - 1:
        raise ValueError(f"fft_size={n} is too small for a filter of length {L}")
    if work is None:
        work = torch.zeros(C, n, dtype=fft_dtype(kt.dtype), device=kt.device)
    buf = work[:C]
    if not in_place and kt.stride(-1) == 1:  # contiguous rows (a cached channel-first filter): one plain copy
        buf[:, :L].copy_(kt)
    elif not in_place:
        copy_transposed(buf[None, :, :L].transpose(1, 2), kt[None])
    return torch.fft.rfft(buf, dim=-1).div_(n)


def filter_from_spectrum(k_f: torch.Tensor, L: int) -> torch.Tensor:
    """Inverse of :func:`filter_spectrum`: the real filter [L, d] from k_f [n//2+1, d]."""
    n = 2 * (k_f.shape[0] - 1)
    return torch.fft.irfft(k_f, n=n, dim=0, norm="forward")[:L]


def _spectrum_rows(k_f: torch.Tensor, L: int, d: int) -> tuple[torch.Tensor, int]:
    """Channel-first spectrum [d, F] and FFT size n, with shape checks."""
    if not k_f.is_complex() or k_f.dim() != 2 or k_f.shape[1] != d:
        raise ValueError(f"k_f must be complex [n//2+1, d={d}], got {k_f.dtype} {tuple(k_f.shape)}")
    n = 2 * (k_f.shape[0] - 1)
    if n < 2 * L - 1:
        raise ValueError(f"k_f has fft size {n}, too small for L={L} (needs >= {2 * L - 1})")
    kft = k_f.t()
    return (kft if kft.is_contiguous() else kft.contiguous()), n


def _default_budget(device: torch.device) -> int:
    # Elements of one chunk's padded signal (batch x channels x n); a chunk holds about
    # 12-16 bytes per element (padded input, spectrum, inverse), so 2^26 ~ 1 GB on GPU and
    # 2^22 ~ 64 MB on CPU, where a smaller tile costs no speed and keeps peak memory low.
    return 2**26 if device.type == "cuda" else 2**22


def _chunks(B: int, d: int, n: int, chunk: int | None, budget: int | None, device: torch.device):
    """Yield (b0, b1, c0, c1) tiles of (batch, channel) processed at once."""
    budget = budget or _default_budget(device)
    if chunk is None:
        chunk = max(1, min(d, budget // n))
    bg = max(1, min(B, budget // (n * chunk)))
    for b0 in range(0, B, bg):
        for c0 in range(0, d, chunk):
            yield b0, min(B, b0 + bg), c0, min(d, c0 + chunk)


def _alloc_out(z: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
    if out is None:
        return empty_like(z, memory_format=torch.contiguous_format)
    if out.shape != z.shape:
        raise ValueError(f"out must have shape {tuple(z.shape)}, got {tuple(out.shape)}")
    return out


def _fft_setup(z: torch.Tensor, k_f: torch.Tensor, D: torch.Tensor, x0: torch.Tensor | None,
               out: torch.Tensor | None) -> tuple[int, int, int, torch.Tensor, int, torch.Tensor]:
    """The FFT paths' checks and buffers: ``(B, L, d, kft [d, n//2+1], n, out)``."""
    B, L, d = _check(z, D, x0)
    kft, n = _spectrum_rows(k_f, L, d)
    return B, L, d, kft, n, _alloc_out(z, out)


def _spectral_conv(zt: torch.Tensor, kft: torch.Tensor, n: int) -> torch.Tensor:
    """One tile's convolution: channel-first rows zt [b, C, L] (real) times spectra kft [C, n//2+1],
    back to [b, C, n] (not cropped); the tile's spectrum is freed on return."""
    zf = torch.fft.rfft(zt, n=n, dim=-1)
    zf.mul_(kft)
    return torch.fft.irfft(zf, n=n, dim=-1, norm="forward")


@torch.no_grad()
def long_conv_chunked(
    z: torch.Tensor,
    k_f: torch.Tensor,
    D: torch.Tensor,
    x0: torch.Tensor | None,
    *,
    chunk: int | None = None,
    budget: int | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Memory-bounded torch.fft path (CPU or GPU, inference only).

    Processes (batch, channel) tiles so that one tile's padded signal holds at most
    ``budget`` elements (default 2^24 on CPU, 2^26 on CUDA), reusing the precomputed
    spectrum for every tile. The epilogue (crop, + D z, cast, * x0) runs in place on the
    inverse transform's buffer and writes straight into ``out``.

    Args:
        z: [B, L, d]; k_f: [n//2+1, d] from :func:`filter_spectrum` (n >= 2L - 1).
        D: [d]; x0: [B, L, d] or None.
        chunk: channels per tile (default: as many as the budget allows).
        budget: element budget per tile (see above).
        out: optional [B, L, d] output buffer (may be ``z`` itself: each tile reads its
            slice of z before writing it).

    Returns:
        [B, L, d] in z's dtype, equal to :func:`long_conv_reference` up to FFT rounding.
    """
    B, L, d, kft, n, out = _fft_setup(z, k_f, D, x0, out)
    if out.numel() == 0:
        return out
    tiles = list(_chunks(B, d, n, chunk, budget, z.device))
    work = fft_work(tiles[0][1] - tiles[0][0], tiles[0][3] - tiles[0][2], n, kft.real.dtype, z.device)
    for b0, b1, c0, c1 in tiles:
        long_conv_tile(z, kft[c0:c1], D, x0, out, (b0, b1), (c0, c1), work)
    return out


def fft_work(b: int, C: int, n: int, dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
    """A zero [b, C, n] buffer for :func:`long_conv_tile` (its padding must stay zero: only the
    first L columns are ever written)."""
    return torch.zeros(b, C, n, dtype=dtype, device=device)


def long_conv_tile(z: torch.Tensor, kft: torch.Tensor, D: torch.Tensor, x0: torch.Tensor | None,
                   out: torch.Tensor, batch: tuple[int, int], channels: tuple[int, int],
                   work: torch.Tensor) -> None:
    """One (batch, channel) tile of :func:`long_conv_chunked` (torch.fft, inference only).

    Writes ``out[b0:b1, :, c0:c1] = (causal_conv(z, k) + D z) * x0`` on those rows and channels.

    Args:
        z, x0, out: [B, L, d] (``out`` may be ``z``: the tile is read before it is written).
        kft: [c1 - c0, n//2+1] channel-first spectrum rows of these channels (n >= 2L - 1).
        D: [d] bias weights (all channels).
        batch, channels: (b0, b1) and (c0, c1).
        work: [>= b1 - b0, >= c1 - c0, n] buffer from :func:`fft_work`, reused from tile to tile.
    """
    (b0, b1), (c0, c1) = batch, channels
    L, n = z.shape[1], work.shape[-1]
    zt = work[:b1 - b0, :c1 - c0]
    copy_transposed(zt[..., :L].transpose(1, 2), z[b0:b1, :, c0:c1].transpose(1, 2))
    y = _spectral_conv(zt, kft, n)[..., :L]
    y.addcmul_(zt[..., :L], D.reshape(-1)[c0:c1, None].to(y.dtype))
    copy_transposed(out[b0:b1, :, c0:c1], y, mul=None if x0 is None else x0[b0:b1, :, c0:c1])


@functools.cache
def _build() -> SimpleNamespace:
    """Define (once) and return the Triton kernels; triton is imported here, on first use."""
    global triton, tl
    triton, tl = import_triton()

    @triton.jit
    def _gate_epilogue_kernel(
        y_ptr, z_ptr, x0_ptr, d_ptr, out_ptr,
        L, C,
        s_yb, s_yc, s_yl,
        s_zb, s_zl, s_zc,
        s_xb, s_xl, s_xc,
        s_ob, s_ol, s_oc,
        HAS_GATE: tl.constexpr,
        BLOCK_L: tl.constexpr,
        BLOCK_C: tl.constexpr,
    ):
        """out[b, t, c] = ((y[b, c, t] + D[c] z[b, t, c]) -> out dtype) * x0[b, t, c]."""
        pid_l = tl.program_id(0)
        pid_c = tl.program_id(1)
        b = tl.program_id(2).to(tl.int64)
        t = (pid_l * BLOCK_L + tl.arange(0, BLOCK_L)).to(tl.int64)
        c = pid_c * BLOCK_C + tl.arange(0, BLOCK_C)
        mask = (t[:, None] < L) & (c[None, :] < C)
        y = tl.load(y_ptr + b * s_yb + c[None, :] * s_yc + t[:, None] * s_yl, mask=mask, other=0.0)
        zz = tl.load(z_ptr + b * s_zb + t[:, None] * s_zl + c[None, :] * s_zc, mask=mask, other=0.0)
        dd = tl.load(d_ptr + c, mask=c < C, other=0.0).to(tl.float32)
        o = y.to(tl.float32) + dd[None, :] * zz.to(tl.float32)
        if HAS_GATE:
            xx = tl.load(x0_ptr + b * s_xb + t[:, None] * s_xl + c[None, :] * s_xc, mask=mask, other=0.0)
            # Round like the reference: (y + D z) is cast to the output dtype before the gate.
            o = o.to(out_ptr.dtype.element_ty).to(tl.float32) * xx.to(tl.float32)
        tl.store(out_ptr + b * s_ob + t[:, None] * s_ol + c[None, :] * s_oc,
                 o.to(out_ptr.dtype.element_ty), mask=mask)

    @triton.jit
    def _direct_conv_kernel(
        z_ptr, k_ptr, d_ptr, x0_ptr, out_ptr,
        L,
        s_zb, s_zc, s_zl,
        s_kc, s_kl,
        s_xb, s_xl, s_xc,
        s_ob, s_ol, s_oc,
        HAS_GATE: tl.constexpr,
        BLOCK_T: tl.constexpr,
        BLOCK_N: tl.constexpr,
        PRECISION: tl.constexpr,
    ):
        """Blocked Toeplitz causal convolution of one channel, on tensor cores.

        The sequence is cut into blocks of BLOCK_T steps; Z[j, q] = z[j*BLOCK_T + q].
        With the lower-triangular Toeplitz blocks T_m[q, p] = k[m*BLOCK_T + p - q]
        (k[<0] = 0), output block j is Y[j, :] = sum_m Z[j - m, :] @ T_m. A program owns
        BLOCK_N consecutive output blocks of one (batch, channel) and accumulates one
        [BLOCK_N, BLOCK_T] x [BLOCK_T, BLOCK_T] product per lag m. D is folded into the
        filter (k[0] += D, i.e. + D z), and the x0 gate is applied on store.
        """
        pid_r = tl.program_id(0)
        c = tl.program_id(1)
        b = tl.program_id(2).to(tl.int64)
        rows = pid_r * BLOCK_N + tl.arange(0, BLOCK_N)  # output block indices j
        q = tl.arange(0, BLOCK_T)
        n_blocks = (L + BLOCK_T - 1) // BLOCK_T
        z_base = z_ptr + b * s_zb + c * s_zc
        k_base = k_ptr + c * s_kc
        dc = tl.load(d_ptr + c).to(tl.float32)
        lag_idx = q[None, :] - q[:, None]  # p - q, [BLOCK_T (q), BLOCK_T (p)]
        acc = tl.zeros((BLOCK_N, BLOCK_T), dtype=tl.float32)
        last_lag = tl.minimum(pid_r * BLOCK_N + BLOCK_N, n_blocks)
        for m in range(last_lag):
            src = rows - m
            pos = src[:, None] * BLOCK_T + q[None, :]
            zmask = (src[:, None] >= 0) & (pos < L)
            zt = tl.load(z_base + pos * s_zl, mask=zmask, other=0.0).to(tl.float32)
            kidx = m * BLOCK_T + lag_idx
            kmask = (kidx >= 0) & (kidx < L)
            tm = tl.load(k_base + kidx * s_kl, mask=kmask, other=0.0).to(tl.float32)
            tm = tl.where(kidx == 0, tm + dc, tm)
            acc += tl.dot(zt, tm, input_precision=PRECISION)
        t = (rows[:, None] * BLOCK_T + q[None, :]).to(tl.int64)
        omask = t < L
        if HAS_GATE:
            xx = tl.load(x0_ptr + b * s_xb + t * s_xl + c * s_xc, mask=omask, other=0.0)
            acc = acc.to(out_ptr.dtype.element_ty).to(tl.float32) * xx.to(tl.float32)
        tl.store(out_ptr + b * s_ob + t * s_ol + c * s_oc, acc.to(out_ptr.dtype.element_ty), mask=omask)

    return SimpleNamespace(_gate_epilogue_kernel=_gate_epilogue_kernel, _direct_conv_kernel=_direct_conv_kernel)


def _launch_epilogue(y, z, x0, D, out) -> None:
    """y [b, C, L] (any strides, fp32); z, x0, out [b, L, C]; D [C]."""
    Bc, C, L = y.shape
    bl = min(64, next_pow2(L))
    bc = min(32, next_pow2(C))
    xs = x0 if x0 is not None else z
    grid = (cdiv(L, bl), cdiv(C, bc), Bc)
    _build()._gate_epilogue_kernel[grid](
        y, z, xs, D, out, L, C,
        y.stride(0), y.stride(1), y.stride(2),
        z.stride(0), z.stride(1), z.stride(2),
        xs.stride(0), xs.stride(1), xs.stride(2),
        out.stride(0), out.stride(1), out.stride(2),
        HAS_GATE=x0 is not None, BLOCK_L=bl, BLOCK_C=bc,
    )


@torch.no_grad()
def long_conv_fft_triton(
    z: torch.Tensor,
    k_f: torch.Tensor,
    D: torch.Tensor,
    x0: torch.Tensor | None,
    *,
    chunk: int | None = None,
    budget: int | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """FFT path for any length: torch.fft (cuFFT) transforms + one fused Triton epilogue.

    Same tiling and arguments as :func:`long_conv_chunked`; the crop to L, + D z, the
    cast and the x0 gate are one Triton kernel per tile, reading the inverse transform in
    its channel-first layout and writing channel-last ``out``. Inference only.

    Returns:
        [B, L, d] in z's dtype.
    """
    B, L, d, kft, n, out = _fft_setup(z, k_f, D, x0, out)
    require_triton(z)
    if out.numel() == 0:
        return out
    fdt = kft.real.dtype
    Dv = D.reshape(d).contiguous()
    for b0, b1, c0, c1 in _chunks(B, d, n, chunk, budget, z.device):
        zc = z[b0:b1, :, c0:c1]
        y = _spectral_conv(zc.transpose(1, 2).to(fdt), kft[c0:c1], n)  # [b, C, n]
        xc = None if x0 is None else x0[b0:b1, :, c0:c1]
        _launch_epilogue(y[..., :L], zc, xc, Dv[c0:c1], out[b0:b1, :, c0:c1])
    return out


def _direct_blocks(L: int) -> tuple[int, int]:
    bt = 16 if L <= 256 else (32 if L <= 1024 else 64)
    # 64x64 tiles beat 64x32 ones by 2x at L=2k on an H200.
    bn = 64 if bt == 64 else max(16, min(64, next_pow2(cdiv(L, bt))))
    return bt, bn


@torch.no_grad()
def long_conv_direct_triton(
    z: torch.Tensor,
    k: torch.Tensor,
    D: torch.Tensor,
    x0: torch.Tensor | None,
    *,
    block_t: int | None = None,
    block_n: int | None = None,
    precision: str | None = None,
    num_warps: int = 4,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Direct causal convolution as blocked Toeplitz products (Triton, inference only).

    O(B d L^2) multiply-adds on tensor cores, bias and gate fused: faster than FFTs for
    short sequences (see :data:`DIRECT_MAX_L`), correct for any L.

    Args:
        z: [B, L, d]; k: [Lk >= L, d] real filter; D: [d]; x0: [B, L, d] or None.
        block_t, block_n: block length and output blocks per program (powers of two
            >= 16); chosen from L when None.
        precision: tl.dot input precision for the fp32 operands: "tf32x3" (default,
            about fp32 accurate), "tf32" (faster, ~1e-3 relative) or "ieee".
        out: optional [B, L, d] output buffer (must not alias z).

    Returns:
        [B, L, d] in z's dtype.
    """
    B, L, d = _check(z, D, x0)
    require_triton(z, k)
    if k.shape[0] < L or k.shape[-1] != d:
        raise ValueError(f"k must be [Lk >= {L}, {d}], got {tuple(k.shape)}")
    out = _alloc_out(z, out)
    if out.numel() == 0:
        return out
    bt, bn = _direct_blocks(L)
    bt, bn = block_t or bt, block_n or bn
    if precision is None:
        precision = "ieee" if interpreting() else "tf32x3"
    zt = z.transpose(1, 2).contiguous()  # [B, d, L]: each channel's sequence contiguous
    kt = k[:L].t().to(torch.float32).contiguous()  # [d, L]
    Dv = D.reshape(d).to(torch.float32).contiguous()
    xs = x0 if x0 is not None else z
    grid = (cdiv(cdiv(L, bt), bn), d, B)
    _build()._direct_conv_kernel[grid](
        zt, kt, Dv, xs, out, L,
        zt.stride(0), zt.stride(1), zt.stride(2),
        kt.stride(0), kt.stride(1),
        xs.stride(0), xs.stride(1), xs.stride(2),
        out.stride(0), out.stride(1), out.stride(2),
        HAS_GATE=x0 is not None, BLOCK_T=bt, BLOCK_N=bn, PRECISION=precision,
        num_warps=num_warps,
    )
    return out

"""Training on the fast path: the order-2 Hyena operator's core as one autograd Function.

For the in-projection output u [B, L, 3d] (channel-last), the short conv's weight [3d, 1, 3]
and bias [3d], the implicit filter k [L, d] and the bias term D [d]:

    x0, x1, v = short_conv(u).split(d, -1);   z = v * x1
    c = causal_conv(z, k) + D z                  (FFT of size n = 2L, as in the model)
    y = c * x0                                   -> [B, L, d], fed to the out-projection

:func:`hyena_core` returns y; its backward is written out instead of recorded by autograd:

* saved for the backward: u and c only (4d numbers per position; autograd on the plain path
  keeps the conv output, both gates, the padded spectra of z and k, ... ~20d). x0, x1, v and z
  are recomputed from u (a few multiply-adds per element), the spectra of z and of k are
  recomputed by FFT;
* the long convolution's gradient by FFT: with gc = g * x0 (g the gradient of y),
  grad z = correlation of gc with k (irfft(rfft(gc) conj(rfft(k))))  + D gc,
  grad k = correlation of gc with z, summed over the batch in the frequency domain (one
  inverse FFT per channel), grad D = sum gc z, grad x0 = g c;
* the short conv + gate backward (:mod:`.short_conv_bwd`): fused Triton on CUDA, channel-last
  torch elsewhere; the forward's short conv is the inference kernel (Triton on CUDA);
* the FFTs run over channel tiles (a few MB each), channel-first within a tile: each tile is
  transposed straight into a zero-padded buffer shared by all tiles (no separate padding pass),
  and the bias term is applied to the tile in place (the epilogue), so no [B, d, 2L] spectrum of
  the whole tensor exists at once.

k arrives as a tensor produced by the implicit-filter MLP, so its gradient flows back into the
filter's parameters through autograd. Nothing here caches anything: parameters change each
step (the inference path's filter-spectrum cache is not used).

Training takes this core with the Triton backend (CUDA) or under autocast; in float32/float64 on
the torch backend (every CPU) it takes :mod:`.hyena_channel_first`, the same formulas with the
projections inside and no transposes (see :mod:`hyenadna_kipoi.fast_train`).
"""

from __future__ import annotations

import torch

from . import long_conv as _lc
from . import short_conv as _sc
from . import short_conv_bwd as _scb
from ._alloc import empty
from .dispatch import resolve_backend

__all__ = ["HyenaCore", "hyena_core", "hyena_core_reference"]

# Elements of one channel tile's padded signal (batch x channels x 2L): ~16 MiB of fp32 per
# buffer on CPU (a tile's FFT work stays in cache-friendly pieces); larger on CUDA.
TILE_ELEMENTS = {"cpu": 1 << 22, "cuda": 1 << 26}


def _tiles(B: int, d: int, n: int, device: torch.device) -> list[tuple[int, int]]:
    """Channel ranges (c0, c1) whose [B, C, n] tile fits the element budget."""
    budget = TILE_ELEMENTS["cuda" if device.type == "cuda" else "cpu"]
    step = max(1, min(d, budget // max(1, B * n)))
    return [(c0, min(d, c0 + step)) for c0 in range(0, d, step)]


def _padded_tile(buf: torch.Tensor, x: torch.Tensor, c0: int, c1: int) -> torch.Tensor:
    """Channels c0:c1 of a channel-last x [B, L, d], transposed into the first L columns of the
    zero-padded channel-first buffer ``buf`` [B, C >= c1 - c0, n]: returns that [B, c1 - c0, n] view.

    One buffer serves every tile (its columns L..n-1 stay zero), so the FFTs need no padded copy of
    their own and the transpose is the only pass over the tile's data.
    """
    tile = buf[:, : c1 - c0]
    tile[..., : x.shape[1]].copy_(x[:, :, c0:c1].transpose(1, 2))
    return tile


def _use_triton(backend: str | None, *tensors: torch.Tensor) -> bool:
    if any(t.dtype == torch.float64 for t in tensors):
        return False
    return resolve_backend(backend, *tensors) == "triton"


def _short_conv_forward(u: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                        triton: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(x0, z), each a compact [B, L, d] in u's dtype."""
    if triton:
        return _sc.short_conv_gate_triton(u, weight, bias)
    d = u.shape[-1] // 3
    B, L = u.shape[:2]
    x0 = empty(B, L, d, dtype=u.dtype, device=u.device)
    z = torch.empty_like(x0)
    _sc.short_conv_gate_rows(u, weight, bias, out_x0=x0, out_z=z)
    return x0, z


def _filter_spectrum_rows(k: torch.Tensor, L: int, n: int, fdt: torch.dtype) -> torch.Tensor:
    """rfft(k[:L], n) / n as contiguous rows [d, n//2+1]."""
    return _lc.filter_spectrum(k[:L].to(fdt), n).t().contiguous()


class HyenaCore(torch.autograd.Function):
    """y = (causal_conv(z, k) + D z) * x0 from u (see the module doc); custom forward and backward."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, k: torch.Tensor,
                D: torch.Tensor, backend: str | None = None) -> torch.Tensor:
        B, L, c3 = u.shape
        d = c3 // 3
        triton = _use_triton(backend, u)
        n = 2 * L
        fdt = _lc.fft_dtype(u.dtype)
        x0, z = _short_conv_forward(u, weight, bias, triton)
        kft = _filter_spectrum_rows(k, L, n, fdt)
        Dv = D.reshape(d).to(fdt)
        c = empty(B, L, d, dtype=u.dtype, device=u.device)
        tiles = _tiles(B, d, n, u.device)
        zbuf = torch.zeros(B, tiles[0][1], n, dtype=fdt, device=u.device)
        for c0, c1 in tiles:
            zt = _padded_tile(zbuf, z, c0, c1)
            yt = _lc._spectral_conv(zt, kft[c0:c1], n)[..., :L]
            yt.addcmul_(zt[..., :L], Dv[c0:c1, None])
            c[:, :, c0:c1] = yt.transpose(1, 2)
        del z, zbuf
        y = c * x0
        ctx.save_for_backward(u, weight, bias, k, D, c)
        ctx.triton = triton
        return y

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        u, weight, bias, k, D, c = ctx.saved_tensors
        B, L, c3 = u.shape
        d = c3 // 3
        n = 2 * L
        fdt = _lc.fft_dtype(u.dtype)
        g = g.contiguous()
        # x0 and z recomputed, not stored; on the torch path from one uc [B, L, 3d] that then becomes its gradient
        uc = None
        if ctx.triton:
            x0, z = _short_conv_forward(u, weight, bias, True)
        else:
            uc = _scb.short_conv_rows(u, weight, bias, fdt)
            x0, z = uc[..., :d], uc[..., 2 * d:] * uc[..., d:2 * d]
        g_x0 = g * c
        gc = g * x0
        del x0, c
        kft_conj = _filter_spectrum_rows(k, L, n, fdt).conj_physical_()
        Dv = D.reshape(d).to(fdt)
        grad_k = torch.empty(d, L, dtype=fdt, device=u.device)
        grad_D = torch.empty(d, dtype=fdt, device=u.device)
        g_z = gc  # written tile by tile in place: each tile reads its slice of gc first
        tiles = _tiles(B, d, n, u.device)
        zbuf = torch.zeros(B, tiles[0][1], n, dtype=fdt, device=u.device)
        gbuf = torch.zeros_like(zbuf)
        for c0, c1 in tiles:
            zt = _padded_tile(zbuf, z, c0, c1)
            gt = _padded_tile(gbuf, gc, c0, c1)
            zf = torch.fft.rfft(zt, dim=-1)
            gf = torch.fft.rfft(gt, dim=-1)
            zt, gt = zt[..., :L], gt[..., :L]
            grad_D[c0:c1] = (gt * zt).sum((0, 2))
            # grad k: correlation of gc with z, the batch summed before the inverse transform (irfft's
            # default 1/n scaling makes it exact, as y = irfft(rfft(z) rfft(k)) is the plain convolution)
            zf.conj_physical_().mul_(gf)
            grad_k[c0:c1] = torch.fft.irfft(zf.sum(0), n=n, dim=-1)[:, :L]
            del zf
            # grad z: correlation of gc with k (the spectrum holds rfft(k) / n, so the inverse is unscaled)
            gf.mul_(kft_conj[c0:c1])
            gzt = torch.fft.irfft(gf, n=n, dim=-1, norm="forward")[..., :L]
            del gf
            gzt.addcmul_(gt, Dv[c0:c1, None])
            g_z[:, :, c0:c1] = gzt.transpose(1, 2)
        del z, zbuf, gbuf
        grad_k = grad_k.t()  # [L, d]
        if ctx.triton:
            grad_u, grad_w, grad_b = _scb.short_conv_gate_backward_triton(u, weight, bias, g_x0, g_z)
        else:
            grad_u, grad_w, grad_b = _scb.short_conv_backward(u, weight, bias, _scb.gate_grad_(uc, g_x0, g_z))
        grad_k_full = grad_k.to(k.dtype) if k.shape[0] == L else \
            torch.cat([grad_k.to(k.dtype), k.new_zeros(k.shape[0] - L, d)])
        return (grad_u, grad_w, grad_b, grad_k_full, grad_D.reshape(D.shape).to(D.dtype), None)


def hyena_core(u: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, k: torch.Tensor,
               D: torch.Tensor, *, backend: str | None = None) -> torch.Tensor:
    """Order-2 Hyena core for training: u [B, L, 3d], weight [3d, 1, 3], bias [3d] or None, k [Lk >= L, d],
    D [d] -> y [B, L, d] in u's dtype, differentiable in every tensor argument (see the module doc).

    ``backend``: ``auto``/``torch``/``triton`` for the short conv (see
    :mod:`hyenadna_kipoi.kernels.dispatch`); float64 always runs the torch code. Autocast is
    switched off inside: u's dtype is the compute dtype of the outputs, the FFTs run in fp32.
    """
    if u.dim() != 3 or u.shape[-1] % 3:
        raise ValueError(f"u must be [B, L, 3d], got shape {tuple(u.shape)}")
    d = u.shape[-1] // 3
    if k.dim() != 2 or k.shape[1] != d or k.shape[0] < u.shape[1]:
        raise ValueError(f"k must be [Lk >= {u.shape[1]}, {d}], got shape {tuple(k.shape)}")
    with torch.autocast(u.device.type, enabled=False):
        return HyenaCore.apply(u, weight, bias, k, D, backend)


def hyena_core_reference(u: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, k: torch.Tensor,
                         D: torch.Tensor) -> torch.Tensor:
    """What :func:`hyena_core` computes, in plain differentiable torch (the model's formula)."""
    x0, z = _sc.short_conv_gate_reference(u, weight, bias)
    return _lc.long_conv_reference(z, k, D, x0)

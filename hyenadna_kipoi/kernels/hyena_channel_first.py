"""Training on the CPU: the whole order-2 Hyena operator, projections included, as one autograd Function
that never transposes a tensor.

For the block's normalised input h [B, L, d] (channel-last), the in-projection (W_in [3d, d],
b_in [3d]), the short conv (weight [3d, 1, 3], bias [3d]), the implicit filter kt [d, L]
(channel-first), the bias term D [d] and the out-projection (W_out [d, d], b_out [d]):

    u   = W_in h^T + b_in                       [B, 3d, L]: the matmul writes it channel-first
    x0, x1, v = short_conv(u).split(d, 1);   z = v * x1
    c   = causal_conv(z, k) + D z               (FFT of size n = 2L, as in the model)
    y   = c * x0                                [B, d, L]
    out = y^T W_out^T + b_out                   [B, L, d]: the matmul reads y transposed

which is ``HyenaOperator.forward`` of :mod:`hyenadna_kipoi.model`. Between the two matmuls every
tensor is a stack of contiguous channel rows, so the short conv shifts along the fast axis and the
FFTs transform it in place of a transpose: on a CPU an FFT over a strided axis, or the transpose of
an [L, d] tensor into the channel-first rows an FFT wants, costs as much as the transform itself
(the channel-last core, :mod:`.hyena_autograd`, spends a quarter of its time in such transposes).

* saved for the backward: h, u, c and the filter's spectrum (7d numbers per position, the
  spectrum once for the batch); x0, x1, v, z and y are recomputed from u and c, the spectrum of z
  by FFT;
* the backward is written out (the formulas of :mod:`.hyena_autograd` and :mod:`.short_conv_bwd`
  on channel rows) and runs over channel tiles of a few MB, each carried from the recomputed
  short conv to its short-conv gradient while it is in cache;
* float32 and float64 only (the FFTs run in the input's dtype); the caller keeps autocast off.
"""

from __future__ import annotations

import torch

from ._alloc import empty

__all__ = ["HyenaOperatorCF", "hyena_operator_cf"]

# Elements of one channel tile's padded signal [B, C, 2L]; each tile's dozen temporaries then stay
# within the last-level cache of a server CPU.
TILE_ELEMENTS = 1 << 20


def _tiles(B: int, d: int, n: int) -> list[tuple[int, int]]:
    """Channel ranges (c0, c1) whose [B, C, n] tile fits :data:`TILE_ELEMENTS`."""
    step = max(1, min(d, TILE_ELEMENTS // max(1, B * n)))
    return [(c0, min(d, c0 + step)) for c0 in range(0, d, step)]


def _short_conv(u: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """Causal k=3 conv of channel rows: u [B, C, L], w [C, 3], b [C] or None -> [B, C, L]."""
    out = torch.addcmul(b[:, None], u, w[:, 2:3]) if b is not None else u * w[:, 2:3]
    out[..., 1:].addcmul_(u[..., :-1], w[:, 1:2])
    out[..., 2:].addcmul_(u[..., :-2], w[:, 0:1])
    return out


def _short_conv_backward(u: torch.Tensor, w: torch.Tensor, guc: torch.Tensor, grad_u: torch.Tensor,
                         grad_w: torch.Tensor, grad_b: torch.Tensor) -> None:
    """Gradients of :func:`_short_conv` from that of its output guc [B, C, L], written into grad_u
    [B, C, L], grad_w [C, 3] and grad_b [C]."""
    torch.mul(guc, w[:, 2:3], out=grad_u)
    grad_u[..., :-1].addcmul_(guc[..., 1:], w[:, 1:2])
    grad_u[..., :-2].addcmul_(guc[..., 2:], w[:, 0:1])
    for j in range(3):  # w[:, j] multiplies u[t - (2 - j)]
        s = 2 - j
        grad_w[:, j] = torch.einsum("bct,bct->c", guc[..., s:], u[..., :u.shape[-1] - s])
    grad_b.copy_(guc.sum((0, 2)))


def _padded(buf: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """x [..., C, L] copied into the first L columns of the zero-padded buffer ``buf`` [..., C' >= C, n];
    returns that [..., C, n] view (one buffer serves every tile: its columns L..n-1 stay zero)."""
    tile = buf[..., : x.shape[-2], :]
    tile[..., : x.shape[-1]].copy_(x)
    return tile


class HyenaOperatorCF(torch.autograd.Function):
    """out = out_proj(hyena core(in_proj(h))) channel-first inside (see the module doc)."""

    @staticmethod
    def forward(ctx, h: torch.Tensor, w_in: torch.Tensor, b_in: torch.Tensor | None, w_s: torch.Tensor,
                b_s: torch.Tensor | None, kt: torch.Tensor, D: torch.Tensor, w_out: torch.Tensor,
                b_out: torch.Tensor | None) -> torch.Tensor:
        B, L, d = h.shape
        n = 2 * L
        u = empty(B, 3 * d, L, dtype=h.dtype, device=h.device)
        for b in range(B):
            if b_in is not None:
                torch.addmm(b_in[:, None], w_in, h[b].t(), out=u[b])
            else:
                torch.mm(w_in, h[b].t(), out=u[b])
        ws = w_s.reshape(3 * d, 3)
        c = empty(B, d, L, dtype=h.dtype, device=h.device)
        y = torch.empty_like(c)
        tiles = _tiles(B, d, n)
        zbuf = torch.zeros(B, tiles[0][1], n, dtype=h.dtype, device=h.device)
        kbuf = torch.zeros(tiles[0][1], n, dtype=h.dtype, device=h.device)
        cdt = torch.complex128 if h.dtype == torch.float64 else torch.complex64
        kf_conj = empty(d, n // 2 + 1, dtype=cdt, device=h.device)  # the filter's spectrum (unscaled), conjugated
        for c0, c1 in tiles:
            x1, v = (_short_conv(u[:, o + c0:o + c1], ws[o + c0:o + c1], None if b_s is None else b_s[o + c0:o + c1])
                     for o in (d, 2 * d))
            zt = zbuf[:, :c1 - c0]
            torch.mul(v, x1, out=zt[..., :L])
            del x1, v
            kf = torch.fft.rfft(_padded(kbuf, kt[c0:c1]), dim=-1)
            zf = torch.fft.rfft(zt, dim=-1).mul_(kf)
            torch.conj_physical(kf, out=kf_conj[c0:c1])  # as the backward uses it
            del kf
            conv = torch.fft.irfft(zf, n=n, dim=-1)[..., :L]
            del zf
            torch.addcmul(conv, zt[..., :L], D[c0:c1, None], out=c[:, c0:c1])
            del conv
            x0 = _short_conv(u[:, c0:c1], ws[c0:c1], None if b_s is None else b_s[c0:c1])
            torch.mul(c[:, c0:c1], x0, out=y[:, c0:c1])
        del zbuf, kbuf
        out = empty(B, L, d, dtype=h.dtype, device=h.device)
        for b in range(B):
            if b_out is not None:
                torch.addmm(b_out, y[b].t(), w_out.t(), out=out[b])
            else:
                torch.mm(y[b].t(), w_out.t(), out=out[b])
        ctx.save_for_backward(h, u, c, w_in, w_s, b_s, kf_conj, D, w_out)
        ctx.biases = (b_in is not None, b_out is not None)
        return out

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        h, u, c, w_in, w_s, b_s, kf_conj, D, w_out = ctx.saved_tensors
        B, L, d = h.shape
        n = 2 * L
        dt, dev = h.dtype, h.device
        g = g.to(dt)
        g_y = empty(B, d, L, dtype=dt, device=dev)  # gradient of y, channel-first
        for b in range(B):
            torch.mm(w_out.t(), g[b].t(), out=g_y[b])
        ws = w_s.reshape(3 * d, 3)
        grad_u = empty(B, 3 * d, L, dtype=dt, device=dev)
        grad_ws = empty(3 * d, 3, dtype=dt, device=dev)
        grad_bs = empty(3 * d, dtype=dt, device=dev)
        grad_k = empty(d, L, dtype=dt, device=dev)
        grad_D = empty(d, dtype=dt, device=dev)
        y = empty(B, d, L, dtype=dt, device=dev)  # out_proj's input, for its weight gradient (one matmul after the tiles)
        tiles = _tiles(B, d, n)
        zbuf = torch.zeros(B, tiles[0][1], n, dtype=dt, device=dev)
        gbuf = torch.zeros_like(zbuf)
        for c0, c1 in tiles:
            C = c1 - c0
            sets = [slice(o + c0, o + c1) for o in (0, d, 2 * d)]
            x0, x1, v = (_short_conv(u[:, s], ws[s], None if b_s is None else b_s[s]) for s in sets)
            ct, gy = c[:, c0:c1], g_y[:, c0:c1]
            torch.mul(ct, x0, out=y[:, c0:c1])
            zt, gt = zbuf[:, :C], gbuf[:, :C]
            torch.mul(v, x1, out=zt[..., :L])
            torch.mul(gy, x0, out=gt[..., :L])  # gradient of c
            guc0 = gy.mul_(ct)  # gradient of x0 (g_y's tile is not read again)
            _short_conv_backward(u[:, sets[0]], ws[sets[0]], guc0, grad_u[:, sets[0]], grad_ws[sets[0]],
                                 grad_bs[sets[0]])
            del x0, guc0
            zf = torch.fft.rfft(zt, dim=-1)
            gf = torch.fft.rfft(gt, dim=-1)
            z_, gc = zt[..., :L], gt[..., :L]
            grad_D[c0:c1] = torch.einsum("bct,bct->c", gc, z_)
            # grad k: correlation of gc with z, the batch summed before the inverse transform
            zf.conj_physical_().mul_(gf)
            grad_k[c0:c1] = torch.fft.irfft(zf.sum(0) if B > 1 else zf[0], n=n, dim=-1)[:, :L]
            del zf
            # grad z: correlation of gc with k, plus D gc
            gf.mul_(kf_conj[c0:c1])
            g_z = torch.fft.irfft(gf, n=n, dim=-1)[..., :L]
            del gf
            g_z.addcmul_(gc, D[c0:c1, None])
            for s, other in ((sets[1], v), (sets[2], x1)):  # z = v * x1
                guc = g_z * other
                _short_conv_backward(u[:, s], ws[s], guc, grad_u[:, s], grad_ws[s], grad_bs[s])
            del g_z, guc, x1, v
        del zbuf, gbuf, g_y
        grad_w_out = torch.mm(g[0].t(), y[0].t())  # [d_out, d_in]
        for b in range(1, B):
            grad_w_out.addmm_(g[b].t(), y[b].t())
        del y
        grad_h = empty(B, L, d, dtype=dt, device=dev)
        grad_w_in = torch.mm(grad_u[0], h[0])
        for b in range(B):
            torch.mm(grad_u[b].t(), w_in, out=grad_h[b])
            if b:
                grad_w_in.addmm_(grad_u[b], h[b])
        has_b_in, has_b_out = ctx.biases
        grad_b_in = grad_u.sum((0, 2)) if has_b_in else None
        grad_b_out = g.sum((0, 1)) if has_b_out else None
        return (grad_h, grad_w_in, grad_b_in, grad_ws.reshape(w_s.shape), grad_bs if b_s is not None else None,
                grad_k, grad_D.reshape(D.shape), grad_w_out, grad_b_out)


def hyena_operator_cf(h: torch.Tensor, w_in: torch.Tensor, b_in: torch.Tensor | None, w_s: torch.Tensor,
                      b_s: torch.Tensor | None, kt: torch.Tensor, D: torch.Tensor, w_out: torch.Tensor,
                      b_out: torch.Tensor | None) -> torch.Tensor:
    """Order-2 Hyena operator for training (see the module doc): h [B, L, d] -> out [B, L, d].

    ``w_in`` [3d, d], ``b_in`` [3d] or None, ``w_s`` [3d, 1, 3], ``b_s`` [3d] or None, ``kt`` [d, L]
    (the filter, channel-first), ``D`` [d], ``w_out`` [d, d], ``b_out`` [d] or None; every tensor
    float32 (or every one float64), differentiable in all of them.
    """
    if h.dim() != 3:
        raise ValueError(f"h must be [B, L, d], got shape {tuple(h.shape)}")
    B, L, d = h.shape
    if tuple(w_in.shape) != (3 * d, d) or tuple(w_out.shape) != (d, d):
        raise ValueError(f"projections must be [3d, d] and [d, d] for d={d}, got {tuple(w_in.shape)}, "
                         f"{tuple(w_out.shape)}")
    if tuple(kt.shape) != (d, L):
        raise ValueError(f"kt must be [{d}, {L}], got shape {tuple(kt.shape)}")
    tensors = [t for t in (h, w_in, b_in, w_s, b_s, kt, D, w_out, b_out) if t is not None]
    if len({t.dtype for t in tensors}) != 1 or h.dtype not in (torch.float32, torch.float64):
        raise ValueError("every tensor must be float32, or every one float64")
    return HyenaOperatorCF.apply(h, w_in, b_in, w_s, b_s, kt, D.reshape(d), w_out, b_out)

"""Backward of the fused short conv + gate (:mod:`hyenadna_kipoi.kernels.short_conv`), for training.

Forward (per channel c of ``u`` [B, L, 3d], causal depthwise kernel 3):

    uc[t] = bias + w[:, 0] u[t-2] + w[:, 1] u[t-1] + w[:, 2] u[t]
    x0, x1, v = uc.split(d, -1);  z = v * x1          (x0, z: [B, L, d])

Given the gradients ``g_x0``, ``g_z`` [B, L, d] of x0 and z, the gradient of uc is
``guc = [g_x0, g_z * v, g_z * x1]`` (x1 and v recomputed from u: nothing of the forward
is stored), and

    grad_u[t]    = w[:, 2] guc[t] + w[:, 1] guc[t+1] + w[:, 0] guc[t+2]   (anti-causal)
    grad_w[:, j] = sum_{b, t} guc[t] u[t - (2 - j)]
    grad_bias    = sum_{b, t} guc[t]

Two implementations with the same arguments and results: :func:`short_conv_gate_backward_torch`
(channel-last torch, any device) and :func:`short_conv_gate_backward_triton` (one fused kernel:
recompute, gate gradient, transposed conv and the weight/bias partial sums; the partial sums of
each row block are added in torch).
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import torch

from ._alloc import empty
from ._triton_utils import cdiv, import_triton, next_pow2, require_triton

# Bound by _build() on first use; module globals so the kernels' `tl.` and jit helpers resolve.
triton = tl = _conv3_at = _guc_at = _grads_of_set = None

__all__ = ["gate_grad_", "short_conv_backward", "short_conv_gate_backward_torch", "short_conv_gate_backward_triton",
           "short_conv_rows"]

Grads = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]


def short_conv_rows(u: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                    dtype: torch.dtype | None = None) -> torch.Tensor:
    """The causal k=3 conv on channel-last rows: u [B, L, 3d] -> uc [B, L, 3d] in ``dtype`` (default u's).

    Same arithmetic as ``short_conv.short_conv_gate_rows`` (no transposes), whole sequence.
    """
    dtype = dtype or u.dtype
    c3 = u.shape[-1]
    w = weight.reshape(c3, 3).to(dtype)
    u = u.to(dtype)
    uc = u * w[:, 2]
    uc[:, 1:].addcmul_(u[:, :-1], w[:, 1])
    uc[:, 2:].addcmul_(u[:, :-2], w[:, 0])
    if bias is not None:
        uc.add_(bias.to(dtype))
    return uc


def short_conv_gate_backward_torch(u: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                                   g_x0: torch.Tensor, g_z: torch.Tensor) -> Grads:
    """Gradients (grad_u [B, L, 3d] in u's dtype, grad_w [3d, 1, 3], grad_bias [3d] or None) of the
    short conv + gate, from g_x0, g_z [B, L, d]. Computed in fp32 (float64 stays float64)."""
    cdt = torch.float64 if u.dtype == torch.float64 else torch.float32
    uc = short_conv_rows(u, weight, bias, cdt)
    return short_conv_backward(u, weight, bias, gate_grad_(uc, g_x0, g_z))


def gate_grad_(uc: torch.Tensor, g_x0: torch.Tensor, g_z: torch.Tensor) -> torch.Tensor:
    """Turn uc = [x0, x1, v] [B, L, 3d] into its gradient [g_x0, g_z * v, g_z * x1] in place; returns it."""
    d = uc.shape[-1] // 3
    x0, x1, v = uc[..., :d], uc[..., d:2 * d], uc[..., 2 * d:]
    g_v = g_z * x1
    x1.copy_(v).mul_(g_z)
    v.copy_(g_v)
    x0.copy_(g_x0)
    return uc


def short_conv_backward(u: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                        guc: torch.Tensor) -> Grads:
    """Gradients of the causal k=3 conv alone from the gradient of its output guc [B, L, 3d] (fp32)."""
    L, c3 = u.shape[1], u.shape[2]
    w = weight.reshape(c3, 3).to(guc.dtype)
    grad_u = guc * w[:, 2]
    grad_u[:, :-1].addcmul_(guc[:, 1:], w[:, 1])
    grad_u[:, :-2].addcmul_(guc[:, 2:], w[:, 0])
    uf = u.to(guc.dtype)
    grad_w = torch.stack([(guc[:, 2 - j:] * uf[:, :L - 2 + j]).sum((0, 1)) for j in range(3)], dim=-1)
    grad_b = guc.sum((0, 1)).to(bias.dtype) if bias is not None else None
    return grad_u.to(u.dtype), grad_w.reshape(c3, 1, 3).to(weight.dtype), grad_b


@functools.cache
def _build() -> SimpleNamespace:
    """Define (once) and return the Triton kernel; triton is imported here, on first use."""
    global triton, tl, _conv3_at, _guc_at, _grads_of_set
    triton, tl = import_triton()

    @triton.jit
    def _conv3_at(base, w_ptr, b_ptr, ch, cmask, s_ul, s_uc, r, rmask, HAS_BIAS: tl.constexpr):
        """uc[r, ch] in fp32 for rows r (masked rows and t < 0 read as zero input)."""
        col = (ch * s_uc)[None, :]
        m0 = rmask[:, None] & cmask[None, :]
        m1 = m0 & (r[:, None] >= 1)
        m2 = m0 & (r[:, None] >= 2)
        row0 = r[:, None].to(tl.int64) * s_ul
        w0 = tl.load(w_ptr + ch * 3 + 0, mask=cmask, other=0.0).to(tl.float32)
        w1 = tl.load(w_ptr + ch * 3 + 1, mask=cmask, other=0.0).to(tl.float32)
        w2 = tl.load(w_ptr + ch * 3 + 2, mask=cmask, other=0.0).to(tl.float32)
        acc = w2[None, :] * tl.load(base + row0 + col, mask=m0, other=0.0).to(tl.float32)
        acc += w1[None, :] * tl.load(base + row0 - s_ul + col, mask=m1, other=0.0).to(tl.float32)
        acc += w0[None, :] * tl.load(base + row0 - 2 * s_ul + col, mask=m2, other=0.0).to(tl.float32)
        if HAS_BIAS:
            acc += tl.load(b_ptr + ch, mask=cmask, other=0.0).to(tl.float32)[None, :]
        return acc

    @triton.jit
    def _guc_at(base, w_ptr, b_ptr, gx0_base, gz_base, c, cmask, d, s_ul, s_uc, s_gl, r, L,
                HAS_BIAS: tl.constexpr):
        """guc at rows r for the channel group c: (g_x0, g_z * v, g_z * x1), zero where r >= L."""
        rmask = r < L
        m = rmask[:, None] & cmask[None, :]
        goff = r[:, None].to(tl.int64) * s_gl + c[None, :]
        g0 = tl.load(gx0_base + goff, mask=m, other=0.0).to(tl.float32)
        gz = tl.load(gz_base + goff, mask=m, other=0.0).to(tl.float32)
        x1 = _conv3_at(base, w_ptr, b_ptr, c + d, cmask, s_ul, s_uc, r, rmask, HAS_BIAS)
        v = _conv3_at(base, w_ptr, b_ptr, c + 2 * d, cmask, s_ul, s_uc, r, rmask, HAS_BIAS)
        return g0, gz * v, gz * x1

    @triton.jit
    def _grads_of_set(gu_base, part_base, u_base, w_ptr, ch, cmask, t, tmask, s_ul, s_uc, s_gul,
                      g_t, g_t1, g_t2):
        """One channel set (x0, x1 or v): store grad_u rows t and this block's w/bias partial sums."""
        w0 = tl.load(w_ptr + ch * 3 + 0, mask=cmask, other=0.0).to(tl.float32)
        w1 = tl.load(w_ptr + ch * 3 + 1, mask=cmask, other=0.0).to(tl.float32)
        w2 = tl.load(w_ptr + ch * 3 + 2, mask=cmask, other=0.0).to(tl.float32)
        gu = w2[None, :] * g_t + w1[None, :] * g_t1 + w0[None, :] * g_t2
        m0 = tmask[:, None] & cmask[None, :]
        tl.store(gu_base + t[:, None].to(tl.int64) * s_gul + ch[None, :], gu.to(gu_base.dtype.element_ty), mask=m0)
        row0 = t[:, None].to(tl.int64) * s_ul
        col = (ch * s_uc)[None, :]
        u0 = tl.load(u_base + row0 + col, mask=m0, other=0.0).to(tl.float32)
        u1 = tl.load(u_base + row0 - s_ul + col, mask=m0 & (t[:, None] >= 1), other=0.0).to(tl.float32)
        u2 = tl.load(u_base + row0 - 2 * s_ul + col, mask=m0 & (t[:, None] >= 2), other=0.0).to(tl.float32)
        tl.store(part_base + ch * 4 + 0, tl.sum(g_t * u2, axis=0), mask=cmask)
        tl.store(part_base + ch * 4 + 1, tl.sum(g_t * u1, axis=0), mask=cmask)
        tl.store(part_base + ch * 4 + 2, tl.sum(g_t * u0, axis=0), mask=cmask)
        tl.store(part_base + ch * 4 + 3, tl.sum(g_t, axis=0), mask=cmask)

    @triton.jit
    def _short_conv_gate_bwd_kernel(
        u_ptr, w_ptr, b_ptr, gx0_ptr, gz_ptr, gu_ptr, part_ptr,
        L, d, n_lblocks,
        s_ub, s_ul, s_uc,
        s_gb, s_gl,
        s_gub, s_gul,
        HAS_BIAS: tl.constexpr,
        BLOCK_L: tl.constexpr,
        BLOCK_D: tl.constexpr,
    ):
        """Rows t of one (row block, channel group, batch): guc at t, t+1, t+2 recomputed from u,
        grad_u[t] for the x0, x1 and v channels, and the block's partial sums for grad_w and grad_bias
        (part[(b * n_lblocks + pid_l), channel, 0..3] = sum guc u[t-2], u[t-1], u[t], sum guc)."""
        pid_l = tl.program_id(0)
        pid_d = tl.program_id(1)
        b = tl.program_id(2)
        t = pid_l * BLOCK_L + tl.arange(0, BLOCK_L)
        c = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
        cmask = c < d
        tmask = t < L
        base = u_ptr + b.to(tl.int64) * s_ub
        gx0_base = gx0_ptr + b.to(tl.int64) * s_gb
        gz_base = gz_ptr + b.to(tl.int64) * s_gb
        a0, a1, a2 = _guc_at(base, w_ptr, b_ptr, gx0_base, gz_base, c, cmask, d, s_ul, s_uc, s_gl, t, L, HAS_BIAS)
        b0, b1, b2 = _guc_at(base, w_ptr, b_ptr, gx0_base, gz_base, c, cmask, d, s_ul, s_uc, s_gl, t + 1, L,
                             HAS_BIAS)
        c0, c1, c2 = _guc_at(base, w_ptr, b_ptr, gx0_base, gz_base, c, cmask, d, s_ul, s_uc, s_gl, t + 2, L,
                             HAS_BIAS)
        gu_base = gu_ptr + b.to(tl.int64) * s_gub
        part_base = part_ptr + (b.to(tl.int64) * n_lblocks + pid_l) * (3 * d) * 4
        _grads_of_set(gu_base, part_base, base, w_ptr, c, cmask, t, tmask, s_ul, s_uc, s_gul, a0, b0, c0)
        _grads_of_set(gu_base, part_base, base, w_ptr, c + d, cmask, t, tmask, s_ul, s_uc, s_gul, a1, b1, c1)
        _grads_of_set(gu_base, part_base, base, w_ptr, c + 2 * d, cmask, t, tmask, s_ul, s_uc, s_gul, a2, b2, c2)

    return SimpleNamespace(_short_conv_gate_bwd_kernel=_short_conv_gate_bwd_kernel)


def short_conv_gate_backward_triton(u: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                                    g_x0: torch.Tensor, g_z: torch.Tensor, *, block_l: int | None = None,
                                    block_d: int | None = None) -> Grads:
    """Fused Triton version of :func:`short_conv_gate_backward_torch` (same arguments and results).

    ``g_x0`` and ``g_z`` must share shape and strides with channel stride 1 (made contiguous
    otherwise). Arithmetic in fp32; grad_u is stored in u's dtype.
    """
    require_triton(u, weight)
    B, L, c3 = u.shape
    d = c3 // 3
    g_x0 = g_x0.contiguous()
    g_z = g_z.contiguous()
    grad_u = empty(B, L, c3, dtype=u.dtype, device=u.device)
    if B == 0 or L == 0 or d == 0:
        zero = torch.zeros(c3, dtype=torch.float32, device=u.device)
        return (grad_u, torch.zeros_like(weight), None if bias is None else zero.to(bias.dtype))
    w = weight.reshape(c3, 3).contiguous()
    bl = block_l or min(64, next_pow2(L))
    bd = block_d or min(32, next_pow2(d))
    n_l = cdiv(L, bl)
    part = empty(B * n_l, c3, 4, dtype=torch.float32, device=u.device)
    grid = (n_l, cdiv(d, bd), B)
    _build()._short_conv_gate_bwd_kernel[grid](
        u, w, bias.contiguous() if bias is not None else w, g_x0, g_z, grad_u, part,
        L, d, n_l,
        u.stride(0), u.stride(1), u.stride(2),
        g_x0.stride(0), g_x0.stride(1),
        grad_u.stride(0), grad_u.stride(1),
        HAS_BIAS=bias is not None, BLOCK_L=bl, BLOCK_D=bd,
    )
    sums = part.sum(0)  # [3d, 4]
    grad_w = sums[:, :3].reshape(c3, 1, 3).to(weight.dtype)
    grad_b = sums[:, 3].to(bias.dtype) if bias is not None else None
    return grad_u, grad_w, grad_b

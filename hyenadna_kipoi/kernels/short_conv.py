"""Fused causal depthwise short convolution (kernel 3) + channel split + gate.

In the order-2 Hyena operator the in-projection output ``u`` [B, L, 3d] goes through a
causal depthwise Conv1d(3d, 3d, kernel_size=3, padding=2, groups=3d), of which the first
L outputs are kept:

    uc[b, t, c] = bias[c] + w[c, 0, 0] * u[b, t-2, c] + w[c, 0, 1] * u[b, t-1, c]
                          + w[c, 0, 2] * u[b, t, c]          (u[b, t<0, :] = 0)

then ``x0, x1, v = uc.split(d, dim=-1)`` and the gate ``z = v * x1``. Both functions
here return ``(x0, z)``, each [B, L, d]. The Triton kernel works directly on the
channel-last layout (no transposes materialised) and never writes ``uc``.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import torch
import torch.nn.functional as F

from ._alloc import empty, empty_like
from ._triton_utils import cdiv, import_triton, next_pow2, require_triton

# Bound by _build() on first use; module globals so the kernels' `tl.` resolves.
triton = tl = None

__all__ = ["short_conv_gate_reference", "short_conv_gate_triton"]


def _check(u: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> int:
    if u.dim() != 3 or u.shape[-1] % 3:
        raise ValueError(f"u must be [B, L, 3d], got shape {tuple(u.shape)}")
    c3 = u.shape[-1]
    if weight.shape != (c3, 1, 3):
        raise ValueError(f"weight must be [3d, 1, 3] = [{c3}, 1, 3], got {tuple(weight.shape)}")
    if bias is not None and bias.shape != (c3,):
        raise ValueError(f"bias must be [3d] = [{c3}], got {tuple(bias.shape)}")
    return c3 // 3


def short_conv_gate_reference(
    u: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain PyTorch reference (what the HyenaDNA model computes).

    Args:
        u: [B, L, 3d] in-projection output, channel-last.
        weight: [3d, 1, 3] depthwise Conv1d weight.
        bias: [3d] Conv1d bias, or None.

    Returns:
        (x0, z): x0 = uc[..., :d] and z = uc[..., 2d:] * uc[..., d:2d], each [B, L, d]
        (views with channel-last strides), in u's dtype.
    """
    d = _check(u, weight, bias)
    L = u.shape[1]
    uc = F.conv1d(u.transpose(1, 2), weight, bias, padding=2, groups=3 * d)[..., :L]
    uc = uc.transpose(1, 2)  # back to [B, L, 3d]
    x0, x1, v = uc.split(d, dim=-1)
    return x0, v * x1


def short_conv_gate_rows(
    u: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    *,
    skip: int = 0,
    out_x0: torch.Tensor | None = None,
    out_z: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Channel-last torch path for inference on a block of rows, with no transposes.

    Args:
        u: [B, R, 3d] in-projection rows; the first ``skip`` (<= 2) rows are context only
            (the causal conv reaches two steps back), so a long sequence can be processed
            block by block with a 2-row overlap.
        weight, bias: as for :func:`short_conv_gate_reference`.
        out_x0, out_z: optional [B, R - skip, d] destinations (e.g. slices of whole-sequence
            buffers).

    Returns:
        (x0, z) for rows ``skip..R-1``, each [B, R - skip, d]. Equal to the reference up to
        the order of the three-term sum.
    """
    d = _check(u, weight, bias)
    w = weight.reshape(3 * d, 3).to(u.dtype)
    uc = u * w[:, 2]
    uc[:, 1:].addcmul_(u[:, :-1], w[:, 1])
    uc[:, 2:].addcmul_(u[:, :-2], w[:, 0])
    if bias is not None:
        uc.add_(bias.to(u.dtype))
    uc = uc[:, skip:]
    x0 = uc[..., :d] if out_x0 is None else out_x0.copy_(uc[..., :d])
    if out_z is None:
        return x0, uc[..., 2 * d:] * uc[..., d:2 * d]
    return x0, torch.mul(uc[..., 2 * d:], uc[..., d:2 * d], out=out_z)


@functools.cache
def _build() -> SimpleNamespace:
    """Define (once) and return the Triton kernels; triton is imported here, on first use."""
    global triton, tl
    triton, tl = import_triton()

    @triton.jit
    def _short_conv_gate_kernel(
        u_ptr, w_ptr, b_ptr, x0_ptr, z_ptr,
        L, d,
        s_ub, s_ul, s_uc,
        s_ob, s_ol,
        HAS_BIAS: tl.constexpr,
        BLOCK_L: tl.constexpr,
        BLOCK_D: tl.constexpr,
    ):
        pid_l = tl.program_id(0)
        pid_d = tl.program_id(1)
        b = tl.program_id(2)
        t = pid_l * BLOCK_L + tl.arange(0, BLOCK_L)  # [BLOCK_L] time steps
        c = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)  # [BLOCK_D] channels within a group
        cmask = c < d
        tmask = t < L
        # Masks for the taps t-1 and t-2 (causal zero padding).
        m0 = tmask[:, None] & cmask[None, :]
        m1 = m0 & (t[:, None] >= 1)
        m2 = m0 & (t[:, None] >= 2)
        base = u_ptr + b.to(tl.int64) * s_ub
        row0 = t[:, None].to(tl.int64) * s_ul
        row1 = row0 - s_ul
        row2 = row1 - s_ul

        # One pass per channel group g: x0 (g=0), x1 (g=1), v (g=2).
        ch0 = c
        w00 = tl.load(w_ptr + ch0 * 3 + 0, mask=cmask, other=0.0).to(tl.float32)
        w01 = tl.load(w_ptr + ch0 * 3 + 1, mask=cmask, other=0.0).to(tl.float32)
        w02 = tl.load(w_ptr + ch0 * 3 + 2, mask=cmask, other=0.0).to(tl.float32)
        col0 = (ch0 * s_uc)[None, :]
        x0 = w02[None, :] * tl.load(base + row0 + col0, mask=m0, other=0.0).to(tl.float32)
        x0 += w01[None, :] * tl.load(base + row1 + col0, mask=m1, other=0.0).to(tl.float32)
        x0 += w00[None, :] * tl.load(base + row2 + col0, mask=m2, other=0.0).to(tl.float32)

        ch1 = c + d
        w10 = tl.load(w_ptr + ch1 * 3 + 0, mask=cmask, other=0.0).to(tl.float32)
        w11 = tl.load(w_ptr + ch1 * 3 + 1, mask=cmask, other=0.0).to(tl.float32)
        w12 = tl.load(w_ptr + ch1 * 3 + 2, mask=cmask, other=0.0).to(tl.float32)
        col1 = (ch1 * s_uc)[None, :]
        x1 = w12[None, :] * tl.load(base + row0 + col1, mask=m0, other=0.0).to(tl.float32)
        x1 += w11[None, :] * tl.load(base + row1 + col1, mask=m1, other=0.0).to(tl.float32)
        x1 += w10[None, :] * tl.load(base + row2 + col1, mask=m2, other=0.0).to(tl.float32)

        ch2 = c + 2 * d
        w20 = tl.load(w_ptr + ch2 * 3 + 0, mask=cmask, other=0.0).to(tl.float32)
        w21 = tl.load(w_ptr + ch2 * 3 + 1, mask=cmask, other=0.0).to(tl.float32)
        w22 = tl.load(w_ptr + ch2 * 3 + 2, mask=cmask, other=0.0).to(tl.float32)
        col2 = (ch2 * s_uc)[None, :]
        v = w22[None, :] * tl.load(base + row0 + col2, mask=m0, other=0.0).to(tl.float32)
        v += w21[None, :] * tl.load(base + row1 + col2, mask=m1, other=0.0).to(tl.float32)
        v += w20[None, :] * tl.load(base + row2 + col2, mask=m2, other=0.0).to(tl.float32)

        if HAS_BIAS:
            x0 += tl.load(b_ptr + ch0, mask=cmask, other=0.0).to(tl.float32)[None, :]
            x1 += tl.load(b_ptr + ch1, mask=cmask, other=0.0).to(tl.float32)[None, :]
            v += tl.load(b_ptr + ch2, mask=cmask, other=0.0).to(tl.float32)[None, :]

        out_off = b.to(tl.int64) * s_ob + t[:, None].to(tl.int64) * s_ol + c[None, :]
        tl.store(x0_ptr + out_off, x0.to(x0_ptr.dtype.element_ty), mask=m0)
        tl.store(z_ptr + out_off, (v * x1).to(z_ptr.dtype.element_ty), mask=m0)

    return SimpleNamespace(_short_conv_gate_kernel=_short_conv_gate_kernel)


def short_conv_gate_triton(
    u: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    *,
    block_l: int | None = None,
    block_d: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused Triton version of :func:`short_conv_gate_reference` (inference only).

    Args:
        u: [B, L, 3d] (any strides; the channel stride should be 1 for speed).
        weight: [3d, 1, 3]; bias: [3d] or None.
        block_l, block_d: tile sizes (powers of two); chosen automatically when None.

    Returns:
        (x0, z), each a new contiguous [B, L, d] tensor in u's dtype. Arithmetic in fp32,
        rounded once on store (the reference rounds uc and v * x1 separately).
    """
    d = _check(u, weight, bias)
    require_triton(u, weight)
    B, L, _ = u.shape
    x0 = empty(B, L, d, device=u.device, dtype=u.dtype)
    z = empty_like(x0)
    if B == 0 or L == 0 or d == 0:
        return x0, z
    w = weight.reshape(3 * d, 3).contiguous()
    bl = block_l or min(64, next_pow2(L))
    bd = block_d or min(64, next_pow2(d))
    grid = (cdiv(L, bl), cdiv(d, bd), B)
    _build()._short_conv_gate_kernel[grid](
        u, w, bias.contiguous() if bias is not None else w, x0, z,
        L, d,
        u.stride(0), u.stride(1), u.stride(2),
        x0.stride(0), x0.stride(1),
        HAS_BIAS=bias is not None,
        BLOCK_L=bl,
        BLOCK_D=bd,
    )
    return x0, z

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

# Bound by _build() on first use; module globals so the kernels' `tl.` (and `_conv3`) resolve.
triton = tl = _conv3 = None

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


def _onednn_depthwise(u: torch.Tensor) -> bool:
    return (u.device.type == "cpu" and u.dtype in (torch.float32, torch.bfloat16)
            and torch.backends.mkldnn.is_available() and u.stride(-1) == 1)


def _depthwise_channel_last(u: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """The causal depthwise conv of channel-last rows u [B, R, C] with no transpose: uc [B, R, C] (a view).

    u seen as an NHWC image [B, C, 1, R] (``channels_last`` strides: a view) is the layout oneDNN's
    depthwise convolution reads and writes natively; a 3-d conv1d input has no channel-last format and
    would be copied. The output has R + 2 columns, of which the first R are the causal ones.
    """
    B, R, C = u.shape
    image = u.unsqueeze(1).permute(0, 3, 1, 2)  # [B, C, 1, R], channels-last strides
    out = F.conv2d(image, weight.reshape(C, 1, 1, 3).to(u.dtype), None if bias is None else bias.to(u.dtype),
                   padding=(0, 2), groups=C)
    return out.permute(0, 2, 3, 1)[:, 0, :R]


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
        the order of the three-term sum. On CPU with oneDNN (fp32/bf16) the conv is one oneDNN
        depthwise convolution on the channel-last rows (:func:`_depthwise_channel_last`, ~4x faster
        than the multiply-adds); elsewhere three multiply-adds over the kept rows, the bias fused into
        the first, each over the whole 3d width (an op on a d-wide column slice costs about twice as
        much per element on CPU).
    """
    d = _check(u, weight, bias)
    R = u.shape[1]
    if _onednn_depthwise(u):
        uc = _depthwise_channel_last(u, weight, bias)[:, skip:]
        x0 = uc[..., :d] if out_x0 is None else out_x0.copy_(uc[..., :d])
        return x0, torch.mul(uc[..., 2 * d:], uc[..., d:2 * d], out=out_z)
    w = weight.reshape(3 * d, 3).to(u.dtype)
    if bias is None:
        uc = u[:, skip:] * w[:, 2]
    else:
        uc = torch.addcmul(bias.to(u.dtype), u[:, skip:], w[:, 2])
    for lag in (1, 2):  # taps u[t - lag]; rows before the sequence start are zero
        first = max(0, lag - skip)
        uc[:, first:].addcmul_(u[:, skip + first - lag:R - lag], w[:, 2 - lag])
    x0 = uc[..., :d] if out_x0 is None else out_x0.copy_(uc[..., :d])
    if out_z is None:
        return x0, uc[..., 2 * d:] * uc[..., d:2 * d]
    return x0, torch.mul(uc[..., 2 * d:], uc[..., d:2 * d], out=out_z)


@functools.cache
def _build() -> SimpleNamespace:
    """Define (once) and return the Triton kernels; triton is imported here, on first use."""
    global triton, tl, _conv3
    triton, tl = import_triton()

    @triton.jit
    def _conv3(base, w_ptr, b_ptr, ch, cmask, s_uc, row0, row1, row2, m0, m1, m2, HAS_BIAS: tl.constexpr):
        """One channel group's causal conv in fp32: w[ch, 2] u[t] + w[ch, 1] u[t-1] + w[ch, 0] u[t-2] (+ bias[ch])."""
        col = (ch * s_uc)[None, :]
        w0 = tl.load(w_ptr + ch * 3 + 0, mask=cmask, other=0.0).to(tl.float32)
        w1 = tl.load(w_ptr + ch * 3 + 1, mask=cmask, other=0.0).to(tl.float32)
        w2 = tl.load(w_ptr + ch * 3 + 2, mask=cmask, other=0.0).to(tl.float32)
        acc = w2[None, :] * tl.load(base + row0 + col, mask=m0, other=0.0).to(tl.float32)
        acc += w1[None, :] * tl.load(base + row1 + col, mask=m1, other=0.0).to(tl.float32)
        acc += w0[None, :] * tl.load(base + row2 + col, mask=m2, other=0.0).to(tl.float32)
        if HAS_BIAS:
            acc += tl.load(b_ptr + ch, mask=cmask, other=0.0).to(tl.float32)[None, :]
        return acc

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

        # One pass per channel group: x0 (channels c), x1 (c + d), v (c + 2d).
        x0 = _conv3(base, w_ptr, b_ptr, c, cmask, s_uc, row0, row1, row2, m0, m1, m2, HAS_BIAS)
        x1 = _conv3(base, w_ptr, b_ptr, c + d, cmask, s_uc, row0, row1, row2, m0, m1, m2, HAS_BIAS)
        v = _conv3(base, w_ptr, b_ptr, c + 2 * d, cmask, s_uc, row0, row1, row2, m0, m1, m2, HAS_BIAS)

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

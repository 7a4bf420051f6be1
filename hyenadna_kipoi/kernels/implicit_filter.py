"""Hyena implicit long filter (sine-activated MLP on positional features) and its cache.

For a length L the filter is

    h = sin(freq * (zpos[:L] @ W_0^T + b_0))                    W_0: [order, emb_dim]
    h = sin(freq * (h @ W_i^T + b_i))     for each inner layer  W_i: [order, order]
    k = h @ W_out^T (+ b_out)                                   W_out: [d, order], no bias in HyenaDNA
    k = k * (exp(-tpos[:L] * |deltas|) + shift)                 exponential-decay modulation

giving k [L, d] (one sine module, hence one ``freq`` [1, order], is shared by every
activation, as in HyenaDNA). ``tpos`` is the time grid in [0, 1] (t / (L_max - 1)),
``zpos`` [L_max, emb_dim] the model's positional-feature buffer.

The filter and its spectrum depend only on the weights and L, never on the input, so at
inference they are computed once per length and kept in a :class:`FilterCache`.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from types import SimpleNamespace

import torch

from ._alloc import empty
from ._triton_utils import cdiv, import_triton, next_pow2, require_triton

# Bound by _build() on first use; module globals so the kernels' `tl.` resolves.
triton = tl = None

__all__ = [
    "FilterCache",
    "cache_allowed",
    "filter_features",
    "filter_head",
    "filter_head_rows",
    "implicit_filter_reference",
    "implicit_filter_triton",
]


def _prepare(
    L: int,
    zpos: torch.Tensor,
    tpos: torch.Tensor,
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor | None],
    freq: torch.Tensor,
    deltas: torch.Tensor,
):
    """Flatten the buffers/parameters to [L, emb], [L], [order], [d] and check shapes."""
    if len(weights) < 2 or len(biases) != len(weights):
        raise ValueError(
            "weights must be [W_in, *W_inner, W_out] (at least 2) and biases the same length "
            f"(None for no bias); got {len(weights)} weights and {len(biases)} biases"
        )
    z2 = zpos.reshape(-1, zpos.shape[-1])
    t1 = tpos.reshape(-1)
    if z2.shape[0] < L or t1.shape[0] < L:
        raise ValueError(f"positional features cover {min(z2.shape[0], t1.shape[0])} positions, need L={L}")
    order = weights[0].shape[0]
    if weights[0].shape[1] != z2.shape[1]:
        raise ValueError(f"W_in is {tuple(weights[0].shape)} but zpos has emb_dim={z2.shape[1]}")
    for w in weights[1:-1]:
        if tuple(w.shape) != (order, order):
            raise ValueError(f"inner weights must be [{order}, {order}], got {tuple(w.shape)}")
    if weights[-1].shape[1] != order:
        raise ValueError(f"W_out must be [d, {order}], got {tuple(weights[-1].shape)}")
    d = weights[-1].shape[0]
    fr = freq.reshape(-1)
    dl = deltas.reshape(-1)
    if fr.numel() != order or dl.numel() != d:
        raise ValueError(f"freq must have {order} elements and deltas {d}; got {fr.numel()} and {dl.numel()}")
    return z2[:L], t1[:L], fr, dl, d


def implicit_filter_reference(
    L: int,
    zpos: torch.Tensor,
    tpos: torch.Tensor,
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor | None],
    freq: torch.Tensor,
    deltas: torch.Tensor,
    shift: float = 0.05,
) -> torch.Tensor:
    """Plain PyTorch filter generation (differentiable; the numerical reference).

    Args:
        L: filter length (sequence length).
        zpos: [L_max, emb_dim] or [1, L_max, emb_dim] positional features.
        tpos: [L_max], [L_max, 1] or [1, L_max, 1] time grid.
        weights: [W_in [order, emb_dim], W_inner... [order, order], W_out [d, order]]
            (``nn.Linear.weight`` layout); ``len(weights) - 2`` = num_inner_mlps.
        biases: matching biases ([order], ..., [d]) or None entries.
        freq: [1, order] (or [order]) sine frequency, shared by all activations.
        deltas: [1, 1, d] (or [d]) decay rates; |deltas| is used.
        shift: modulation offset.

    Returns:
        k [L, d] in the weights' dtype.
    """
    z2, t1, fr, dl, _ = _prepare(L, zpos, tpos, weights, biases, freq, deltas)
    return filter_head(filter_features(z2, weights[:-1], biases[:-1], fr), t1, weights[-1], biases[-1], dl, shift)


def filter_features(
    zpos: torch.Tensor,
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor | None],
    freq: torch.Tensor,
) -> torch.Tensor:
    """The sine MLP's last hidden layer h [L, order] for positional features zpos [L, emb_dim].

    ``weights``/``biases`` are the hidden layers only (W_in and the inner ones).
    """
    h = zpos
    for w, b in zip(weights, biases):
        h = torch.nn.functional.linear(h, w, b)
        # In place when no gradient is recorded (saves two [L, order] temporaries per layer).
        h = h.mul_(freq.reshape(-1)).sin_() if not torch.is_grad_enabled() else torch.sin(freq.reshape(-1) * h)
    return h


def filter_head(
    h: torch.Tensor,
    tpos: torch.Tensor,
    w_out: torch.Tensor,
    b_out: torch.Tensor | None,
    deltas: torch.Tensor,
    shift: float,
) -> torch.Tensor:
    """Output layer and modulation for a set of C channels: h [L, order] -> k [L, C].

    ``w_out`` [C, order], ``deltas`` [C] (any rows of the full filter: the channels are
    independent, so a long filter can be produced a few channels at a time).
    """
    k = torch.nn.functional.linear(h, w_out, b_out)
    return k * (torch.exp(-tpos.reshape(-1)[: h.shape[0], None] * deltas.reshape(-1).abs()) + shift)


def filter_head_rows(
    h: torch.Tensor,
    tpos: torch.Tensor,
    w_out: torch.Tensor,
    b_out: torch.Tensor | None,
    deltas: torch.Tensor,
    shift: float,
    *,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """:func:`filter_head` channel-first: h [L, order] -> k^T [C, L], with no transpose (``w_out @ h^T``).

    ``out`` (optional) is a [C, L] destination with a unit last stride, e.g. the first L columns
    of a zero-padded FFT buffer (``long_conv.filter_spectrum_rows(..., in_place=True)``). Inference only.
    """
    L = h.shape[0]
    k = torch.mm(w_out, h.t(), out=out) if out is not None else torch.mm(w_out, h.t())
    if b_out is not None:
        k.add_(b_out[:, None])
    return k.mul_(torch.outer(deltas.reshape(-1).abs(), tpos.reshape(-1)[:L]).neg_().exp_().add_(shift))


@functools.cache
def _build() -> SimpleNamespace:
    """Define (once) and return the Triton kernel; triton is imported here, on first use."""
    global triton, tl
    triton, tl = import_triton()

    @triton.jit
    def _sine_mlp_filter_kernel(
        z_ptr, t_ptr, w_in_ptr, b_in_ptr, w_mid_ptr, b_mid_ptr, w_out_ptr, b_out_ptr,
        freq_ptr, delta_ptr, k_ptr,
        L, E, O, d, shift,
        s_zl, s_ze, s_t, s_kl, s_kd,
        N_INNER: tl.constexpr,
        HAS_OUT_BIAS: tl.constexpr,
        BLOCK_L: tl.constexpr,
        E_P: tl.constexpr,
        O_P: tl.constexpr,
        BLOCK_D: tl.constexpr,
    ):
        """One program: BLOCK_L positions through the whole MLP, then all d outputs."""
        pid = tl.program_id(0)
        rows = pid * BLOCK_L + tl.arange(0, BLOCK_L)
        rmask = rows < L
        e = tl.arange(0, E_P)
        o = tl.arange(0, O_P)
        omask = o < O
        fr = tl.load(freq_ptr + o, mask=omask, other=0.0)[None, :]

        zp = tl.load(z_ptr + rows[:, None] * s_zl + e[None, :] * s_ze,
                     mask=rmask[:, None] & (e[None, :] < E), other=0.0)
        # Transposed nn.Linear weight: wt[e, o] = W_in[o, e] (row-major [O, E]).
        wt = tl.load(w_in_ptr + o[None, :] * E + e[:, None],
                     mask=(e[:, None] < E) & omask[None, :], other=0.0)
        h = tl.dot(zp, wt, input_precision="ieee")
        h += tl.load(b_in_ptr + o, mask=omask, other=0.0)[None, :]
        h = tl.sin(fr * h)
        for i in tl.static_range(N_INNER):
            wt = tl.load(w_mid_ptr + i * O * O + o[None, :] * O + o[:, None],
                         mask=omask[:, None] & omask[None, :], other=0.0)
            h = tl.dot(h, wt, input_precision="ieee")
            h += tl.load(b_mid_ptr + i * O + o, mask=omask, other=0.0)[None, :]
            h = tl.sin(fr * h)

        tt = tl.load(t_ptr + rows * s_t, mask=rmask, other=0.0)
        for d0 in range(0, d, BLOCK_D):
            c = d0 + tl.arange(0, BLOCK_D)
            cmask = c < d
            wt_out = tl.load(w_out_ptr + c[None, :] * O + o[:, None],
                             mask=omask[:, None] & cmask[None, :], other=0.0)
            kk = tl.dot(h, wt_out, input_precision="ieee")
            if HAS_OUT_BIAS:
                kk += tl.load(b_out_ptr + c, mask=cmask, other=0.0)[None, :]
            dl = tl.abs(tl.load(delta_ptr + c, mask=cmask, other=0.0))
            kk = kk * (tl.exp(-tt[:, None] * dl[None, :]) + shift)
            tl.store(k_ptr + rows[:, None] * s_kl + c[None, :] * s_kd,
                     kk.to(k_ptr.dtype.element_ty), mask=rmask[:, None] & cmask[None, :])

    return SimpleNamespace(_sine_mlp_filter_kernel=_sine_mlp_filter_kernel)


@torch.no_grad()
def implicit_filter_triton(
    L: int,
    zpos: torch.Tensor,
    tpos: torch.Tensor,
    weights: Sequence[torch.Tensor],
    biases: Sequence[torch.Tensor | None],
    freq: torch.Tensor,
    deltas: torch.Tensor,
    shift: float = 0.05,
    *,
    block_l: int = 32,
) -> torch.Tensor:
    """Fused Triton filter generation (inference only): one kernel for the whole MLP.

    Same arguments and result as :func:`implicit_filter_reference` (computed in fp32,
    stored in the weights' dtype). Intermediate activations never touch memory.
    """
    z2, t1, fr, dl, d = _prepare(L, zpos, tpos, weights, biases, freq, deltas)
    require_triton(z2, weights[-1])
    f32 = torch.float32
    dev = weights[0].device
    order, emb = weights[0].shape
    n_inner = len(weights) - 2

    def as32(x: torch.Tensor | None, n: int) -> torch.Tensor:
        return torch.zeros(n, device=dev, dtype=f32) if x is None else x.to(f32).contiguous()

    w_in = weights[0].to(f32).contiguous()
    b_in = as32(biases[0], order)
    if n_inner:
        w_mid = torch.stack([w.to(f32) for w in weights[1:-1]]).contiguous()
        b_mid = torch.stack([as32(b, order) for b in biases[1:-1]]).contiguous()
    else:  # placeholders, never read
        w_mid, b_mid = w_in, b_in
    w_out = weights[-1].to(f32).contiguous()
    b_out = biases[-1]
    z32 = z2.to(f32)
    t32 = t1.to(f32)
    k = empty(L, d, device=dev, dtype=weights[-1].dtype)
    if L == 0:
        return k
    grid = (cdiv(L, block_l),)
    _build()._sine_mlp_filter_kernel[grid](
        z32, t32, w_in, b_in, w_mid, b_mid, w_out,
        as32(b_out, d) if b_out is not None else w_out,
        fr.to(f32).contiguous(), dl.to(f32).contiguous(), k,
        L, emb, order, d, float(shift),
        z32.stride(0), z32.stride(1), t32.stride(0), k.stride(0), k.stride(1),
        N_INNER=n_inner,
        HAS_OUT_BIAS=b_out is not None,
        BLOCK_L=block_l,
        E_P=max(16, next_pow2(emb)),
        O_P=max(16, next_pow2(order)),
        BLOCK_D=min(64, max(16, next_pow2(d))),
    )
    return k


def cache_allowed(tensors: Sequence[torch.Tensor]) -> bool:
    """Caching is off while autograd would record through any of these tensors, and for
    inference tensors (made under ``torch.inference_mode``), which keep no version counter
    that could reveal an in-place change."""
    if any(t.is_inference() for t in tensors):
        return False
    return not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))


def _fingerprint(t: torch.Tensor) -> tuple:
    # _version moves on every in-place write through the tensor (optimizer steps,
    # load_state_dict's copy_); data_ptr moves when `.data` is reassigned.
    return (t.data_ptr(), t._version, tuple(t.shape), tuple(t.stride()), t.dtype, str(t.device))


class FilterCache:
    """Small LRU of derived filter tensors (k, k_f, ...) keyed by the weights' state.

    One instance per Hyena layer. An entry is keyed by a tag (e.g. ``("k", L)`` or
    ``("kf", L, n)``) plus a fingerprint (data pointer, ``_version``, shape, stride,
    dtype, device) of every tensor it was computed from; the entry keeps those tensors
    alive so a pointer cannot be recycled while the entry exists. Any in-place update
    of a weight (optimizer step, ``load_state_dict``) changes its ``_version`` and so
    misses; entries made stale that way are dropped on the next miss.

    Limits: writes through ``param.data`` do not bump ``_version`` - call :meth:`clear`
    after those. Nothing is cached while gradients are needed (:func:`cache_allowed`).
    """

    def __init__(self, max_entries: int = 4) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[tuple, tuple[torch.Tensor, ...], torch.Tensor]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Drop every entry (and the memory it holds)."""
        self._entries.clear()

    def get(
        self,
        tag: Hashable,
        tensors: Sequence[torch.Tensor],
        compute: Callable[[], torch.Tensor],
    ) -> torch.Tensor:
        """Return ``compute()``, reusing an entry when ``tag`` and ``tensors`` are unchanged.

        Args:
            tag: hashable description of what is computed (kind, length, fft size, backend...).
            tensors: every tensor the result depends on.
            compute: builds the result on a miss.
        """
        tensors = tuple(tensors)
        if not cache_allowed(tensors) or self.max_entries <= 0:
            return compute()
        fp = tuple(_fingerprint(t) for t in tensors)
        key = (tag, tuple(id(t) for t in tensors))
        entry = self._entries.get(key)
        if entry is not None and entry[0] == fp:
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[2]
        self.misses += 1
        self._drop_stale()
        value = compute()
        self._entries[key] = (fp, tensors, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return value

    def _drop_stale(self) -> None:
        for key in [k for k, (fp, ts, _) in self._entries.items()
                    if fp != tuple(_fingerprint(t) for t in ts)]:
            del self._entries[key]

"""Kernels vs their torch references, the chunked FFT path, dispatch and the filter cache.

Triton kernels run on CUDA when there is a GPU, else in Triton's CPU interpreter. The
interpreter is switched on by ``TRITON_INTERPRET=1``, which triton reads when it is first
imported (``triton.language``'s own helpers) and when a kernel is decorated. The kernel
modules import triton lazily, on the first kernel call, so setting the variable here, at
collection time, is early enough even when other test modules imported the package
before: no test runs before collection ends. This keeps everything in one process (no
subprocess start-up cost, one pytest line per case). If something imported triton itself
earlier in compiled mode, the interpreter cannot work in this process and the Triton
tests are skipped with that reason (run ``TRITON_INTERPRET=1 pytest tests/test_kernels.py``).
"""

from __future__ import annotations

import math
import os
import sys
from importlib import import_module
from pathlib import Path

import pytest
import torch

CUDA = torch.cuda.is_available()
if not CUDA:
    os.environ.setdefault("TRITON_INTERPRET", "1")

try:
    from hyenadna_kipoi import kernels as K
except ImportError:  # package not installed: the checkout's
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from hyenadna_kipoi import kernels as K

SC = import_module(K.__name__ + ".short_conv")
LC = import_module(K.__name__ + ".long_conv")
IF = import_module(K.__name__ + ".implicit_filter")
DP = import_module(K.__name__ + ".dispatch")

DEV = "cuda" if CUDA else "cpu"


def _triton_skip_reason() -> str | None:
    if not K.HAS_TRITON:
        return "triton is not installed"
    if CUDA:
        return None
    if os.environ.get("TRITON_INTERPRET") != "1":
        return "no CUDA and TRITON_INTERPRET is not 1"
    if "triton" in sys.modules:
        tl = sys.modules.get("triton.language")
        if tl is not None and type(getattr(tl, "zeros", None)).__name__ != "InterpretedFunction":
            return "triton was imported in compiled mode before TRITON_INTERPRET=1 was set"
    return None


needs_triton = pytest.mark.skipif(_triton_skip_reason() is not None, reason=str(_triton_skip_reason()))


def _tol(dtype: torch.dtype) -> float:
    return {torch.float32: 2e-5, torch.float16: 4e-3, torch.bfloat16: 3e-2}[dtype]


def assert_close_scaled(got: torch.Tensor, ref: torch.Tensor, dtype: torch.dtype) -> None:
    """max |got - ref| <= tol(dtype) * max(1, max |ref|); NaN fails."""
    got, ref = got.double().cpu(), ref.double().cpu()
    assert got.shape == ref.shape
    assert torch.isfinite(got).all()
    err = (got - ref).abs().max().item() if got.numel() else 0.0
    scale = max(1.0, ref.abs().max().item() if ref.numel() else 0.0)
    assert err <= _tol(dtype) * scale, f"max abs err {err:.3e} (scale {scale:.3g}, {dtype})"


def direct_conv64(z, k, D, x0):
    """O(L^2) float64 definition: (sum_s k[s] z[t-s] + D z) * x0."""
    z, k = z.double().cpu(), k.double().cpu()
    L = z.shape[1]
    y = torch.zeros_like(z)
    for s in range(L):
        y[:, s:, :] += k[s] * z[:, : L - s, :]
    y = y + z * D.double().cpu()
    return y if x0 is None else y * x0.double().cpu()


def conv_inputs(B, L, d, dtype, device=DEV, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(B, L, d, generator=g).to(device, dtype)
    x0 = torch.randn(B, L, d, generator=g).to(device, dtype)
    fdt = torch.float64 if dtype == torch.float64 else torch.float32  # filters stay fp32
    k = (torch.randn(L, d, generator=g) / math.sqrt(max(L, 1))).to(device, fdt)
    D = torch.randn(d, generator=g).to(device, fdt)
    return z, k, D, x0


def filter_params(Lmax=160, emb=5, order=16, d=12, n_inner=2, out_bias=False, device=DEV, seed=0):
    g = torch.Generator().manual_seed(seed)
    zpos = torch.randn(1, Lmax, emb, generator=g).to(device)
    tpos = torch.linspace(0, 1, Lmax)[None, :, None].to(device)
    dims = [emb] + [order] * n_inner  # input widths of the sine layers
    weights = [(torch.randn(order, i, generator=g) / math.sqrt(i)).to(device) for i in dims]
    weights.append((torch.randn(d, order, generator=g) / math.sqrt(order)).to(device))
    biases = [(0.1 * torch.randn(order, generator=g)).to(device) for _ in dims]
    biases.append((0.1 * torch.randn(d, generator=g)).to(device) if out_bias else None)
    freq = torch.full((1, order), 1.5, device=device)
    deltas = torch.linspace(-3.0, -15.0, d, device=device)[None, None]
    return zpos, tpos, weights, biases, freq, deltas


def _f64(params, device="cpu"):
    """Filter parameters as float64 on ``device`` (lists of tensors/None kept as lists)."""
    def cv(p):
        return None if p is None else p.to(device, torch.float64)
    return [cv(p) if torch.is_tensor(p) else [cv(q) for q in p] for p in params]


# ------------------------------------------------------------------ short conv

@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("B,L,d", [(2, 37, 5), (1, 70, 24), (1, 1, 3), (1, 2, 40)])
@needs_triton
def test_short_conv_triton_matches_reference(B, L, d, dtype):
    g = torch.Generator().manual_seed(1)
    u = torch.randn(B, L, 3 * d, generator=g).to(DEV, dtype)
    w = torch.randn(3 * d, 1, 3, generator=g).to(DEV, dtype)
    b = torch.randn(3 * d, generator=g).to(DEV, dtype)
    x0, z = SC.short_conv_gate_triton(u, w, b)
    rx0, rz = SC.short_conv_gate_reference(u.double().cpu(), w.double().cpu(), b.double().cpu())
    assert x0.dtype == dtype and x0.is_contiguous() and z.is_contiguous()
    assert_close_scaled(x0, rx0, dtype)
    assert_close_scaled(z, rz, dtype)


@needs_triton
def test_short_conv_triton_strided_input_and_no_bias():
    u = torch.randn(2, 40, 3 * 8 + 5, device=DEV)[..., 5:]  # non-contiguous channel slice
    w = torch.randn(24, 1, 3, device=DEV)
    x0, z = SC.short_conv_gate_triton(u, w, None, block_l=16, block_d=4)
    rx0, rz = SC.short_conv_gate_reference(u.double().cpu(), w.double().cpu(), None)
    assert_close_scaled(x0, rx0, torch.float32)
    assert_close_scaled(z, rz, torch.float32)


def test_short_conv_reference_is_causal_conv1d():
    u = torch.randn(1, 9, 6, dtype=torch.float64)
    w = torch.randn(6, 1, 3, dtype=torch.float64)
    b = torch.randn(6, dtype=torch.float64)
    x0, z = SC.short_conv_gate_reference(u, w, b)
    pad = torch.cat([torch.zeros(1, 2, 6, dtype=torch.float64), u], 1)
    uc = b + w[:, 0, 0] * pad[:, :-2] + w[:, 0, 1] * pad[:, 1:-1] + w[:, 0, 2] * pad[:, 2:]
    torch.testing.assert_close(x0, uc[..., :2])
    torch.testing.assert_close(z, uc[..., 4:] * uc[..., 2:4])


# ------------------------------------------------------------------ long conv

@pytest.mark.parametrize("L", [1, 7, 64, 100, 333])
def test_reference_and_chunked_match_direct_definition(L):
    z, k, D, x0 = conv_inputs(2, L, 5, torch.float64, device="cpu")
    want = direct_conv64(z, k, D, x0)
    torch.testing.assert_close(LC.long_conv_reference(z, k, D, x0), want)
    k_f = LC.filter_spectrum(k)
    for chunk, budget in ((None, None), (2, None), (3, 4 * L)):  # ragged chunks, batch split
        got = LC.long_conv_chunked(z, k_f, D, x0, chunk=chunk, budget=budget)
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_chunked_matches_reference_low_precision(dtype):
    z, k, D, x0 = conv_inputs(1, 250, 6, dtype, device="cpu")
    ref = LC.long_conv_reference(z, k, D, x0)
    got = LC.long_conv_chunked(z, LC.filter_spectrum(k), D, x0, chunk=4)
    assert got.dtype == dtype
    assert_close_scaled(got, ref, dtype)


def test_chunked_in_place_and_longer_spectrum():
    z, k, D, x0 = conv_inputs(1, 50, 4, torch.float64, device="cpu")
    want = direct_conv64(z, k, D, x0)
    zz = z.clone()
    out = LC.long_conv_chunked(zz, LC.filter_spectrum(k, fft_size=256), D, x0, chunk=3, out=zz)
    assert out.data_ptr() == zz.data_ptr()
    torch.testing.assert_close(out, want)
    torch.testing.assert_close(LC.filter_from_spectrum(LC.filter_spectrum(k), 50), k)


def test_empty_inputs():
    z = torch.zeros(0, 5, 3)
    k_f = LC.filter_spectrum(torch.randn(5, 3))
    assert LC.long_conv_chunked(z, k_f, torch.ones(3), torch.zeros(0, 5, 3)).shape == (0, 5, 3)


def test_filter_spectrum_is_reference_normalisation():
    k = torch.randn(33, 3, dtype=torch.float64)
    torch.testing.assert_close(LC.filter_spectrum(k), torch.fft.rfft(k, n=66, dim=0) / 66)
    with pytest.raises(ValueError):
        LC.filter_spectrum(k, fft_size=40)
    with pytest.raises(ValueError):
        LC.long_conv_chunked(torch.randn(1, 50, 3), LC.filter_spectrum(k[:20]), torch.ones(3), None)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("B,L,d,bt,bn", [(2, 37, 3, 16, 16), (1, 1, 2, 16, 16),
                                         (1, 300, 2, 16, 16), (1, 130, 3, 32, 16)])
@needs_triton
def test_direct_triton_matches_reference(B, L, d, bt, bn, dtype):
    z, k, D, x0 = conv_inputs(B, L, d, dtype)
    got = LC.long_conv_direct_triton(z, k, D, x0, block_t=bt, block_n=bn)
    assert got.dtype == dtype
    assert_close_scaled(got, direct_conv64(z, k, D, x0), dtype)


@needs_triton
def test_direct_triton_no_gate_and_long_filter():
    z, k, D, _ = conv_inputs(1, 45, 3, torch.float32)
    k_long = torch.cat([k, torch.randn(20, 3, device=DEV)])  # only k[:L] is used
    got = LC.long_conv_direct_triton(z, k_long, D, None, block_t=16, block_n=16)
    assert_close_scaled(got, direct_conv64(z, k, D, None), torch.float32)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("B,L,d,chunk,budget", [(2, 37, 5, 2, None), (3, 129, 4, None, 300), (1, 1, 3, None, None)])
@needs_triton
def test_fft_triton_matches_reference(B, L, d, chunk, budget, dtype):
    z, k, D, x0 = conv_inputs(B, L, d, dtype)
    got = LC.long_conv_fft_triton(z, LC.filter_spectrum(k), D, x0, chunk=chunk, budget=budget)
    assert got.dtype == dtype
    assert_close_scaled(got, direct_conv64(z, k, D, x0), dtype)
    if dtype == torch.float32:
        ref = LC.long_conv_reference(z, k, D, x0)
        assert_close_scaled(got, ref, dtype)


# ------------------------------------------------------------------ implicit filter

@pytest.mark.parametrize("cfg", [{}, {"emb": 3, "order": 20, "d": 7, "n_inner": 0},
                                 {"order": 32, "d": 70, "n_inner": 1, "out_bias": True}])
@needs_triton
def test_filter_triton_matches_reference(cfg):
    params = filter_params(**cfg)
    got = IF.implicit_filter_triton(77, *params)
    want = IF.implicit_filter_reference(77, *_f64(params))
    assert got.shape == want.shape
    assert_close_scaled(got, want, torch.float32)


def test_filter_reference_formula():
    zpos, tpos, W, Bs, freq, deltas = filter_params(device="cpu", n_inner=1)
    L = 10
    h = torch.sin(freq * (zpos[0, :L] @ W[0].T + Bs[0]))
    h = torch.sin(freq * (h @ W[1].T + Bs[1]))
    h = h @ W[2].T
    want = h * (torch.exp(-tpos[0, :L] * deltas[0].abs()) + 0.05)
    torch.testing.assert_close(IF.implicit_filter_reference(L, zpos, tpos, W, Bs, freq, deltas), want)


def test_filter_cache_hits_and_invalidates():
    zpos, tpos, W, Bs, freq, deltas = filter_params(device="cpu")
    cache = K.FilterCache()
    args = (zpos, tpos, W, Bs, freq, deltas)
    k1 = DP.implicit_filter(40, *args, cache=cache, backend="torch")
    k2 = DP.implicit_filter(40, *args, cache=cache, backend="torch")
    assert k2 is k1 and (cache.hits, cache.misses) == (1, 1)
    kf1 = K.implicit_filter_spectrum(40, *args, cache=cache, backend="torch")
    assert K.implicit_filter_spectrum(40, *args, cache=cache, backend="torch") is kf1
    assert kf1.shape == (41, 12) and kf1.is_complex()
    torch.testing.assert_close(kf1, torch.fft.rfft(k1, n=80, dim=0) / 80)
    DP.implicit_filter(41, *args, cache=cache, backend="torch")  # another length: a miss
    assert cache.misses == 3

    with torch.no_grad():
        W[1].add_(0.5)  # in-place weight change (as an optimizer step) bumps _version
    k3 = DP.implicit_filter(40, *args, cache=cache, backend="torch")
    assert k3 is not k1 and not torch.allclose(k3, k1)
    torch.testing.assert_close(k3, IF.implicit_filter_reference(40, *args))
    assert len(cache) == 1  # entries made stale by the change were dropped

    cache.clear()
    assert len(cache) == 0


def test_filter_cache_sees_load_state_dict():
    lins = torch.nn.ModuleList([torch.nn.Linear(5, 16), torch.nn.Linear(16, 16), torch.nn.Linear(16, 8, bias=False)])
    zpos, tpos, _, _, freq, deltas = filter_params(device="cpu", d=8)
    W = [m.weight for m in lins]
    Bs = [m.bias for m in lins]
    cache = K.FilterCache()
    with torch.no_grad():
        k1 = DP.implicit_filter(20, zpos, tpos, W, Bs, freq, deltas, cache=cache)
        assert DP.implicit_filter(20, zpos, tpos, W, Bs, freq, deltas, cache=cache) is k1
        state = {n: torch.randn_like(t) for n, t in lins.state_dict().items()}
        lins.load_state_dict(state)  # copy_ into the parameters bumps their _version
        k2 = DP.implicit_filter(20, zpos, tpos, W, Bs, freq, deltas, cache=cache)
    assert k2 is not k1
    torch.testing.assert_close(k2, IF.implicit_filter_reference(20, zpos, tpos, W, Bs, freq, deltas).detach())


def test_filter_cache_disabled_when_grad_needed():
    zpos, tpos, W, Bs, freq, deltas = filter_params(device="cpu")
    W = [w.clone().requires_grad_() for w in W]
    cache = K.FilterCache()
    k1 = DP.implicit_filter(30, zpos, tpos, W, Bs, freq, deltas, cache=cache)
    k2 = DP.implicit_filter(30, zpos, tpos, W, Bs, freq, deltas, cache=cache)
    assert k1 is not k2 and len(cache) == 0 and k1.requires_grad
    k1.sum().backward()
    assert W[0].grad is not None
    with torch.no_grad():
        k3 = DP.implicit_filter(30, zpos, tpos, W, Bs, freq, deltas, cache=cache)
        assert DP.implicit_filter(30, zpos, tpos, W, Bs, freq, deltas, cache=cache) is k3


def test_filter_cache_lru_bound():
    cache = IF.FilterCache(max_entries=2)
    t = torch.ones(3)
    for L in range(5):
        cache.get(("k", L), [t], lambda n=L: torch.zeros(n))
    assert len(cache) == 2 and cache.misses == 5


# ------------------------------------------------------------------ dispatch

def test_backend_resolution(monkeypatch):
    cpu = torch.zeros(1)
    monkeypatch.delenv(DP.ENV_VAR, raising=False)
    assert DP.resolve_backend(None, cpu) == "torch"  # auto on CPU
    monkeypatch.setenv(DP.ENV_VAR, "torch")
    assert DP.resolve_backend(None, cpu) == "torch"
    monkeypatch.setenv(DP.ENV_VAR, "bogus")
    with pytest.raises(ValueError, match="HYENADNA_KERNELS"):
        DP.resolve_backend(None, cpu)
    assert DP.resolve_backend("torch", cpu) == "torch"  # the argument wins over the env var
    with pytest.raises(ValueError, match="argument"):
        DP.resolve_backend("cuda", cpu)
    monkeypatch.setenv(DP.ENV_VAR, "triton")
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(RuntimeError, match="triton"):
        DP.resolve_backend(None, cpu)  # triton forced where it cannot run: a clear error
    assert DP.resolve_backend("auto", cpu) == "torch"


@needs_triton
def test_long_conv_dispatch_paths(monkeypatch):
    z, k, D, x0 = conv_inputs(1, 40, 3, torch.float32)
    want = direct_conv64(z, k, D, x0)
    monkeypatch.setenv(DP.ENV_VAR, "torch")
    assert DP.long_conv_plan(z, k, D, x0) == "chunked"
    assert DP.long_conv_wants_spectrum(z)
    assert_close_scaled(DP.long_conv(z, k, D, x0), want, torch.float32)
    assert DP.long_conv_plan(z, k, D, x0, backend="triton") == "triton-direct"  # argument wins
    monkeypatch.setenv(DP.ENV_VAR, "triton")
    monkeypatch.setattr(LC, "DIRECT_MAX_L", 16)
    assert DP.long_conv_plan(z, k, D, x0) == "triton-fft"
    assert_close_scaled(DP.long_conv(z, LC.filter_spectrum(k), D, x0), want, torch.float32)
    monkeypatch.setattr(LC, "DIRECT_MAX_L", 64)
    assert DP.long_conv_plan(z, k, D, x0) == "triton-direct"
    assert not DP.long_conv_wants_spectrum(z)
    for kk in (k, LC.filter_spectrum(k)):  # k or its spectrum, either is accepted
        assert_close_scaled(DP.long_conv(z, kk, D, x0), want, torch.float32)
    # float64 and autograd always take the reference
    assert DP.long_conv_plan(z.double(), k.double(), D, x0.double()) == "reference"
    zg = z.clone().requires_grad_()
    assert DP.long_conv_plan(zg, k, D, x0) == "reference"
    DP.long_conv(zg, k, D, x0).sum().backward()
    assert zg.grad is not None


@needs_triton
def test_short_conv_and_filter_dispatch(monkeypatch):
    u = torch.randn(1, 20, 12, device=DEV)
    w, b = torch.randn(12, 1, 3, device=DEV), torch.randn(12, device=DEV)
    monkeypatch.setenv(DP.ENV_VAR, "triton")
    x0, z = K.short_conv_gate(u, w, b)
    assert x0.is_contiguous()  # the Triton kernel's fresh outputs, not reference views
    _, rz = K.short_conv_gate_reference(u, w, b)
    assert_close_scaled(z, rz, torch.float32)
    x0r, _ = K.short_conv_gate(u, w, b, backend="torch")
    assert not x0r.is_contiguous()
    params = filter_params()
    kt = DP.implicit_filter(50, *params)
    kr = DP.implicit_filter(50, *params, backend="torch")
    assert_close_scaled(kt, kr, torch.float32)


def test_hyena_operator_composition_torch():
    """short conv -> gate -> long conv -> gate equals the step-by-step model formula."""
    B, L, d = 2, 33, 4
    u = torch.randn(B, L, 3 * d, dtype=torch.float64)
    conv = torch.nn.Conv1d(3 * d, 3 * d, 3, padding=2, groups=3 * d).double()
    params = _f64(filter_params(device="cpu", d=d))
    with torch.no_grad():
        x0, z = K.short_conv_gate(u, conv.weight, conv.bias, backend="torch")
        k = DP.implicit_filter(L, *params, backend="torch")
        D = torch.randn(d, dtype=torch.float64)
        got = DP.long_conv(z, k, D, x0, backend="torch")
        uc = conv(u.transpose(1, 2))[..., :L]
        x0m, x1m, vm = uc.split(d, dim=1)
        v = vm * x1m
        n = 2 * L
        y = torch.fft.irfft(torch.fft.rfft(v, n=n) * (torch.fft.rfft(k.t(), n=n) / n), n=n, norm="forward")[..., :L]
        want = ((y + v * D[:, None]) * x0m).transpose(1, 2)
    torch.testing.assert_close(got, want)


# ------------------------------------------------------------------ GPU only

@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("L", [1000, 3001, 5000])
def test_gpu_long_conv_paths(L, dtype):
    z, k, D, x0 = conv_inputs(2, L, 64, dtype, device="cuda")
    ref = LC.long_conv_reference(z.float(), k, D, x0.float())
    tol = {torch.float32: 1e-4, torch.bfloat16: 3e-2, torch.float16: 4e-3}[dtype]
    for got in (LC.long_conv_direct_triton(z, k, D, x0),
                LC.long_conv_fft_triton(z, LC.filter_spectrum(k), D, x0, chunk=16),
                LC.long_conv_chunked(z, LC.filter_spectrum(k), D, x0)):
        assert got.dtype == dtype
        err = (got.float() - ref).abs().max().item()
        assert err <= tol * max(1.0, ref.abs().max().item()), err


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_gpu_short_conv_and_filter():
    u = torch.randn(2, 4097, 3 * 256, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(768, 1, 3, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(768, device="cuda", dtype=torch.bfloat16)
    x0, z = SC.short_conv_gate_triton(u, w, b)
    rx0, rz = SC.short_conv_gate_reference(u.float(), w.float(), b.float())
    assert (x0.float() - rx0).abs().max() <= 3e-2 * rx0.abs().max()
    assert (z.float() - rz).abs().max() <= 3e-2 * rz.abs().max()
    params = filter_params(Lmax=70000, order=64, d=256, device="cuda")
    kt = IF.implicit_filter_triton(65536, *params)
    kr = IF.implicit_filter_reference(65536, *params)
    assert (kt - kr).abs().max() <= 1e-5 * max(1.0, kr.abs().max().item())


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])  # multiply-adds; oneDNN's depthwise conv
@pytest.mark.parametrize("with_bias", [True, False])
def test_short_conv_rows_in_blocks_match_reference(with_bias, dtype):
    """Block by block with two rows of context, into slices of whole-sequence buffers."""
    g = torch.Generator().manual_seed(3)
    u = torch.randn(2, 37, 12, generator=g, dtype=torch.float64).to(dtype)
    w = torch.randn(12, 1, 3, generator=g, dtype=torch.float64).to(dtype)
    b = torch.randn(12, generator=g, dtype=torch.float64).to(dtype) if with_bias else None
    rx0, rz = SC.short_conv_gate_reference(u, w, b)
    x0, z = (torch.full((2, 37, 4), float("nan"), dtype=dtype) for _ in range(2))
    for start, end in ((0, 1), (1, 2), (2, 10), (10, 37)):
        lo = max(start - 2, 0)
        SC.short_conv_gate_rows(u[:, lo:end], w, b, skip=start - lo, out_x0=x0[:, start:end], out_z=z[:, start:end])
    torch.testing.assert_close(x0, rx0)
    torch.testing.assert_close(z, rz)
    whole = SC.short_conv_gate_rows(u, w, b)
    torch.testing.assert_close(whole[0], rx0)
    torch.testing.assert_close(whole[1], rz)

"""The inference fast path gives the plain path's numbers (it is tested against model.py)."""

import numpy as np
import pytest
import torch

from conftest import parity_fixture_dirs
from hyenadna_kipoi import HyenaConfig, HyenaDNA, load_model
from hyenadna_kipoi import fast_path


def _both(model: HyenaDNA, ids: torch.Tensor, **fast_kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.inference_mode():
        fast = fast_path.fast_backbone(model.backbone, ids, **fast_kwargs)
        model.fast_path = False
        plain = model.embed(ids)
        model.fast_path = True
    return fast, plain


@pytest.mark.parametrize("fixture", parity_fixture_dirs(), ids=lambda p: p.name)
def test_fast_path_parity_with_release(fixture):
    expected = np.load(fixture / "expected.npz")
    layout = "original" if (fixture / "original").exists() else "hf"
    model = load_model(fixture / layout)
    assert model.fast_path and fast_path.supports(model.backbone)
    with torch.inference_mode():
        logits = model(torch.from_numpy(expected["input_ids"]).long())
    np.testing.assert_allclose(logits.numpy(), expected["logits"], rtol=0, atol=1e-4)


@pytest.mark.parametrize("cache", ["spectrum", "filter", "none"],
                         ids=["cached-spectrum", "cached-filter", "streamed-spectrum"])
@pytest.mark.parametrize("L", [1024, 999, 8192, 8191, 33001])
def test_fast_matches_plain_on_random_weights(L, cache, monkeypatch):
    d = 32
    if cache != "spectrum":  # long-context modes, channel groups of 5 (uneven split of 32)
        # "filter": the cache holds the filter k ([L, d] fp32) but not its spectrum ([L + 1, d] complex)
        monkeypatch.setenv("HYENADNA_FILTER_CACHE_MB", str(L * d * 6 / 2**20) if cache == "filter" else "0")
        monkeypatch.setitem(fast_path.SPECTRUM_GROUP_ELEMENTS, "cpu", 5 * (L + 1))
        monkeypatch.setattr(fast_path, "SPECTRUM_GROUP_MIN", 1)
    torch.manual_seed(L)
    model = HyenaDNA(HyenaConfig(d_model=d, n_layer=2, max_seq_len=33002)).eval()
    ids = torch.randint(7, 12, (2, L))
    fast, plain = _both(model, ids, rows=4096)  # several row blocks, so block seams are exercised
    torch.testing.assert_close(fast, plain, rtol=0, atol=1e-4)


def test_model_uses_fast_path_only_for_inference():
    torch.manual_seed(0)
    model = HyenaDNA(HyenaConfig(d_model=16, n_layer=1, max_seq_len=100))
    ids = torch.randint(7, 11, (1, 64))
    model.train()
    assert model.embed(ids).requires_grad  # plain, differentiable path
    model.eval()
    with torch.no_grad():
        assert not model.embed(ids).requires_grad


def test_filter_spectrum_is_cached_and_invalidated_by_new_weights(monkeypatch):
    monkeypatch.delenv("HYENADNA_FILTER_CACHE_MB", raising=False)
    torch.manual_seed(0)
    model = HyenaDNA(HyenaConfig(d_model=16, n_layer=1, max_seq_len=600)).eval()
    ids = torch.randint(7, 11, (1, 500))
    with torch.inference_mode():
        first = model.embed(ids)
        cache = fast_path._filter_caches[model.backbone.layers[0].mixer]
        misses = cache.misses
        assert torch.equal(model.embed(ids), first) and cache.misses == misses and cache.hits >= 1
    state = {k: v + 0.01 if k.endswith("implicit_filter.0.weight") else v for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    with torch.inference_mode():
        changed = model.embed(ids)
    model.fast_path = False
    with torch.inference_mode():
        torch.testing.assert_close(changed, model.embed(ids), rtol=0, atol=1e-5)
    assert cache.misses > misses


def test_bfloat16_fast_path_as_accurate_as_plain_bf16(fixture_model_dir):
    model = load_model(fixture_model_dir)
    ids = torch.randint(7, 11, (1, 1000), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = model.embed(ids)
        model.to(torch.bfloat16)
        fast = model.embed(ids).float()
        model.fast_path = False
        plain = model.embed(ids).float()

    def rel(x):
        return (torch.linalg.norm(x - ref) / torch.linalg.norm(ref)).item()

    assert rel(fast) < 0.03 and rel(fast) < 1.1 * rel(plain)  # bf16 keeps ~3 significant digits


@pytest.mark.parametrize("cache_mb", [None, "0.0045", "0"],
                         ids=["cached-spectrum", "cached-filter", "streamed-spectrum"])
def test_triton_backend_matches_plain_in_the_interpreter(cache_mb, monkeypatch):
    """The fast path with every Triton kernel (interpreted on CPU tensors) equals the plain path."""
    from hyenadna_kipoi.kernels._triton_utils import HAS_TRITON

    if not HAS_TRITON or (not torch.cuda.is_available() and __import__("os").environ.get("TRITON_INTERPRET") != "1"):
        pytest.skip("Triton unavailable")
    if cache_mb is not None:  # 0.0045 MB (4.6 KiB) holds the [L, 16] fp32 filter at L = 37 and 64, not its spectrum
        monkeypatch.setenv("HYENADNA_FILTER_CACHE_MB", cache_mb)
    torch.manual_seed(0)
    model = HyenaDNA(HyenaConfig(d_model=16, n_layer=2, max_seq_len=100)).eval()
    for L in (37, 64):  # the direct Toeplitz kernel (L <= 1024) with an odd and an even length
        ids = torch.randint(7, 12, (1, L))
        fast, plain = _both(model, ids, backend="triton")
        torch.testing.assert_close(fast, plain, rtol=0, atol=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("L", [1000, 8191, 33001])
def test_cuda_fast_path_with_triton_matches_plain(L):
    torch.manual_seed(L)
    model = HyenaDNA(HyenaConfig(d_model=64, n_layer=2, max_seq_len=33002)).eval().cuda()
    ids = torch.randint(7, 12, (2, L), device="cuda")
    fast, plain = _both(model, ids, backend="triton")
    torch.testing.assert_close(fast, plain, rtol=0, atol=1e-4)
    with torch.inference_mode():
        cpu = HyenaDNA(model.config).eval()
        cpu.load_state_dict({k: v.cpu() for k, v in model.state_dict().items()})
        cpu.fast_path = False
        torch.testing.assert_close(fast.cpu(), cpu.embed(ids.cpu()), rtol=0, atol=1e-4)


@pytest.mark.parametrize("start", [0, 1, 2, 3, 130, 256])
def test_suffix_pass_continues_a_kept_prefix(start):
    """fast_backbone_suffix gives the rows a whole pass gives, for sequences that share a prefix."""
    torch.manual_seed(start)
    model = HyenaDNA(HyenaConfig(d_model=32, n_layer=2, max_seq_len=300)).eval()
    ref = torch.randint(7, 12, (2, 257))
    alt = ref[[1, 0, 1]].clone()
    alt[:, start:] = torch.randint(7, 12, (3, 257 - start))
    keep: list = []
    with torch.inference_mode():
        fast_path.fast_backbone(model.backbone, ref, keep=keep, rows=64)
        suffix = fast_path.fast_backbone_suffix(model.backbone, alt, start, keep, torch.tensor([1, 0, 1]), rows=50)
        whole = fast_path.fast_backbone(model.backbone, alt)
    assert suffix.shape == (3, 257 - start, 32)
    torch.testing.assert_close(suffix, whole[:, start:], rtol=0, atol=1e-5)


@pytest.mark.parametrize("first_row", [1, 100, 256])
def test_first_row_returns_the_same_rows(first_row):
    """fast_backbone(first_row=k) skips the last layer's position-wise work before row k, not its numbers."""
    torch.manual_seed(first_row)
    model = HyenaDNA(HyenaConfig(d_model=32, n_layer=2, max_seq_len=300)).eval()
    ids = torch.randint(7, 12, (2, 257))
    with torch.inference_mode():
        part = fast_path.fast_backbone(model.backbone, ids, first_row=first_row, rows=64)
        whole = fast_path.fast_backbone(model.backbone, ids, rows=64)
    torch.testing.assert_close(part, whole[:, first_row:], rtol=0, atol=0)


def test_compute_dtype_bfloat16_is_close_and_leaves_float32_exact():
    """bf16 projections change the numbers a little; float32 (the default) before and after is bitwise the same."""
    torch.manual_seed(0)
    model = HyenaDNA(HyenaConfig(d_model=32, n_layer=2, max_seq_len=300)).eval()
    ids = torch.randint(7, 12, (2, 257))
    with torch.inference_mode():
        before = model.log_likelihood(ids)
        with fast_path.compute_dtype("bfloat16"):
            assert fast_path.current_compute_dtype() == torch.bfloat16
            low = model.log_likelihood(ids)
        assert fast_path.current_compute_dtype() is None
        after = model.log_likelihood(ids)
        with fast_path.compute_dtype("float32"):
            same = model.log_likelihood(ids)
    assert low.dtype == torch.float32 and not torch.equal(low, before)
    torch.testing.assert_close(low, before, rtol=0, atol=0.25)  # per-position log p, nats (measured: up to 0.08)
    assert torch.equal(before, after) and torch.equal(before, same)
    with pytest.raises(ValueError, match="bfloat16"):
        with fast_path.compute_dtype("float16"):
            pass

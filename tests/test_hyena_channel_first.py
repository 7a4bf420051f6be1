"""The channel-first training operator (``kernels.hyena_channel_first``, ``fast_train.filter_rows``):
output and gradients equal the plain ``HyenaOperator``'s."""

from __future__ import annotations

from importlib import import_module

import pytest
import torch

from hyenadna_kipoi import fast_train
from hyenadna_kipoi.model import HyenaConfig, HyenaOperator

HC = import_module("hyenadna_kipoi.kernels.hyena_channel_first")


def operator_inputs(B: int, L: int, d: int, dtype: torch.dtype, biases: bool = True) -> list:
    g = torch.Generator().manual_seed(L)
    shapes = [(B, L, d), (3 * d, d), (3 * d,), (3 * d, 1, 3), (3 * d,), (d, L), (d,), (d, d), (d,)]
    out = [torch.randn(s, generator=g, dtype=dtype) / (s[-1] ** 0.5 if len(s) == 2 else 1) for s in shapes]
    if not biases:
        out[2] = out[4] = out[8] = None
    return [t if t is None else t.requires_grad_() for t in out]


@pytest.mark.parametrize("biases", [True, False])
def test_gradcheck_float64(biases):
    inputs = operator_inputs(2, 7, 2, torch.float64, biases)
    assert torch.autograd.gradcheck(HC.hyena_operator_cf, inputs)


@pytest.mark.parametrize("B,L,d", [(2, 37, 5), (1, 130, 8), (3, 2, 3)])
def test_operator_matches_plain_path_with_many_tiles(B, L, d, monkeypatch):
    monkeypatch.setattr(HC, "TILE_ELEMENTS", 3 * B * 2 * L)  # tiles of 3 channels, the last one shorter
    torch.manual_seed(L)
    mixer = HyenaOperator(HyenaConfig(d_model=d, max_seq_len=L + 5))
    u = torch.randn(B, L, d, requires_grad=True)
    g = torch.randn(B, L, d)
    params = [u, *mixer.parameters()]
    ref = mixer(u)
    ref_grads = torch.autograd.grad(ref, params, g)
    out = fast_train.hyena_operator(mixer, u)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    for got, want in zip(torch.autograd.grad(out, params, g), ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * want.abs().max().item())


def test_filter_rows_is_the_transposed_filter():
    mixer = HyenaOperator(HyenaConfig(d_model=6, max_seq_len=50))
    fn = mixer.filter_fn
    torch.testing.assert_close(fast_train.filter_rows(fn, 33), fn.filter(33).t(), rtol=1e-5, atol=1e-6)


def test_rejects_mixed_dtypes_and_bad_shapes():
    inputs = operator_inputs(1, 4, 2, torch.float32)
    with pytest.raises(ValueError, match="float32"):
        HC.hyena_operator_cf(inputs[0].double(), *inputs[1:])
    with pytest.raises(ValueError, match="kt must be"):
        HC.hyena_operator_cf(*inputs[:5], inputs[5][:, :3], *inputs[6:])

"""The plain-PyTorch backbone: parity with the release, parameter counts, API and input checks."""

import numpy as np
import pytest
import torch

from conftest import parity_fixture_dirs
from hyenadna_kipoi import PRESETS, HyenaConfig, HyenaDNA, InputError, count_parameters, load_model

RELEASED_BACKBONE_PARAMETERS = {  # without the (tied) LM head
    "tiny-1k": 436_096, "tiny-1k-d256": 1_641_088, "tiny-16k-d128": 436_096, "small-32k": 3_277_568,
    "medium-160k": 6_550_528, "medium-450k": 6_550_528, "large-1m": 6_550_528,
}


def _layouts(folder):
    return [sub for sub in ("original", "hf") if (folder / sub / "config.json").exists()]


@pytest.mark.parametrize("fixture", parity_fixture_dirs(), ids=lambda p: p.name)
def test_parity_with_release(fixture):
    expected = np.load(fixture / "expected.npz")
    ids = torch.from_numpy(expected["input_ids"]).long()
    layouts = _layouts(fixture)
    assert layouts, f"{fixture} holds neither an original nor an hf layout"
    for layout in layouts:
        model = load_model(fixture / layout)
        model.fast_path = False  # the plain reference path; tests/test_fast_path.py covers the other
        with torch.no_grad():
            hidden = model.embed(ids)
            logits = model(ids)
        np.testing.assert_allclose(hidden.numpy(), expected["hidden"], rtol=0, atol=1e-5, err_msg=f"{layout} hidden")
        np.testing.assert_allclose(logits.numpy(), expected["logits"], rtol=0, atol=1e-5, err_msg=f"{layout} logits")


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_parameter_counts(name):
    with torch.device("meta"):
        model = HyenaDNA(PRESETS[name].config())
    assert count_parameters(model) == RELEASED_BACKBONE_PARAMETERS[name]


def _small_model(**overrides):
    torch.manual_seed(0)
    return HyenaDNA(HyenaConfig(d_model=32, n_layer=2, max_seq_len=300, **overrides)).eval()


def test_log_likelihood_matches_logits():
    model = _small_model()
    ids = torch.randint(7, 12, (2, 50))
    ids[1, :10] = 4  # left padding
    with torch.no_grad():
        ll = model.log_likelihood(ids)
        logp = torch.log_softmax(model(ids), -1)
    assert ll.shape == (2, 49)
    assert torch.allclose(ll[0, 5], logp[0, 5, ids[0, 6]])
    assert (ll[1, :9] == 0).all() and (ll[1, 9:] <= 0).all() and ll[1, 9:].sum() < 0


def test_causality():
    model = _small_model()
    ids = torch.randint(7, 11, (1, 64))
    changed = ids.clone()
    changed[0, 40] = 7 if ids[0, 40] != 7 else 8
    with torch.no_grad():
        a, b = model.embed(ids), model.embed(changed)
    torch.testing.assert_close(a[0, :40], b[0, :40], rtol=0, atol=1e-5)  # FFT rounding only
    assert (a[0, 40:] - b[0, 40:]).abs().max() > 1e-2


def test_gradient_checkpointing_same_gradients():
    model = _small_model()
    model.train()
    ids = torch.randint(7, 11, (2, 64))
    grads = []
    for enabled in (False, True):
        model.zero_grad()
        model.set_gradient_checkpointing(enabled)
        torch.manual_seed(1)  # same dropout masks
        model(ids).float().logsumexp(-1).mean().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for g0, g1 in zip(*grads):
        torch.testing.assert_close(g0, g1)


def test_bfloat16_runs_close_to_fp32():
    model = _small_model()
    ids = torch.randint(7, 11, (1, 100))
    with torch.no_grad():
        ref = model.embed(ids)
        low = model.to(torch.bfloat16).embed(ids).float()
    assert torch.linalg.norm(low - ref) / torch.linalg.norm(ref) < 0.05  # bf16 keeps ~3 significant digits


def test_too_long_input_is_a_clear_error():
    model = _small_model()
    with pytest.raises(InputError, match="longer than this model's l_max of 300"):
        model(torch.full((1, 301), 7))


def test_bad_token_ids_and_shape():
    model = _small_model()
    with pytest.raises(InputError, match="token ids must lie in 0..15"):
        model(torch.tensor([[7, 99]]))
    with pytest.raises(InputError, match=r"\[batch, length\]"):
        model(torch.tensor([7, 8]))

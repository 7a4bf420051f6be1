"""Training on the fast path (``fast_train``, ``kernels.hyena_channel_first``, ``kernels.hyena_autograd``,
``kernels.short_conv_bwd``): its gradients equal the plain path's.

Triton kernels run on CUDA when there is a GPU, else in Triton's CPU interpreter (switched on
here at collection time, as in test_kernels.py).
"""

from __future__ import annotations

import os
import sys
from importlib import import_module
from pathlib import Path

import pytest
import torch

CUDA = torch.cuda.is_available()
if not CUDA:
    os.environ.setdefault("TRITON_INTERPRET", "1")

from conftest import REPO  # noqa: E402
from hyenadna_kipoi import fast_path  # noqa: E402
from hyenadna_kipoi.kernels import HAS_TRITON  # noqa: E402
from hyenadna_kipoi.model import HyenaConfig, HyenaDNA  # noqa: E402

from test_pretrain import DEMO, _raw, tiny_config  # noqa: E402

HA = import_module("hyenadna_kipoi.kernels.hyena_autograd")
HC = import_module("hyenadna_kipoi.kernels.hyena_channel_first")
SCB = import_module("hyenadna_kipoi.kernels.short_conv_bwd")
DEV = "cuda" if CUDA else "cpu"


@pytest.fixture(scope="module")
def prepared_genome(tmp_path_factory) -> Path:
    """Where the bundled C. elegans genome is decompressed and indexed, once for this module."""
    return tmp_path_factory.mktemp("genome") / "ce.fa"


def _triton_skip_reason() -> str | None:
    if not HAS_TRITON:
        return "triton is not installed"
    if CUDA:
        return None
    if os.environ.get("TRITON_INTERPRET") != "1":
        return "no CUDA and TRITON_INTERPRET is not 1"
    tl = sys.modules.get("triton.language")
    if tl is not None and type(getattr(tl, "zeros", None)).__name__ != "InterpretedFunction":
        return "triton was imported in compiled mode before TRITON_INTERPRET=1 was set"
    return None


needs_triton = pytest.mark.skipif(_triton_skip_reason() is not None, reason=str(_triton_skip_reason()))


def assert_grads_close(got: dict[str, torch.Tensor], ref: dict[str, torch.Tensor], rel: float = 1e-4) -> None:
    """Same parameters; each gradient within ``rel`` of the reference, relative to its largest entry."""
    assert got.keys() == ref.keys()
    for name, r in ref.items():
        g = got[name]
        scale = r.abs().max().item()
        err = (g - r).abs().max().item()
        assert err <= rel * scale, f"{name}: max |diff| {err:.3e} > {rel:g} x max |grad| {scale:.3e}"


def model_grads(model: HyenaDNA, ids: torch.Tensor, *, fast: bool, checkpointing: bool) -> tuple[float, dict]:
    """Loss and every parameter's gradient of one next-token loss on ``ids`` [B, L + 1]."""
    model.zero_grad(set_to_none=True)
    model.set_fast_training(fast)
    model.set_gradient_checkpointing(checkpointing)
    logits = model(ids[:, :-1]).float()
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


# --------------------------------------------------------------------------- the whole model


@pytest.mark.parametrize("checkpointing", [False, True], ids=["stored", "checkpointed"])
@pytest.mark.parametrize("L", [64, 999, 1024, 1537])
def test_gradients_equal_plain_path(L, checkpointing):
    torch.manual_seed(L)
    model = HyenaDNA(HyenaConfig(d_model=32, n_layer=2, max_seq_len=2048, embed_dropout=0.0)).train()
    ids = torch.randint(7, 11, (2, L + 1))
    plain_loss, plain = model_grads(model, ids, fast=False, checkpointing=checkpointing)
    fast_loss, fast = model_grads(model, ids, fast=True, checkpointing=checkpointing)
    assert fast_loss == pytest.approx(plain_loss, rel=1e-6)
    assert_grads_close(fast, plain)


def test_fast_training_switch_and_what_takes_the_path(monkeypatch):
    torch.manual_seed(0)
    model = HyenaDNA(HyenaConfig(d_model=16, n_layer=2, max_seq_len=100))
    assert not any(layer.mixer.fast_train for layer in model.backbone.layers)  # off unless a trainer says so
    calls = []
    for fn in (HA.HyenaCore, HC.HyenaOperatorCF):  # channel-last core (CUDA + Triton) or the whole operator
        monkeypatch.setattr(fn, "apply", lambda *a, real=fn.apply: calls.append(1) or real(*a))
    ids = torch.randint(7, 11, (1, 40))
    model.train()
    model(ids).sum().backward()
    assert not calls
    model.set_fast_training(True)
    model(ids).sum().backward()
    assert len(calls) == 2  # one per layer
    with torch.no_grad():  # inference never records: the fast (inference) or plain path, not this one
        model(ids)
    assert len(calls) == 2
    model.backbone.layers[0].mixer.dropout.p = 0.1  # Hyena dropout in training: the plain path does it
    model(ids).sum().backward()
    assert len(calls) == 3


def test_training_uses_no_filter_cache():
    torch.manual_seed(0)
    model = HyenaDNA(HyenaConfig(d_model=16, n_layer=1, max_seq_len=200, embed_dropout=0.0)).train()
    model.set_fast_training(True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    ids = torch.randint(7, 11, (2, 100))
    for _ in range(2):  # the next step sees the updated filter MLP
        model_grads(model, ids, fast=True, checkpointing=False)
        opt.step()
    assert model.backbone.layers[0].mixer not in fast_path._filter_caches
    _, fast = model_grads(model, ids, fast=True, checkpointing=False)
    _, plain = model_grads(model, ids, fast=False, checkpointing=False)
    assert_grads_close(fast, plain)


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="no CPU bf16 autocast")
def test_bf16_autocast_gradients_as_accurate_as_plain_bf16():
    torch.manual_seed(0)
    model = HyenaDNA(HyenaConfig(d_model=32, n_layer=2, max_seq_len=600, embed_dropout=0.0)).train()
    ids = torch.randint(7, 11, (2, 513))
    _, ref = model_grads(model, ids, fast=False, checkpointing=False)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        _, plain = model_grads(model, ids, fast=False, checkpointing=False)
        _, fast = model_grads(model, ids, fast=True, checkpointing=False)

    def rel(g: dict, n: str) -> float:
        return ((g[n] - ref[n]).norm() / ref[n].norm()).item()

    for name in ref:  # bf16 gradients are ~10% off fp32 on either path; the fast path's no further
        assert rel(fast, name) < 1.1 * rel(plain, name) + 0.01, name


# --------------------------------------------------------------------------- the core and the kernels


def core_inputs(B: int, L: int, d: int, dtype: torch.dtype = torch.float32, device: str = "cpu", seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(B, L, 3 * d, generator=g)
    w = torch.randn(3 * d, 1, 3, generator=g)
    b = torch.randn(3 * d, generator=g)
    k = torch.randn(L + 3, d, generator=g) / L ** 0.5  # longer than L, as the filter of a longer l_max
    D = torch.randn(d, generator=g)
    return [t.to(device, dtype).requires_grad_() for t in (u, w, b, k, D)]


def test_core_gradcheck_float64():
    inputs = core_inputs(2, 7, 2, torch.float64)
    assert torch.autograd.gradcheck(lambda *a: HA.hyena_core(*a, backend="torch"), inputs)


def assert_core_matches_reference(inputs, g, backend: str) -> None:
    """``hyena_core`` on ``backend``: output and input gradients (for upstream gradient ``g``) equal the reference's."""
    ref = HA.hyena_core_reference(*inputs)
    ref_grads = torch.autograd.grad(ref, inputs, g)
    out = HA.hyena_core(*inputs, backend=backend)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    for got, want in zip(torch.autograd.grad(out, inputs, g), ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * want.abs().max().item())


@pytest.mark.parametrize("B,L,d", [(2, 37, 5), (1, 130, 8)])
def test_core_matches_reference_with_many_tiles(B, L, d, monkeypatch):
    monkeypatch.setitem(HA.TILE_ELEMENTS, "cpu", 3 * B * 2 * L)  # tiles of 3 channels, the last one shorter
    inputs = core_inputs(B, L, d)
    g = torch.randn(B, L, d)
    assert_core_matches_reference(inputs, g, "torch")


@needs_triton
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("B,L,d", [(2, 37, 5), (1, 70, 24), (1, 2, 3)])
def test_short_conv_backward_triton_matches_torch(B, L, d, bias):
    g = torch.Generator().manual_seed(L)
    u = torch.randn(B, L, 3 * d, generator=g).to(DEV)
    w = torch.randn(3 * d, 1, 3, generator=g).to(DEV)
    b = torch.randn(3 * d, generator=g).to(DEV) if bias else None
    g_x0 = torch.randn(B, L, d, generator=g).to(DEV)
    g_z = torch.randn(B, L, d, generator=g).to(DEV)
    got = SCB.short_conv_gate_backward_triton(u, w, b, g_x0, g_z, block_l=16, block_d=4)
    want = SCB.short_conv_gate_backward_torch(u, w, b, g_x0, g_z)
    for x, y in zip(got, want):
        if y is None:
            assert x is None
        else:
            torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-5 * max(1.0, y.abs().max().item()))


def test_short_conv_backward_torch_is_autograd_of_reference():
    u, w, b = (t.double().requires_grad_() for t in core_inputs(2, 19, 4)[:3])
    x0, z = import_module("hyenadna_kipoi.kernels.short_conv").short_conv_gate_reference(u, w, b)
    g_x0, g_z = torch.randn_like(x0), torch.randn_like(z)
    want = torch.autograd.grad((x0 * g_x0).sum() + (z * g_z).sum(), (u, w, b))
    got = SCB.short_conv_gate_backward_torch(u.detach(), w.detach(), b.detach(), g_x0, g_z)
    for x, y in zip(got, want):
        torch.testing.assert_close(x, y)


@needs_triton
def test_core_with_triton_kernels_matches_reference():
    inputs = core_inputs(2, 45, 6, device=DEV)
    g = torch.randn(2, 45, 6, device=DEV)
    assert_core_matches_reference(inputs, g, "triton")


# --------------------------------------------------------------------------- pretraining on either path


def _losses(config: dict, fast: bool, **kwargs) -> list[float]:
    from hyenadna_kipoi.train import pretrain
    from hyenadna_kipoi.train.metrics import read_csv

    config = {**config, "out_dir": f"{config['out_dir']}-{'fast' if fast else 'plain'}"}
    pretrain(config, fast_path=fast, **kwargs)
    return [row["loss"] for row in read_csv(Path(config["out_dir"]) / "train.csv")]


def demo_config(tmp_path: Path, prepared: Path) -> dict:
    """config/pretrain-demo.yaml as shipped (model, data, schedule, stages, fp32), written under tmp_path:
    only where files go, the progress bar and the size of the Markov fit (not part of training) differ."""
    raw = _raw(DEMO)
    raw["out_dir"] = str(tmp_path / "run")
    raw["genome"]["fasta"] = str(REPO / raw["genome"]["fasta"])
    raw["genome"]["prepared"] = str(prepared)
    raw["intervals"]["regions"]["path"] = str(REPO / raw["intervals"]["regions"]["path"])
    raw["intervals"]["out"] = str(tmp_path / "intervals")
    raw["eval"]["markov_max_order"] = 2
    raw["eval"]["markov_max_train_bases"] = 100_000
    raw["log"] = {"progress": False, "every": 1}
    return raw


def test_tiny_pretraining_loss_curve_matches_plain_path(tmp_path, prepared_genome):
    config = tiny_config(tmp_path, prepared_genome, max_steps=12)
    config["log"]["every"] = 1
    plain, fast = _losses(config, False), _losses(config, True)
    assert len(plain) == len(fast) == 12
    assert max(abs(a - b) for a, b in zip(plain, fast)) <= 1e-3


@pytest.mark.heavy  # ~5 min idle, 15 min on a busy 2-core VM; result recorded in benchmarks/results/train_cpu.md
def test_demo_config_pretraining_loss_curve_matches_plain_path_for_50_steps(tmp_path, prepared_genome):
    """The issue's check: config/pretrain-demo.yaml on CPU in fp32, the first 50 steps' losses within 1e-3."""
    config = demo_config(tmp_path, prepared_genome)
    plain, fast = _losses(config, False, stop_after=50), _losses(config, True, stop_after=50)
    assert len(plain) == len(fast) == 50
    worst = max(abs(a - b) for a, b in zip(plain, fast))
    print(f"demo config, 50 steps: max |loss fast - loss plain| = {worst:.2e}")
    assert worst <= 1e-3

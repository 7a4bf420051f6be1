"""Fine-tuning starts from any checkpoint layout or a preset, and soft prompts reach tens of thousands of positions."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from hyenadna_kipoi import PRESETS, HyenaConfig, HyenaDNA, save_model
from hyenadna_kipoi.errors import InputError
from hyenadna_kipoi.finetune.prompting import SoftPrompt
from hyenadna_kipoi.finetune.trainer import finetune
from hyenadna_kipoi.tokenizer import encode_batch
from hyenadna_kipoi.train.init import init_weights
from test_finetune_train import binary_task, config, read_tsv


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_every_checkpoint_layout_and_a_preset_give_the_same_run(tmp_path):
    torch.manual_seed(0)
    model = init_weights(HyenaDNA(PRESETS["tiny-1k"].config()))  # the released shape, random weights
    inits = {layout: str(save_model(model, tmp_path / layout, layout)) for layout in ("original", "hf", "own")}
    save_model(model, Path(os.environ["HYENADNA_CACHE"]) / "tiny-1k" / "hf", "hf")  # as `hyenadna fetch` leaves it
    inits["preset"] = "tiny-1k"
    task = binary_task(tmp_path, n=24)
    runs = {}
    for name, init in inits.items():
        cfg = config(tmp_path, task, model={"init": init, "architecture": {}},
                     train={"max_steps": 3, "batch_size": 8, "micro_batch_size": 8})
        cfg["out_dir"] = str(tmp_path / f"out-{name}")
        metrics = finetune(cfg, progress=False)
        probs = [float(r["p_gc"]) for r in read_tsv(tmp_path / f"out-{name}" / "predictions.tsv")]
        runs[name] = (metrics["model"]["test"], probs)
    reference = runs.pop("original")
    for name, (test_metrics, probs) in runs.items():
        assert test_metrics == reference[0], name
        np.testing.assert_allclose(probs, reference[1], rtol=0, atol=1e-6, err_msg=name)


def test_a_soft_prompt_of_ten_thousand_positions_trains_within_l_max():
    torch.manual_seed(0)
    model = init_weights(HyenaDNA(HyenaConfig(d_model=16, n_layer=1, max_seq_len=10_064, filter_order=16)))
    model.requires_grad_(False)
    prompt = SoftPrompt.for_model(model, 10_000, init="vocab", seed=0)
    ids = torch.from_numpy(encode_batch(["ACGT" * 16, "TTGA" * 16])).long()
    hidden = prompt.hidden(model, ids)
    assert hidden.shape == (2, 64, 16)
    hidden.pow(2).mean().backward()
    assert prompt.prompt.grad is not None and prompt.prompt.grad.abs().sum() > 0
    with pytest.raises(InputError, match="l_max"):
        prompt.hidden(model, torch.from_numpy(encode_batch(["ACGT" * 17])).long())

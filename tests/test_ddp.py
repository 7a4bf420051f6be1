"""Distributed pretraining: torchrun with 2 CPU processes on the gloo backend.

Two ranks with a micro batch of 2 see exactly what one process sees with 2 steps of
gradient accumulation, so their loss curves must agree.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hyenadna_kipoi.train import pretrain
from hyenadna_kipoi.train.checkpointing import load_trainer_state
from hyenadna_kipoi.train.metrics import read_csv
from test_pretrain import tiny_config


@pytest.mark.slow
def test_two_gloo_ranks_match_one_process_with_accumulation(tmp_path):
    prepared = tmp_path / "ce.fa"
    single = tiny_config(tmp_path / "one", prepared, max_steps=8, global_batch_size=4, micro_batch_size=2)
    single["model"]["embed_dropout"] = 0.0  # dropout draws differ per rank by design
    single["checkpoint"]["every"] = 4
    single["eval"]["every"] = 4
    pretrain(single)

    ddp = dict(single, out_dir=str(tmp_path / "two" / "run"))
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(ddp))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "hyenadna_kipoi.train", "pretrain", str(path), "--quiet"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "2 rank(s) on cpu" in proc.stdout

    one, two = (read_csv(Path(c["out_dir"]) / name) for c in (single, ddp) for name in ("train.csv",))
    assert [r["step"] for r in two] == list(range(1, 9))
    assert max(abs(a["loss"] - b["loss"]) for a, b in zip(one, two)) <= 1e-5
    ev1, ev2 = (read_csv(Path(c["out_dir"]) / "eval.csv") for c in (single, ddp))
    assert max(abs(a["val_loss"] - b["val_loss"]) for a, b in zip(ev1, ev2)) <= 1e-5
    state = load_trainer_state(Path(ddp["out_dir"]) / "checkpoints" / "step-0000008")
    assert state["world_size"] == 2 and len(state["rng"]) == 2
    assert (Path(ddp["out_dir"]) / "model" / "model.safetensors").exists()

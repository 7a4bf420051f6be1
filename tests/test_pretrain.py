"""Pretraining: config schema, schedules, optimizer groups, Markov baselines, a tiny run, resume, CLI."""

from __future__ import annotations

import copy
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from conftest import REPO
from hyenadna_kipoi import load_model
from hyenadna_kipoi.errors import ConfigError, DownloadError, InputError
from hyenadna_kipoi.model import HyenaConfig, HyenaDNA
from hyenadna_kipoi.train import load_config, pretrain, validate_config
from hyenadna_kipoi.train.checkpointing import checkpoint_dirs, load_trainer_state
from hyenadna_kipoi.cli import main as train_main
from hyenadna_kipoi.train.init import init_weights
from hyenadna_kipoi.train.markov import MarkovBaselines, to_codes
from hyenadna_kipoi.train.metrics import read_csv
from hyenadna_kipoi.train.optim import parameter_groups
from hyenadna_kipoi.train.pretrain import next_token_loss
from hyenadna_kipoi.train.schedules import build_stages, lr_multiplier, stage_at

DEMO = REPO / "config" / "pretrain-demo.yaml"
HG38 = REPO / "config" / "pretrain-hg38.yaml"


def _raw(path: Path) -> dict:
    from hyenadna_kipoi.config_schema import _Loader

    with open(path) as handle:
        return yaml.load(handle, Loader=_Loader)


def tiny_config(tmp_path: Path, prepared: Path, **train) -> dict:
    """The demo config shrunk to seconds: a 1-layer d=32 model, 256 tokens, few steps."""
    raw = _raw(DEMO)
    raw["out_dir"] = str(tmp_path / "run")
    raw["genome"]["fasta"] = str(REPO / raw["genome"]["fasta"])
    raw["genome"]["prepared"] = str(prepared)
    raw["intervals"]["regions"]["path"] = str(REPO / raw["intervals"]["regions"]["path"])
    raw["intervals"]["max_windows"] = {"valid": 12}
    raw["model"] = {"d_model": 32, "n_layer": 1, "filter_order": 16, "embed_dropout": 0.1}
    raw["data"]["num_workers"] = 0
    raw["train"] = {"max_steps": 24, "seq_len": 256, "global_batch_size": 8,
                    "seq_len_warmup": {"enabled": True, "start_len": 128, "stage_steps": 6}, **train}
    raw["optimizer"] = {"lr": 3.0e-3}
    raw["eval"] = {"every": 12, "markov_max_order": 3, "markov_max_train_bases": 200_000}
    raw["checkpoint"] = {"every": 6, "keep_last": 5}
    raw["log"] = {"progress": False}
    return raw


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """The bundled C. elegans genome, decompressed and indexed once for this module."""
    return tmp_path_factory.mktemp("genome") / "ce.fa"


# --------------------------------------------------------------------------- config


def test_shipped_configs_validate_with_defaults():
    demo, hg38 = load_config(DEMO), load_config(HG38)
    assert demo["optimizer"]["betas"] == [0.9, 0.999] and demo["scheduler"]["min_lr_ratio"] == 0.1
    assert demo["intervals"]["out"] == "results/pretrain-demo/intervals" and demo["model"]["max_seq_len"] == 1024
    assert hg38["optimizer"]["lr"] == pytest.approx(6e-4) and hg38["train"]["clip_grad_norm"] == 1.0
    stages = build_stages(hg38["train"], world_size=8)
    assert [s.seq_len for s in stages] == [1024, 2048, 4096, 8192, 16384, 32768]
    assert {s.tokens_per_step for s in stages} == {262_144} and stages[0].global_batch == 256


def test_unknown_and_bad_keys_are_schema_errors_naming_them(tmp_path):
    raw = _raw(DEMO)
    bad = copy.deepcopy(raw)
    bad["train"]["max_step"] = 10
    with pytest.raises(ConfigError, match=r"cfg\.yaml: unknown config key train\.max_step; allowed keys under train: "
                                          r".*max_steps"):
        validate_config(bad, "cfg.yaml")
    bad = copy.deepcopy(raw)
    bad["optimiser"] = {}
    with pytest.raises(ConfigError, match="unknown config key optimiser; allowed keys: .*optimizer"):
        validate_config(bad)
    bad = copy.deepcopy(raw)
    bad["train"]["precision"] = "fp8"
    with pytest.raises(ConfigError, match=r"config key train\.precision: 'fp8' is not one of"):
        validate_config(bad)
    bad = copy.deepcopy(raw)
    bad["intervals"]["chroms"] = {"train": ["I"], "valid": ["II"]}
    with pytest.raises(ConfigError, match="exactly one of intervals.chroms"):
        validate_config(bad)
    path = tmp_path / "c.yaml"
    path.write_text("out_dir: x\ngenome: {fasta: g.fa}\nintervals: {chroms: {train: [a], valid: [b]}}\n"
                    "train: {max_steps: 3, seq_len: 8, global_batch_size: 2}\noptimizer: {lr: 6e-4}\n")
    assert load_config(path)["optimizer"]["lr"] == pytest.approx(6e-4)  # YAML 1.1 would read a string
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")


# --------------------------------------------------------------------------- schedules, optimizer, init


def test_lr_warms_up_linearly_then_decays_by_cosine_to_a_tenth():
    lr = [lr_multiplier(s, total_steps=1000, warmup_steps=10, min_ratio=0.1) for s in range(1001)]
    assert lr[0] == pytest.approx(0.1) and lr[9] == pytest.approx(1.0) and lr[10] == pytest.approx(1.0)
    assert lr[505] == pytest.approx(0.55, abs=1e-3) and lr[1000] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(lr[10:], lr[11:]))


def test_seq_len_warmup_keeps_tokens_per_step_and_checks_divisibility():
    train = {"max_steps": 100, "seq_len": 1024, "global_batch_size": 4, "micro_batch_size": 2,
             "seq_len_warmup": {"enabled": True, "start_len": 128, "stage_steps": 10, "stages": None}}
    stages = build_stages(train, world_size=2)
    assert [(s.seq_len, s.global_batch, s.micro_batch, s.accumulation, s.start, s.end) for s in stages] == [
        (128, 32, 16, 1, 0, 10), (256, 16, 8, 1, 10, 20), (512, 8, 4, 1, 20, 30), (1024, 4, 2, 1, 30, 100)]
    assert stage_at(stages, 25).seq_len == 512 and stage_at(stages, 99).seq_len == 1024
    explicit = dict(train, seq_len_warmup={"enabled": True, "stages": [{"seq_len": 256, "steps": 5},
                                                                        {"seq_len": 1024, "steps": None}]})
    assert [(s.seq_len, s.end) for s in build_stages(explicit)] == [(256, 5), (1024, 100)]
    with pytest.raises(ConfigError, match="multiple of 3"):
        build_stages(dict(train, global_batch_size=4), world_size=3)
    with pytest.raises(ConfigError, match="ends inside the warmup"):
        build_stages(dict(train, max_steps=25))
    with pytest.raises(ConfigError, match="does not divide"):
        build_stages(dict(train, seq_len_warmup={"enabled": True, "stages": [{"seq_len": 300, "steps": 5},
                                                                              {"seq_len": 1024}]}))


def test_no_weight_decay_on_filter_mlp_biases_norms_and_embedding():
    model = HyenaDNA(HyenaConfig(d_model=16, n_layer=2, max_seq_len=64))
    decay, no_decay = parameter_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(n.endswith(("in_proj.weight", "out_proj.weight", "short_filter.weight", "fc1.weight", "fc2.weight"))
               for n in decay["names"])
    assert not any("implicit_filter" in n for n in decay["names"])
    assert any(n.endswith("implicit_filter.0.weight") for n in no_decay["names"])
    assert {"backbone.embeddings.word_embeddings.weight", "backbone.ln_f.weight"} <= set(no_decay["names"])
    n_params = len({id(p) for p in model.parameters()})
    assert len(decay["params"]) + len(no_decay["params"]) == n_params


def test_released_init_starts_near_a_uniform_guess_and_checkpointing_changes_nothing():
    torch.manual_seed(0)
    model = init_weights(HyenaDNA(HyenaConfig(d_model=32, n_layer=2, max_seq_len=128, embed_dropout=0.0)))
    ids = torch.randint(7, 11, (2, 128))
    targets = torch.cat([ids[:, 1:], torch.full((2, 1), 4)], dim=1)
    model.train()
    loss = next_token_loss(model(ids), targets)
    assert abs(loss.item() - math.log(16)) < 0.05
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.set_gradient_checkpointing(True)
    assert torch.allclose(next_token_loss(model(ids), targets), loss)
    next_token_loss(model(ids), targets).backward()
    assert all(torch.allclose(a, p.grad, atol=1e-6) for a, p in zip(grads, model.parameters()))


def test_markov_baselines_match_counting_by_hand():
    rng = np.random.default_rng(0)
    train = ["".join(rng.choice(list("ACGTN"), p=[0.3, 0.2, 0.2, 0.25, 0.05], size=n)) for n in (60, 90, 3)]
    val = ["".join(rng.choice(list("ACGTN"), p=[0.3, 0.2, 0.2, 0.25, 0.05], size=n)) for n in (45, 7)]
    markov = MarkovBaselines(2).fit(to_codes(s) for s in train)

    def run(s, t):
        r = 0
        while t - r - 1 >= 0 and s[t - r - 1] in "ACGT":
            r += 1
        return r

    counts = [Counter() for _ in range(3)]
    for s in train:
        for t, base in enumerate(s):
            if base in "ACGT":
                for k in range(min(run(s, t), 2) + 1):
                    counts[k][s[t - k: t], base] += 1
    got = markov.bits_per_base(to_codes(s) for s in val)
    for k in range(3):
        bits, n = 0.0, 0
        for s in val:
            for t in range(1, len(s)):  # a window's first base is not scored, as for the model
                if s[t] in "ACGT":
                    j = min(k, run(s, t))
                    ctx = s[t - j: t]
                    total = sum(counts[j][ctx, b] for b in "ACGT")
                    bits -= math.log2((counts[j][ctx, s[t]] + 1) / (total + 4))
                    n += 1
        assert got[k] == pytest.approx(bits / n, abs=1e-12)


# --------------------------------------------------------------------------- runs


def test_tiny_demo_run_learns_and_writes_everything(tmp_path, prepared, capsys):
    config = tiny_config(tmp_path, prepared)
    result = pretrain(config)
    out = Path(config["out_dir"])
    for name in ("train.csv", "eval.csv", "metrics.jsonl", "markov.tsv", "loss.png", "report.md", "summary.json",
                 "config.resolved.yaml", "intervals/train.bed", "intervals/summary.tsv", "model/model.safetensors"):
        assert (out / name).exists(), name
    rows = read_csv(out / "train.csv")
    assert [r["step"] for r in rows] == list(range(1, 25))
    assert [r["seq_len"] for r in rows[:6]] == [128] * 6 and rows[-1]["seq_len"] == 256
    assert np.mean([r["loss"] for r in rows[-4:]]) < np.mean([r["loss"] for r in rows[:4]]) - 0.2
    assert {r["tokens"] for r in rows} == {2048 * (i + 1) for i in range(24)}  # constant tokens per step
    assert result.val_bits_per_base < 2.2 and set(result.markov) == {0, 1, 2, 3}
    report = (out / "report.md").read_text()
    assert "order-3 Markov" in report and "**Standing:**" in report
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the final model is in the project's layout and is the model that was evaluated
    model = load_model(out / "model")
    ckpt = load_model(checkpoint_dirs(out / "checkpoints")[-1][1])
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), ckpt.state_dict().values()))
    assert len(checkpoint_dirs(out / "checkpoints")) == 4  # steps 6..24, keep_last 5
    state = load_trainer_state(out / "checkpoints" / "step-0000024")
    assert state["step"] == 24 and len(state["rng"]) == 1 and "optimizer" in state
    printed = capsys.readouterr().out
    assert "Markov baselines on valid" in printed and "[pretrain] done: 24 steps" in printed


def test_resume_reproduces_the_uninterrupted_run(tmp_path, prepared):
    whole = tiny_config(tmp_path / "a", prepared, max_steps=16)
    pretrain(whole)
    broken = tiny_config(tmp_path / "b", prepared, max_steps=16)
    stopped = pretrain(broken, stop_after=9)  # killed after step 9; the last checkpoint is step 6
    assert stopped.stopped_early and not (Path(broken["out_dir"]) / "model").exists()
    resumed = pretrain(broken, resume=True)
    a, b = (read_csv(Path(c["out_dir"]) / "train.csv") for c in (whole, broken))
    assert [r["step"] for r in b] == list(range(1, 17))
    assert max(abs(x["loss"] - y["loss"]) for x, y in zip(a, b)) <= 1e-5
    assert read_csv(Path(whole["out_dir"]) / "eval.csv")[-1]["val_loss"] == pytest.approx(resumed.val_loss, abs=1e-6)


def test_a_run_folder_with_checkpoints_is_not_overwritten_without_resume(tmp_path, prepared):
    config = tiny_config(tmp_path, prepared, max_steps=6, seq_len_warmup={"enabled": False})
    pretrain(config)
    ckpt = checkpoint_dirs(Path(config["out_dir"]) / "checkpoints")[-1][1] / "model.safetensors"
    before = ckpt.read_bytes()
    with pytest.raises(InputError, match=r"already holds checkpoints \(newest: step-0000006\); pass --resume"):
        pretrain(config)
    assert ckpt.read_bytes() == before
    assert pretrain(config, resume=True).step == 6  # nothing left to do


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_paths_run(tmp_path, prepared, precision):
    config = tiny_config(tmp_path, prepared, max_steps=2, precision=precision, seq_len_warmup={"enabled": False})
    config["eval"]["every"] = 2
    result = pretrain(config)
    assert math.isfinite(result.val_loss)
    if precision == "fp16":
        assert load_trainer_state(Path(config["out_dir"]) / "checkpoints" / "step-0000002")["scaler"] is not None


def test_checksum_mismatch_in_a_config_is_a_clear_error(tmp_path, prepared):
    config = tiny_config(tmp_path, tmp_path / "p.fa")
    config["genome"]["sha256"] = "0" * 64
    with pytest.raises(DownloadError, match="sha256 checksum mismatch"):
        pretrain(config)
    assert not (tmp_path / "p.fa").exists()


# --------------------------------------------------------------------------- command line


def _write(config: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def test_data_commands_print_what_they_made(tmp_path, prepared, capsys):
    path = _write(tiny_config(tmp_path, prepared), tmp_path / "c.yaml")
    assert train_main(["download-genome", str(path), "-q"]) == 0
    assert "7 contig(s), 1,039,800 bases, indexed" in capsys.readouterr().out
    assert train_main(["intervals", str(path), "-q"]) == 0
    out = capsys.readouterr().out
    assert "windows of 1,024 bases" in out and "valid" in out and (tmp_path / "run" / "intervals" / "valid.bed").exists()
    assert len((tmp_path / "run" / "intervals" / "valid.bed").read_text().splitlines()) == 12


def test_command_errors_are_one_line_and_exit_2(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("out_dir: x\ngenome: {fasta: g.fa}\nintervals: {chroms: {train: [a], valid: [b]}}\n"
                    "train: {max_steps: 3, seq_len: 8, global_batch_size: 2, warmup: 3}\n")
    assert train_main(["pretrain", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hyenadna pretrain: error: ") and "unknown config key train.warmup" in err


def test_register_adds_the_subcommands_to_a_parser():
    import argparse

    from hyenadna_kipoi.train.commands import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["pretrain", "c.yaml", "--resume"])
    assert args.resume and args.func.__name__ == "cmd_pretrain"
    assert parser.parse_args(["intervals", "c.yaml", "--force"]).force


@pytest.mark.slow
def test_resume_after_sigkill_matches_an_uninterrupted_run(tmp_path, prepared):
    """A real kill -9 in the middle of a run (not a clean stop), then --resume."""
    whole = tiny_config(tmp_path / "a", prepared, max_steps=30)
    whole["checkpoint"]["every"] = 4
    pretrain(whole)
    killed = copy.deepcopy(whole)
    killed["out_dir"] = str(tmp_path / "b" / "run")
    path = _write(killed, tmp_path / "killed.yaml")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "hyenadna_kipoi.train", "pretrain", str(path)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ckpts = Path(killed["out_dir"]) / "checkpoints"
    deadline = time.time() + 120
    while time.time() < deadline and not any(s >= 8 for s, _ in checkpoint_dirs(ckpts)):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {s for s, _ in checkpoint_dirs(ckpts)}
    assert done and max(done) < 30, "the run must be killed before its end"
    assert train_main(["pretrain", str(path), "--resume", "-q"]) == 0
    a, b = (read_csv(Path(c["out_dir"]) / "train.csv") for c in (whole, killed))
    assert [r["step"] for r in b] == list(range(1, 31))
    assert max(abs(x["loss"] - y["loss"]) for x, y in zip(a, b)) <= 1e-5

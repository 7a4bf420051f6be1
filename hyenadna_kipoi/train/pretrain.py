"""Next-nucleotide pretraining of HyenaDNA on a genome: the published recipe, resumable.

``pretrain(config)`` runs a whole config (see ``hyenadna_kipoi/schemas/pretrain.schema.yaml``):
prepares the genome and the split windows, fits k-mer Markov baselines, trains with
AdamW + warmup/cosine, gradient clipping, mixed precision on GPUs, gradient
accumulation, sequence-length warmup stages and (under torchrun) DDP, evaluates on the
validation split, checkpoints, and writes the final model, logs, a plot and a report.
With ``resume=True`` it continues from the newest checkpoint and reproduces the
uninterrupted run exactly (same seed, same world size).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..checkpoints import load_model
from ..data.dataset import Position, WindowDataset, collate, eval_batches, micro_batches
from ..data.genome import Genome
from ..errors import HyenaDNAError, InputError
from ..io import atomic_open
from ..model import HyenaConfig, HyenaDNA, count_parameters
from ..tokenizer import PAD
from . import distributed as D
from .checkpointing import latest_checkpoint, load_trainer_state, rng_state, save_checkpoint, save_model_dir, set_rng_state
from .config import dump_config, load_config, validate_config
from .init import init_weights
from .markov import MarkovBaselines, reverse_complement_codes, to_codes
from .metrics import LN2, MetricsLog, plot_curves, read_csv, read_markov, standing, write_markov, write_report
from .optim import build_optimizer, optimizer_step
from .prepare import prepare_genome_from_config, prepare_intervals, read_split
from .schedules import Stage, build_stages, lr_multiplier, stage_at

MODEL_KEYS = ("d_model", "n_layer", "d_inner", "max_seq_len", "filter_order", "emb_dim", "short_filter_order",
              "num_inner_mlps", "hyena_order", "activation_freq", "embed_dropout", "resid_dropout", "modulation_shift")


@dataclass
class PretrainResult:
    """What a run produced. Losses in nats per base; ``markov``: order -> validation bits/base."""

    out_dir: Path
    model_dir: Path | None
    step: int
    tokens: int
    val_loss: float
    val_bits_per_base: float
    markov: dict[int, float] = field(default_factory=dict)
    wall_s: float = 0.0
    stopped_early: bool = False


def build_model(cfg: dict[str, Any]) -> HyenaDNA:
    """A new model from the ``model`` section (released init), or the one in ``model.init_from`` (directory or preset)."""
    if cfg["init_from"]:
        model = load_model(cfg["init_from"])
        model.train()
        return model
    return init_weights(HyenaDNA(HyenaConfig(**{k: cfg[k] for k in MODEL_KEYS})))


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype (None for fp32). ``auto``: bf16 on GPUs that have it, else fp16; fp32 on CPU."""
    if precision == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def next_token_loss(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy in nats: logits ``[B, L, V]``, targets ``[B, L]`` with PAD ignored."""
    flat = logits.float().reshape(-1, logits.shape[-1])
    loss = F.cross_entropy(flat, targets.reshape(-1), ignore_index=PAD, reduction=reduction)
    if reduction == "mean" and not bool((targets != PAD).any()):
        return flat.sum() * 0.0  # a batch with nothing to predict (all N) contributes no gradient
    return loss


def _sample_windows(windows: list, max_bases: int | None, seed: int) -> list:
    if max_bases is None or sum(len(w) for w in windows) <= max_bases:
        return windows
    order = np.random.default_rng([seed, 77]).permutation(len(windows))
    picked, total = [], 0
    for i in order:
        if total >= max_bases:
            break
        picked.append(int(i))
        total += len(windows[i])
    return [windows[i] for i in sorted(picked)]


def fit_markov(config: dict[str, Any], fasta: Path, train_windows: list, val_windows: list,
               progress: bool) -> tuple[dict[int, float], int, int]:
    """Fit orders 0..K on (a sample of) the training windows, both strands when rc_aug is on.

    Returns order -> validation bits/base, the number of validation bases scored and the
    number of training bases fitted on. Validation examples are the first ``seq_len``
    bases of each validation window, as the model sees them.
    """
    ev, seq_len = config["eval"], config["train"]["seq_len"]
    sample = _sample_windows(train_windows, ev["markov_max_train_bases"], config["seed"])
    markov = MarkovBaselines(ev["markov_max_order"])
    with Genome(fasta) as genome:
        def train_codes():
            for iv in tqdm(sample, desc="markov fit", unit="win", disable=not progress, leave=False):
                codes = to_codes(genome.fetch(iv.chrom, iv.start, iv.end))
                yield codes
                if config["data"]["rc_aug"]:
                    yield reverse_complement_codes(codes)

        markov.fit(train_codes())
        val_codes = [to_codes(genome.fetch(iv.chrom, iv.start, iv.start + seq_len, pad=True)) for iv in val_windows]
    bits, scored = markov.score(val_codes)
    return {k: float(b / scored) for k, b in enumerate(bits)}, scored, sum(len(w) for w in sample)


@torch.no_grad()
def evaluate(model: HyenaDNA, dataset: WindowDataset, ctx: D.DistContext, *, seq_len: int, batch_size: int,
             num_workers: int, amp: torch.dtype | None) -> tuple[float, int]:
    """Validation loss (nats per scored base, averaged over all ranks) and the number of bases scored."""
    was_training = model.training
    model.eval()
    batches = eval_batches(len(dataset), seq_len=seq_len, rank=ctx.rank, world_size=ctx.world_size, batch=batch_size)
    loader = DataLoader(dataset, batch_sampler=batches, collate_fn=collate, num_workers=num_workers,
                        generator=torch.Generator().manual_seed(0))  # leaves the global RNG alone
    nats = torch.zeros((), dtype=torch.float64, device=ctx.device)
    count = torch.zeros((), dtype=torch.float64, device=ctx.device)
    for inputs, targets in loader:
        inputs, targets = inputs.to(ctx.device), targets.to(ctx.device)
        with torch.autocast(ctx.device.type, dtype=amp or torch.float32, enabled=amp is not None):
            logits = model(inputs)
        nats += next_token_loss(logits, targets, reduction="sum").double()
        count += (targets != PAD).sum().double()
    nats, count = D.all_sum(ctx, nats), D.all_sum(ctx, count)
    model.train(was_training)
    return float(nats / count) if count else float("nan"), int(count)


def _train_loader(dataset: WindowDataset, stage: Stage, step: int, position: Position, seed: int,
                  ctx: D.DistContext, num_workers: int) -> DataLoader:
    keys = micro_batches(len(dataset), seed, position, global_batch=stage.global_batch, seq_len=stage.seq_len,
                         rank=ctx.rank, world_size=ctx.world_size, micro_batch=stage.micro_batch,
                         steps=stage.end - step)
    # an own generator: creating the loader must not draw from the global RNG (dropout's), or a resumed
    # run would drift from an uninterrupted one
    return DataLoader(dataset, batch_sampler=_Lazy(keys), collate_fn=collate,
                      num_workers=num_workers, generator=torch.Generator().manual_seed(seed),
                      pin_memory=ctx.device.type == "cuda", persistent_workers=False)


class _Lazy:
    """An iterable over a generator (DataLoader wants an iterable batch_sampler)."""

    def __init__(self, it):
        self.it = it

    def __iter__(self):
        return self.it


def _describe_stages(stages: list[Stage]) -> str:
    return "; ".join(f"{s.seq_len} tokens x {s.global_batch} for steps {s.start}-{s.end - 1}" for s in stages)


def _state(step: int, tokens: int, position: Position, optimizer, scheduler, scaler, ctx: D.DistContext,
           elapsed: float) -> dict[str, Any]:
    rngs = D.gather_objects(ctx, rng_state())
    return {"step": step, "tokens": tokens, "epoch": position.epoch, "cursor": position.cursor,
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else None, "rng": rngs,
            "world_size": ctx.world_size, "elapsed_s": elapsed}


def _prepare(config: dict[str, Any], ctx: D.DistContext, resume: bool, progress: bool) -> Path:
    """Rank 0 checks the run folder and prepares genome and windows; the others wait for it."""
    out = Path(config["out_dir"])
    error, failure, fasta = None, None, None
    if ctx.is_main:
        try:
            existing = latest_checkpoint(out / "checkpoints")
            if existing is not None and not resume:
                raise InputError(f"{out} already holds checkpoints (newest: {existing.name}); pass --resume to "
                                 "continue that run, or choose another out_dir (nothing was changed)")
            out.mkdir(parents=True, exist_ok=True)
            fasta = prepare_genome_from_config(config, progress=progress)
            table = prepare_intervals(config, fasta, progress=progress)
            print(f"[pretrain] windows of {config['intervals']['window']:,} bases -> {config['intervals']['out']}\n"
                  f"{table}", flush=True)
            with atomic_open(out / "config.resolved.yaml") as handle:
                handle.write(dump_config(config))
        except Exception as err:  # every rank must learn of it, or the others wait forever
            error, failure = f"{type(err).__name__}: {err}", err
    error = D.broadcast_error(ctx, error)
    if error:
        if failure is not None:
            raise failure
        raise SystemExit(2)  # rank 0 reports it
    fasta = D.gather_objects(ctx, str(fasta) if fasta else None)[0]
    return Path(fasta)


def pretrain(config: dict[str, Any] | str | os.PathLike, *, resume: bool = False, stop_after: int | None = None,
             progress: bool | None = None) -> PretrainResult:
    """Run (or, with ``resume``, continue) the pretraining described by ``config`` (a dict or YAML path).

    ``stop_after``: stop after that many optimizer steps as if killed (no final checkpoint,
    model or report), for tests of resuming. Under torchrun every rank calls this.
    """
    config = load_config(config) if not isinstance(config, dict) else validate_config(config)
    train_cfg, out = config["train"], Path(config["out_dir"])
    ctx = D.setup(train_cfg["device"])
    show = (config["log"]["progress"] if progress is None else progress) and ctx.is_main
    t_start = time.perf_counter()
    try:
        return _run(config, ctx, out, resume=resume, stop_after=stop_after, show=show, t_start=t_start)
    finally:
        D.teardown(ctx)


def _run(config: dict[str, Any], ctx: D.DistContext, out: Path, *, resume: bool, stop_after: int | None,
         show: bool, t_start: float) -> PretrainResult:
    train_cfg, seed = config["train"], config["seed"]
    fasta = _prepare(config, ctx, resume, show)
    train_windows, val_windows = read_split(config, "train"), read_split(config, "valid")
    stages = build_stages(train_cfg, ctx.world_size)
    final = stages[-1]
    n_max = max(s.global_batch for s in stages)
    if n_max > len(train_windows):
        raise InputError(f"the training split has {len(train_windows)} windows, fewer than one global batch "
                         f"({n_max} sequences at the shortest warmup length); use more data, a smaller "
                         "train.global_batch_size or a later seq_len_warmup.start_len")

    torch.manual_seed(seed)
    model = build_model(config["model"])
    if model.l_max < train_cfg["seq_len"]:
        raise InputError(f"model l_max {model.l_max} is shorter than train.seq_len {train_cfg['seq_len']}")
    model.to(ctx.device)
    model.train()
    model.set_gradient_checkpointing(train_cfg["gradient_checkpointing"])
    optimizer = build_optimizer(model, config["optimizer"])
    total = train_cfg["max_steps"]
    warmup = int(round(config["scheduler"]["warmup_fraction"] * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_multiplier(s, total_steps=total, warmup_steps=warmup,
                                           min_ratio=config["scheduler"]["min_lr_ratio"]))
    amp = resolve_precision(train_cfg["precision"], ctx.device)
    scaler = torch.amp.GradScaler(ctx.device.type) if amp == torch.float16 else None

    step, tokens, position, elapsed_before = 0, 0, Position(), 0.0
    resumed_from = latest_checkpoint(out / "checkpoints") if resume else None
    if resumed_from is not None:
        state = load_trainer_state(resumed_from)
        weights = load_model(resumed_from)
        model.load_state_dict(weights.state_dict())
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state["scaler"]:
            scaler.load_state_dict(state["scaler"])
        step, tokens, elapsed_before = state["step"], state["tokens"], state["elapsed_s"]
        position = Position(state["epoch"], state["cursor"])
        if state["world_size"] == ctx.world_size:
            set_rng_state(state["rng"][ctx.rank])
        elif ctx.is_main:
            print(f"[pretrain] note: checkpoint written by {state['world_size']} rank(s), resumed on "
                  f"{ctx.world_size}: dropout randomness will differ from the original run", flush=True)
        if ctx.is_main:
            print(f"[pretrain] resumed from {resumed_from} (step {step}, {tokens:,} tokens)", flush=True)
    else:
        torch.manual_seed(seed + ctx.rank)  # dropout differs per rank, reproducibly

    train_set = WindowDataset(fasta, train_windows, seed=seed, augment=True, shift=config["data"]["shift"],
                              rc=config["data"]["rc_aug"])
    val_set = WindowDataset(fasta, val_windows, seed=seed, augment=False)
    markov: dict[int, float] = {}
    markov_path = out / "markov.tsv"
    if ctx.is_main:
        log = MetricsLog(out, resume_step=step if resumed_from is not None else None)
        if resumed_from is not None and markov_path.exists():
            markov = read_markov(markov_path)
        else:
            t0 = time.perf_counter()
            markov, scored, fitted = fit_markov(config, fasta, train_windows, val_windows, show)
            with atomic_open(out / "markov.json") as handle:  # before markov.tsv, whose presence means "done"
                json.dump({"train_bases": fitted, "val_bases": scored}, handle)
            write_markov(markov_path, markov, scored)
            print("[pretrain] Markov baselines on valid (bits/base): "
                  + ", ".join(f"order {k} {b:.4f}" for k, b in markov.items())
                  + f" ({time.perf_counter() - t0:.1f} s)", flush=True)
        print(f"[pretrain] model d_model={model.config.d_model} n_layer={model.config.n_layer} "
              f"l_max={model.l_max}: {count_parameters(model):,} parameters; {ctx.world_size} rank(s) on "
              f"{ctx.device}, precision {amp or 'fp32'}; {len(train_windows):,} train / {len(val_windows):,} valid "
              f"windows\n[pretrain] stages: {_describe_stages(stages)}", flush=True)
    D.barrier(ctx)

    net = DistributedDataParallel(model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None) \
        if ctx.distributed else model
    eval_cfg, ck_cfg, log_cfg = config["eval"], config["checkpoint"], config["log"]
    workers = config["data"]["num_workers"]
    eval_batch = eval_cfg["batch_size"] or final.micro_batch

    def run_eval() -> tuple[float, int]:
        return evaluate(model, val_set, ctx, seq_len=train_cfg["seq_len"], batch_size=eval_batch,
                        num_workers=workers, amp=amp)

    def checkpoint(at: int) -> None:
        state = _state(at, tokens, position, optimizer, scheduler, scaler, ctx,
                       elapsed_before + time.perf_counter() - t_start)
        if ctx.is_main:
            save_checkpoint(out / "checkpoints", at, model, state, ck_cfg["keep_last"])
        D.barrier(ctx)

    val_loss, last_eval_step, last_ckpt_step = float("nan"), -1, step if resumed_from is not None else -1
    bar = tqdm(total=total, initial=step, desc="pretrain", unit="step", disable=not show, dynamic_ncols=True)
    stage, it = None, None
    smooth_tps = None
    stopped = False
    params = [p for p in model.parameters() if p.requires_grad]
    try:
        while step < total:
            if stop_after is not None and step >= stop_after:
                stopped = True
                break
            current = stage_at(stages, step)
            if current is not stage:
                stage = current
                it = iter(_train_loader(train_set, stage, step, position, seed, ctx, workers))
            t0 = time.perf_counter()
            loss_sum = torch.zeros((), device=ctx.device)
            for micro in range(stage.accumulation):
                inputs, targets = next(it)
                inputs = inputs.to(ctx.device, non_blocking=True)
                targets = targets.to(ctx.device, non_blocking=True)
                last = micro == stage.accumulation - 1
                sync = net.no_sync() if (ctx.distributed and not last) else contextlib.nullcontext()
                with sync:
                    with torch.autocast(ctx.device.type, dtype=amp or torch.float32, enabled=amp is not None):
                        logits = net(inputs)
                    loss = next_token_loss(logits, targets)
                    scaled = loss / stage.accumulation
                    (scaler.scale(scaled) if scaler is not None else scaled).backward()
                loss_sum += loss.detach()
            grad_norm, lr = optimizer_step(optimizer, scheduler, params, train_cfg["clip_grad_norm"], scaler)
            position.advance(len(train_set), stage.global_batch)
            step += 1
            tokens += stage.tokens_per_step
            step_loss = float(D.all_mean(ctx, loss_sum / stage.accumulation))
            if not math.isfinite(step_loss):
                raise HyenaDNAError(f"the training loss became {step_loss} at step {step}; lower optimizer.lr, "
                                    "or use bf16/fp32 instead of fp16")
            dt = time.perf_counter() - t0
            tps = stage.tokens_per_step / dt
            smooth_tps = tps if smooth_tps is None else 0.9 * smooth_tps + 0.1 * tps
            if ctx.is_main:
                if step % log_cfg["every"] == 0 or step == total:
                    log.log("train", {"step": step, "tokens": tokens, "seq_len": stage.seq_len,
                                      "batch": stage.global_batch, "lr": lr, "loss": step_loss,
                                      "bits_per_base": step_loss / LN2, "grad_norm": float(grad_norm),
                                      "tokens_per_s": tps,
                                      "elapsed_s": elapsed_before + time.perf_counter() - t_start})
                bar.set_postfix(loss=f"{step_loss:.4f}", L=stage.seq_len, tok_s=f"{smooth_tps:,.0f}", lr=f"{lr:.2e}")
                bar.update(1)
            if step % eval_cfg["every"] == 0 or step == total:
                val_loss, val_bases = run_eval()
                last_eval_step = step
                if ctx.is_main:
                    bits = val_loss / LN2
                    log.log("eval", {"step": step, "tokens": tokens, "val_loss": val_loss,
                                     "val_perplexity": math.exp(val_loss), "val_bits_per_base": bits,
                                     "val_bases": val_bases})
                    bar.write(f"[pretrain] step {step}: valid {val_loss:.4f} nats/base, {bits:.4f} bits/base, "
                              f"perplexity {math.exp(val_loss):.4f}; {standing(bits, markov)}")
            if step % ck_cfg["every"] == 0 or step == total:
                checkpoint(step)
                last_ckpt_step = step
    finally:
        bar.close()
    wall = elapsed_before + time.perf_counter() - t_start
    if stopped:
        return PretrainResult(out, None, step, tokens, val_loss, val_loss / LN2, markov, wall, stopped_early=True)
    if last_eval_step != step:
        val_loss, _ = run_eval()
    if last_ckpt_step != step:
        checkpoint(step)
    model_dir = out / "model"
    if ctx.is_main:
        save_model_dir(model, model_dir)
        _finish(config, out, fasta, model, stages, markov, step, tokens, val_loss, wall, ctx)
    D.barrier(ctx)
    return PretrainResult(out, model_dir, step, tokens, val_loss, val_loss / LN2, markov, wall)


def _finish(config, out: Path, fasta: Path, model: HyenaDNA, stages: list[Stage], markov: dict[int, float],
            step: int, tokens: int, val_loss: float, wall: float, ctx: D.DistContext) -> None:
    """Plot, report and summary.json of a finished run (rank 0)."""
    plot_curves(out, markov, out / "loss.png")
    losses = [r["loss"] for r in read_csv(out / "train.csv")]
    with open(out / "markov.json") as handle:
        fitted = json.load(handle)["train_bases"]
    with open(Path(config["intervals"]["out"]) / "summary.tsv") as handle:
        windows = "; ".join(f"{r.split()[0]} {int(r.split()[1]):,}" for r in handle.read().splitlines()[1:])
    summary = {
        "out_dir": str(out), "genome": str(fasta), "windows": windows, "d_model": model.config.d_model,
        "n_layer": model.config.n_layer, "l_max": model.l_max, "parameters": count_parameters(model),
        "steps": step, "tokens": tokens, "stages": _describe_stages(stages), "wall_s": wall,
        "device": str(ctx.device), "world_size": ctx.world_size,
        "first_loss": float(np.mean(losses[:10])) if losses else float("nan"),
        "last_loss": float(np.mean(losses[-10:])) if losses else float("nan"),
        "val_loss": val_loss, "val_perplexity": math.exp(val_loss), "val_bits_per_base": val_loss / LN2,
        "markov_bits_per_base": markov, "markov_train_bases": fitted, "standing": standing(val_loss / LN2, markov),
    }
    write_report(out / "report.md", summary=summary, markov=markov)
    with atomic_open(out / "summary.json") as handle:
        json.dump(summary, handle, indent=2)
    print(f"[pretrain] done: {step} steps, {tokens:,} tokens in {wall:.0f} s; valid {val_loss / LN2:.4f} bits/base; "
          f"{summary['standing']}. Model: {out / 'model'}, report: {out / 'report.md'}", flush=True)

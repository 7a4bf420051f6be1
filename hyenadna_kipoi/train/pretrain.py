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
from .optim import Optimization, autocast, resolve_precision  # noqa: F401  (resolve_precision: re-exported)
from .prepare import prepare_genome_from_config, prepare_intervals, read_split
from .schedules import Stage, build_stages, stage_at

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
        with autocast(ctx.device, amp):
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
             progress: bool | None = None, fast_path: bool | None = None) -> PretrainResult:
    """Run (or, with ``resume``, continue) the pretraining described by ``config`` (a dict or YAML path).

    ``stop_after``: stop after that many optimizer steps as if killed (no final checkpoint,
    model or report), for tests of resuming. ``fast_path`` overrides ``train.fast_path`` (None: the
    config's). Under torchrun every rank calls this.

    The steps: build the run (data, model, optimizer), restore the newest checkpoint or start
    afresh, open the logs and fit the Markov baselines (rank 0), train, finish (final
    evaluation and checkpoint, model, plot and report).
    """
    config = load_config(config) if not isinstance(config, dict) else validate_config(config)
    if fast_path is not None:
        config["train"]["fast_path"] = fast_path
    ctx = D.setup(config["train"]["device"])
    show = (config["log"]["progress"] if progress is None else progress) and ctx.is_main
    t_start = time.perf_counter()
    try:
        run = _build_run(config, ctx, resume=resume, show=show, t_start=t_start)
        resumed_from = latest_checkpoint(run.out / "checkpoints") if resume else None
        state = _restore(run, resumed_from) if resumed_from is not None else _start(run)
        log, markov = None, {}
        if ctx.is_main:
            log = MetricsLog(run.out, resume_step=state.step if resumed_from is not None else None)
            markov = _markov_baselines(run, reuse=resumed_from is not None)
            _announce(run)
        D.barrier(ctx)
        stopped = _train(run, state, log, markov, stop_after)
        if stopped:
            return PretrainResult(run.out, None, state.step, state.tokens, state.val_loss, state.val_loss / LN2,
                                  markov, run.wall(state), stopped_early=True)
        return _finish(run, state, markov)
    finally:
        D.teardown(ctx)


# --------------------------------------------------------------------------- setup


@dataclass
class _Run:
    """A pretraining run as built from its config, the same on every rank: the data, the model and how it is
    trained. ``stages``: the sequence-length stages; ``show``: whether this rank shows progress;
    ``t_start``: when this process started the run (``time.perf_counter``)."""

    config: dict[str, Any]
    ctx: D.DistContext
    out: Path
    fasta: Path
    stages: list[Stage]
    model: HyenaDNA
    opt: Optimization
    train_set: WindowDataset
    val_set: WindowDataset
    show: bool
    t_start: float

    @property
    def total(self) -> int:
        """Optimizer steps of the whole run."""
        return self.config["train"]["max_steps"]

    def wall(self, state: _TrainState) -> float:
        """Wall seconds of the whole run so far, the runs before a resume included."""
        return state.elapsed_before + time.perf_counter() - self.t_start


@dataclass
class _TrainState:
    """Where training stands; ``step``, ``tokens``, ``position`` (the data order's epoch and cursor) and
    ``elapsed_before`` (wall seconds of the runs before a resume) are saved in every checkpoint.
    ``val_loss``/``evaluated``: the latest validation loss and its step; ``checkpointed``: the step of
    the newest checkpoint (-1: none)."""

    step: int = 0
    tokens: int = 0
    position: Position = field(default_factory=Position)
    elapsed_before: float = 0.0
    val_loss: float = float("nan")
    evaluated: int = -1
    checkpointed: int = -1


def _build_run(config: dict[str, Any], ctx: D.DistContext, *, resume: bool, show: bool, t_start: float) -> _Run:
    """Prepare genome and windows (:func:`_prepare`), plan the stages, build the model (the global torch
    RNG seeded with ``seed`` first, so a new model is the same on every run of the config), AdamW, the
    schedule and the precision, and the datasets. Raises InputError when the data or the model are too small."""
    train_cfg, seed = config["train"], config["seed"]
    fasta = _prepare(config, ctx, resume, show)
    train_windows, val_windows = read_split(config, "train"), read_split(config, "valid")
    stages = build_stages(train_cfg, ctx.world_size)
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
    model.set_fast_training(train_cfg["fast_path"])
    opt_cfg, sched_cfg = config["optimizer"], config["scheduler"]
    opt = Optimization.build(model, device=ctx.device, precision=train_cfg["precision"], lr=opt_cfg["lr"],
                             weight_decay=opt_cfg["weight_decay"], betas=opt_cfg["betas"], eps=opt_cfg["eps"],
                             total_steps=train_cfg["max_steps"], warmup_fraction=sched_cfg["warmup_fraction"],
                             min_lr_ratio=sched_cfg["min_lr_ratio"], clip=train_cfg["clip_grad_norm"],
                             params=[p for p in model.parameters() if p.requires_grad])

    train_set = WindowDataset(fasta, train_windows, seed=seed, augment=True, shift=config["data"]["shift"],
                              rc=config["data"]["rc_aug"])
    val_set = WindowDataset(fasta, val_windows, seed=seed, augment=False)
    return _Run(config, ctx, Path(config["out_dir"]), fasta, stages, model, opt, train_set, val_set, show, t_start)


def _start(run: _Run) -> _TrainState:
    """A new run: seeds the global torch RNG with ``seed + rank`` (dropout differs per rank, reproducibly)."""
    torch.manual_seed(run.config["seed"] + run.ctx.rank)
    return _TrainState()


def _restore(run: _Run, checkpoint: Path) -> _TrainState:
    """Load ``checkpoint`` (OUT/checkpoints/step-N) into ``run``: weights, optimizer, schedule, gradient
    scaler and (when written by as many ranks) this rank's RNG states; returns the training state saved
    with them."""
    ctx = run.ctx
    saved = load_trainer_state(checkpoint)
    run.model.load_state_dict(load_model(checkpoint).state_dict())
    run.opt.load_state_dict(saved)
    state = _TrainState(saved["step"], saved["tokens"], Position(saved["epoch"], saved["cursor"]),
                        saved["elapsed_s"], checkpointed=saved["step"])
    if saved["world_size"] == ctx.world_size:
        set_rng_state(saved["rng"][ctx.rank])
    elif ctx.is_main:
        print(f"[pretrain] note: checkpoint written by {saved['world_size']} rank(s), resumed on "
              f"{ctx.world_size}: dropout randomness will differ from the original run", flush=True)
    if ctx.is_main:
        print(f"[pretrain] resumed from {checkpoint} (step {state.step}, {state.tokens:,} tokens)", flush=True)
    return state


def _markov_baselines(run: _Run, reuse: bool) -> dict[int, float]:
    """Order -> validation bits/base of the Markov baselines (rank 0): read back from OUT/markov.tsv when
    ``reuse`` (a resumed run) and it exists, else fitted and written to OUT/markov.json and OUT/markov.tsv."""
    markov_path = run.out / "markov.tsv"
    if reuse and markov_path.exists():
        return read_markov(markov_path)
    t0 = time.perf_counter()
    markov, scored, fitted = fit_markov(run.config, run.fasta, run.train_set.windows, run.val_set.windows, run.show)
    with atomic_open(run.out / "markov.json") as handle:  # before markov.tsv, whose presence means "done"
        json.dump({"train_bases": fitted, "val_bases": scored}, handle)
    write_markov(markov_path, markov, scored)
    print("[pretrain] Markov baselines on valid (bits/base): "
          + ", ".join(f"order {k} {b:.4f}" for k, b in markov.items())
          + f" ({time.perf_counter() - t0:.1f} s)", flush=True)
    return markov


def _announce(run: _Run) -> None:
    """Print the model, the ranks, the precision, the data and the stages (rank 0)."""
    model, ctx = run.model, run.ctx
    print(f"[pretrain] model d_model={model.config.d_model} n_layer={model.config.n_layer} "
          f"l_max={model.l_max}: {count_parameters(model):,} parameters; {ctx.world_size} rank(s) on "
          f"{ctx.device}, precision {run.opt.amp or 'fp32'}; {len(run.train_set):,} train / "
          f"{len(run.val_set):,} valid windows\n[pretrain] stages: {_describe_stages(run.stages)}", flush=True)


# --------------------------------------------------------------------------- training


def _train(run: _Run, state: _TrainState, log: MetricsLog | None, markov: dict[int, float],
           stop_after: int | None) -> bool:
    """Take optimizer steps from ``state.step`` to ``run.total``, logging, validating and checkpointing
    as the config says. ``log``: rank 0's metrics log (None on the others). Returns True when it
    stopped after ``stop_after`` steps (as if killed)."""
    ctx, config = run.ctx, run.config
    net = DistributedDataParallel(run.model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None) \
        if ctx.distributed else run.model
    eval_every, ck_every = config["eval"]["every"], config["checkpoint"]["every"]
    bar = tqdm(total=run.total, initial=state.step, desc="pretrain", unit="step", disable=not run.show,
               dynamic_ncols=True)
    stage, batches, smooth_tps = None, None, None
    try:
        while state.step < run.total:
            if stop_after is not None and state.step >= stop_after:
                return True
            current = stage_at(run.stages, state.step)
            if current is not stage:
                stage = current
                batches = iter(_train_loader(run.train_set, stage, state.step, state.position, config["seed"], ctx,
                                             config["data"]["num_workers"]))
            t0 = time.perf_counter()
            mean_loss = _accumulate_gradients(run, net, stage, batches)
            grad_norm, lr = run.opt.step()
            state.position.advance(len(run.train_set), stage.global_batch)
            state.step += 1
            state.tokens += stage.tokens_per_step
            step_loss = float(D.all_mean(ctx, mean_loss))
            if not math.isfinite(step_loss):
                raise HyenaDNAError(f"the training loss became {step_loss} at step {state.step}; lower optimizer.lr, "
                                    "or use bf16/fp32 instead of fp16")
            tps = stage.tokens_per_step / (time.perf_counter() - t0)
            smooth_tps = tps if smooth_tps is None else 0.9 * smooth_tps + 0.1 * tps
            if ctx.is_main:
                if state.step % config["log"]["every"] == 0 or state.step == run.total:
                    log.log("train", {"step": state.step, "tokens": state.tokens, "seq_len": stage.seq_len,
                                      "batch": stage.global_batch, "lr": lr, "loss": step_loss,
                                      "bits_per_base": step_loss / LN2, "grad_norm": float(grad_norm),
                                      "tokens_per_s": tps, "elapsed_s": run.wall(state)})
                bar.set_postfix(loss=f"{step_loss:.4f}", L=stage.seq_len, tok_s=f"{smooth_tps:,.0f}", lr=f"{lr:.2e}")
                bar.update(1)
            if state.step % eval_every == 0 or state.step == run.total:
                _validate(run, state, log, markov, bar)
            if state.step % ck_every == 0 or state.step == run.total:
                _checkpoint(run, state)
    finally:
        bar.close()
    return False


def _accumulate_gradients(run: _Run, net: torch.nn.Module, stage: Stage, batches) -> torch.Tensor:
    """Backward passes over the ``stage.accumulation`` micro batches of one optimizer step, taken from
    ``batches`` (DDP synchronises the gradients on the last only); returns this rank's mean loss."""
    ctx = run.ctx
    loss_sum = torch.zeros((), device=ctx.device)
    for micro in range(stage.accumulation):
        inputs, targets = next(batches)
        inputs = inputs.to(ctx.device, non_blocking=True)
        targets = targets.to(ctx.device, non_blocking=True)
        last = micro == stage.accumulation - 1
        sync = net.no_sync() if (ctx.distributed and not last) else contextlib.nullcontext()
        with sync:
            with run.opt.autocast():
                logits = net(inputs)
            loss = next_token_loss(logits, targets)
            run.opt.backward(loss / stage.accumulation)
        loss_sum += loss.detach()
    return loss_sum / stage.accumulation


def _evaluate(run: _Run) -> tuple[float, int]:
    """:func:`evaluate` of the current model on the validation split, at ``train.seq_len``."""
    eval_batch = run.config["eval"]["batch_size"] or run.stages[-1].micro_batch
    return evaluate(run.model, run.val_set, run.ctx, seq_len=run.config["train"]["seq_len"], batch_size=eval_batch,
                    num_workers=run.config["data"]["num_workers"], amp=run.opt.amp)


def _validate(run: _Run, state: _TrainState, log: MetricsLog | None, markov: dict[int, float], bar: tqdm) -> None:
    """Validate the current model (every rank) and, on rank 0, log and report it next to the Markov baselines."""
    state.val_loss, val_bases = _evaluate(run)
    state.evaluated = state.step
    if run.ctx.is_main:
        val_loss, bits = state.val_loss, state.val_loss / LN2
        log.log("eval", {"step": state.step, "tokens": state.tokens, "val_loss": val_loss,
                         "val_perplexity": math.exp(val_loss), "val_bits_per_base": bits, "val_bases": val_bases})
        bar.write(f"[pretrain] step {state.step}: valid {val_loss:.4f} nats/base, {bits:.4f} bits/base, "
                  f"perplexity {math.exp(val_loss):.4f}; {standing(bits, markov)}")


def _checkpoint(run: _Run, state: _TrainState) -> None:
    """OUT/checkpoints/step-N/ (written by rank 0, with every rank's RNG states): everything a resume needs."""
    ctx = run.ctx
    elapsed = run.wall(state)
    trainer_state = {"step": state.step, "tokens": state.tokens, "epoch": state.position.epoch,
                     "cursor": state.position.cursor, **run.opt.state_dict(),
                     "rng": D.gather_objects(ctx, rng_state()), "world_size": ctx.world_size, "elapsed_s": elapsed}
    if ctx.is_main:
        save_checkpoint(run.out / "checkpoints", state.step, run.model, trainer_state,
                        run.config["checkpoint"]["keep_last"])
    D.barrier(ctx)
    state.checkpointed = state.step


# --------------------------------------------------------------------------- the end


def _finish(run: _Run, state: _TrainState, markov: dict[int, float]) -> PretrainResult:
    """Validate and checkpoint the last step unless done already, save OUT/model and (rank 0) the
    plot, report and summary.json."""
    wall = run.wall(state)
    if state.evaluated != state.step:
        state.val_loss, _ = _evaluate(run)
    if state.checkpointed != state.step:
        _checkpoint(run, state)
    model_dir = run.out / "model"
    if run.ctx.is_main:
        save_model_dir(run.model, model_dir)
        _report(run, state, markov, wall)
    D.barrier(run.ctx)
    return PretrainResult(run.out, model_dir, state.step, state.tokens, state.val_loss, state.val_loss / LN2, markov,
                          wall)


def _report(run: _Run, state: _TrainState, markov: dict[int, float], wall: float) -> None:
    """Plot, report and summary.json of a finished run (rank 0)."""
    config, out, model, ctx = run.config, run.out, run.model, run.ctx
    step, tokens, val_loss = state.step, state.tokens, state.val_loss
    plot_curves(out, markov, out / "loss.png")
    losses = [r["loss"] for r in read_csv(out / "train.csv")]
    with open(out / "markov.json") as handle:
        fitted = json.load(handle)["train_bases"]
    with open(Path(config["intervals"]["out"]) / "summary.tsv") as handle:
        windows = "; ".join(f"{r.split()[0]} {int(r.split()[1]):,}" for r in handle.read().splitlines()[1:])
    summary = {
        "out_dir": str(out), "genome": str(run.fasta), "windows": windows, "d_model": model.config.d_model,
        "n_layer": model.config.n_layer, "l_max": model.l_max, "parameters": count_parameters(model),
        "steps": step, "tokens": tokens, "stages": _describe_stages(run.stages), "wall_s": wall,
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

"""Supervised fine-tuning of HyenaDNA on one task: the published recipe, resumable, with a k-mer baseline.

``finetune(config)`` reads the task (:mod:`.inputs`), builds the model (a preset or model folder,
or a new one from ``model.architecture``), puts a head on the pooled last hidden states (or a
soft prompt, :mod:`.prompting`), and trains with AdamW (the pretraining parameter groups + the
head), warmup + cosine, gradient clipping, accumulation of micro batches, mixed precision on
GPUs and reverse-complement augmentation. It validates every ``eval_every`` steps (or epoch),
keeps the best model by the early-stopping metric, stops after ``patience`` evaluations
without improvement, evaluates the best model on the test split next to a k-mer baseline
fitted on the same splits, and writes (``OUT`` = ``out_dir``)::

    OUT/model/            config.json + model.safetensors + head.json + head.safetensors
    OUT/metrics.json      model valid/test metrics, baseline test metrics, steps, wall time
    OUT/metrics.tsv       split, method, metric, value
    OUT/predictions.tsv   test split: id, split, true, predicted, p_<label> (regression: true_/pred_<target>)
    OUT/history.csv       step, epoch, lr, train_loss, valid_loss, valid_<metric>
    OUT/confusion.png     (classification) and OUT/roc.png (classification, multilabel)
    OUT/splits.tsv        split, label, count
    OUT/checkpoints/      step-NNNNNNN/ (resume state) and best-step-NNNNNNN/ (the best model so far)

Training batches are length-bucketed and left-padded (:mod:`.batches`); mean pooling
averages only real tokens. Validation, test and ``hyenadna predict`` run sequences in groups
of equal length, without padding, so a prediction never depends on its batch. Regression
targets are standardised for training (mean/std of the training split) and the scale is
folded into the saved head, whose outputs are in the data's units. The files besides the model
and the checkpoints are written by :mod:`.outputs`; the head, soft prompt and losses live in
:mod:`.objective`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..checkpoints import load_model, save_model
from ..device import resolve_device
from ..errors import ConfigError, HyenaDNAError, InputError
from ..heads import Head, save_head
from ..io import atomic_dir
from ..model import HyenaConfig, HyenaDNA, count_parameters
from ..score.batching import run_by_length
from ..train.checkpointing import latest_checkpoint, load_trainer_state, rng_state, save_checkpoint, set_rng_state
from ..train.init import init_weights
from ..train.optim import Optimization, autocast
from .batches import encode_left_padded, micro_batches, plan_epoch, rc_flags, steps_per_epoch
from .objective import TaskHead, split_loss, standardisation, train_targets, training_loss
from .outputs import summary_line, write_history, write_outputs
from .task import TaskData

CHECKPOINTS = "checkpoints"
BEST_PREFIX = "best-step-"


# --------------------------------------------------------------------------- scoring


def split_logits(model: HyenaDNA, head: Head, sequences: list[str], ids: list[str], *, batch_size: int,
                 amp: torch.dtype | None, progress: bool = False, desc: str = "score") -> np.ndarray:
    """Logits [N, C] float32 of ``sequences`` under ``model`` + ``head`` (eval mode, equal-length groups, no padding)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device

    def run(m: HyenaDNA, batch: torch.Tensor) -> list[np.ndarray]:
        with autocast(device, amp):
            return list(head.predict_logits(m, batch).float().cpu().numpy())

    try:
        out = run_by_length(model, sequences, run, names=ids, batch_size=batch_size, progress=progress, desc=desc)
    finally:
        model.train(was_training)
    return np.stack(out).astype(np.float32) if out else np.zeros((0, head.n_outputs), np.float32)


# --------------------------------------------------------------------------- setup


def _load_config(config: dict[str, Any] | str | os.PathLike) -> dict[str, Any]:
    from .config import load_finetune_config, validate_finetune_config

    return validate_finetune_config(config) if isinstance(config, dict) else load_finetune_config(config)


def build_backbone(model_cfg: dict[str, Any], device: torch.device) -> HyenaDNA:
    """The model to fine-tune: ``model.init`` (preset or folder, any layout) or a new one from ``model.architecture``
    with the released initialisation (drawn from the global torch RNG)."""
    if model_cfg["init"]:
        model = load_model(model_cfg["init"], device=device)
        model.head = None  # a fine-tuned init gets a new head
        return model
    try:
        config = HyenaConfig(**model_cfg["architecture"])
    except TypeError as err:
        raise ConfigError(f"config key model.architecture: {err}") from None
    return init_weights(HyenaDNA(config)).to(device)


def labels_of(task: TaskData) -> list[str]:
    return [str(x) for x in task.labels]


@dataclass
class _Best:
    step: int = -1
    value: float = float("nan")
    loss: float = float("nan")
    metrics: dict[str, Any] | None = None
    folder: str = ""


def _better(value: float, loss: float, best: _Best, higher: bool) -> bool:
    """Whether an evaluation beats the best so far: a better metric, or the same metric at a lower loss."""
    if best.step < 0 or (math.isnan(best.value) and not math.isnan(value)):
        return True
    if math.isnan(value):
        return False
    if value == best.value:
        return loss < best.loss
    return value > best.value if higher else value < best.value


def _plain(value: Any) -> Any:
    """Metrics as plain JSON values (numpy scalars -> float), safe for ``torch.load(weights_only=True)``."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else float(v)))


# --------------------------------------------------------------------------- the run


def finetune(config: dict[str, Any] | str | os.PathLike, *, out: str | os.PathLike | None = None,
             resume: bool = False, device: str | None = None, progress: bool = True,
             stop_after: int | None = None, fast_path: bool | None = None) -> dict[str, Any]:
    """Fine-tune as ``config`` (a dict or a YAML path) says; schema: ``hyenadna_kipoi/schemas/finetune.schema.yaml``.

    ``out`` overrides ``out_dir``; ``resume`` continues from the newest checkpoint in
    ``OUT/checkpoints`` and reproduces the uninterrupted run exactly (same device and precision);
    ``device`` overrides ``device``; ``stop_after``: stop after that many optimizer steps as if
    killed (no final outputs; for tests of resuming). Returns the content of ``metrics.json``
    (``{"stopped_at": step}`` with ``stop_after``). ``fast_path`` overrides ``train.fast_path`` (None: the
    config's).
    """
    t_start = time.perf_counter()
    source = "config" if isinstance(config, dict) else str(config)
    config = _load_config(config)
    if fast_path is not None:
        config["train"]["fast_path"] = fast_path
    out = Path(out if out is not None else config["out_dir"])
    dev = torch.device(resolve_device(device or config["device"]))

    existing = latest_checkpoint(out / CHECKPOINTS)
    if existing is not None and not resume:
        raise InputError(f"{out} already holds fine-tuning checkpoints (newest: {existing.name}); pass --resume to "
                         "continue that run, or choose another output folder (nothing was changed)")
    run = _build_run(config, dev, source)
    if config["train"]["method"] == "linear_probe":
        return _probe(run, out, t_start, progress)
    if resume and existing is not None:
        state = _restore(run, existing)
        if progress:
            print(f"[finetune] resumed from {existing} (step {state.step} of {run.total})", flush=True)
    else:
        state = _TrainState()
        torch.manual_seed(config["seed"])
        out.mkdir(parents=True, exist_ok=True)
    if progress:
        _announce(run)

    stopped_at = _train(run, state, out, t_start=t_start, progress=progress, stop_after=stop_after)
    if stopped_at is not None:
        return {"stopped_at": stopped_at}
    return _finish(run, out, state.best, state.step, state.elapsed_before + time.perf_counter() - t_start, progress)


@dataclass
class _Run:
    """A fine-tuning run as built from its config: the task, the model and its head, and how they are trained.

    ``opt``: AdamW over every trainable tensor, the schedule and the precision; ``total``
    optimizer steps of ``steps_per_epoch`` per epoch; ``center``/``scale`` [C]: the regression standardisation
    (zeros / ones otherwise); ``higher``: whether a larger early-stopping metric is better.
    """

    config: dict[str, Any]
    task: TaskData
    labels: list[str]
    model: HyenaDNA
    head: TaskHead
    frozen: bool
    dev: torch.device
    center: np.ndarray
    scale: np.ndarray
    opt: Optimization
    steps_per_epoch: int
    total: int
    higher: bool

    @property
    def amp(self) -> torch.dtype | None:
        """The autocast dtype (None: fp32)."""
        return self.opt.amp

    @property
    def kind(self) -> str:
        return self.config["task"]["kind"]

    @property
    def train_cfg(self) -> dict[str, Any]:
        return self.config["train"]

    @property
    def metric(self) -> str:
        """The early-stopping metric (``loss`` or a metric name of :mod:`.evaluate`)."""
        return self.config["train"]["early_stopping"]["metric"]


@dataclass
class _TrainState:
    """Where training stands; saved in every checkpoint. ``loss_sum``/``loss_count``: the training
    loss since the last evaluation; ``elapsed_before``: wall seconds of the runs before a resume."""

    step: int = 0
    best: _Best = field(default_factory=_Best)
    bad_evals: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False
    loss_sum: float = 0.0
    loss_count: int = 0
    elapsed_before: float = 0.0


def _build_run(config: dict[str, Any], dev: torch.device, source: str) -> _Run:
    """Read the task and build the model, its head (or soft prompt), AdamW and the warmup + cosine schedule.

    Seeds the global torch RNG with ``seed`` first, so a new model and head are the same on
    every run of the config. Raises InputError/ConfigError for an empty training split, a
    sequence longer than the model allows or a head the task cannot use.
    """
    from .inputs import check_lengths, load_task

    seed, kind = config["seed"], config["task"]["kind"]
    train_cfg, prompt_cfg, model_cfg = config["train"], config["soft_prompt"], config["model"]
    task = load_task(config["task"], seed=seed, source=source)
    labels = labels_of(task)
    train = task.splits["train"]
    if len(train) == 0:
        raise InputError(f"task {task.name!r}: the training split is empty")

    torch.manual_seed(seed)
    model = build_backbone(model_cfg, dev)
    k = prompt_cfg["length"]
    check_lengths(task, model.l_max, source)  # a sequence too long on its own is named first
    if k and task.max_length + k > model.l_max:
        raise ConfigError(f"{source}: config key soft_prompt.length: {k} prompt positions + the task's longest "
                          f"sequence ({task.max_length} bp) exceed the model's l_max of {model.l_max}; at most "
                          f"{max(0, model.l_max - task.max_length)} fit")
    frozen = model_cfg["freeze_backbone"] or k > 0 or train_cfg["method"] == "linear_probe"
    label_mode = prompt_cfg["label_mode"]
    if label_mode == "token" and (kind != "classification" or len(labels) > 4):
        raise ConfigError(f"soft_prompt.label_mode 'token' needs a classification task with at most 4 classes; "
                          f"task {task.name!r} has {len(labels)} {kind} labels")
    prompt = None
    if k > 0:
        from .prompting import SoftPrompt

        prompt = SoftPrompt.for_model(model, k, init=prompt_cfg["init"], seed=seed)
    center, scale = standardisation(kind, train.targets, len(labels))
    head = TaskHead(kind, labels, model_cfg["pooling"], label_mode, model.config.d_model, prompt,
                    center, scale).to(dev)
    if frozen:
        model.requires_grad_(False)
    model.train(not frozen)  # a frozen backbone runs without dropout
    model.set_fast_training(train_cfg["fast_path"])

    trainable = nn.ModuleDict({"model": model, "head": head})
    if not any(p.requires_grad for p in trainable.parameters()):
        raise ConfigError("nothing to train: the backbone is frozen and the head has no parameters "
                          "(soft_prompt.label_mode token needs soft_prompt.length > 0)")
    spe = steps_per_epoch(len(train), train_cfg["batch_size"])
    total = spe * train_cfg["epochs"]
    if train_cfg["max_steps"]:
        total = min(total, train_cfg["max_steps"])
    opt = Optimization.build(trainable, device=dev, precision=train_cfg["precision"], lr=train_cfg["lr"],
                             weight_decay=train_cfg["weight_decay"], total_steps=total,
                             warmup_fraction=train_cfg["warmup_fraction"], min_lr_ratio=train_cfg["min_lr_ratio"],
                             clip=train_cfg["clip_grad"])
    return _Run(config, task, labels, model, head, frozen, dev, center, scale, opt, spe, total,
                _higher_is_better(train_cfg["early_stopping"]["metric"]))


def _restore(run: _Run, checkpoint: Path) -> _TrainState:
    """Load ``checkpoint`` (OUT/checkpoints/step-N) into ``run``: model, head, optimizer, schedule,
    gradient scaler and RNG states; returns the training state saved with them."""
    saved = load_trainer_state(checkpoint)
    settings = _settings(run)
    if saved.get("settings", settings) != settings:
        raise InputError(f"{checkpoint}: this run was started with other settings than the config now gives; "
                         "--resume continues only the same run (restore the config, or use a new output folder)")
    run.model.load_state_dict(load_model(checkpoint, device=run.dev).state_dict())
    run.head.load_state_dict(saved["head"])
    run.opt.load_state_dict(saved)
    set_rng_state(saved["rng"])
    return _TrainState(step=saved["step"], best=_Best(**saved["best"]), bad_evals=saved["bad_evals"],
                       history=saved["history"], stopped_early=saved["stopped_early"], loss_sum=saved["loss_sum"],
                       loss_count=saved["loss_count"], elapsed_before=saved["elapsed_s"])


def _settings(run: _Run) -> str:
    """The config that determines a run (not where it is written or which device runs it), as text."""
    return json.dumps({k: v for k, v in run.config.items() if k not in ("out_dir", "device")}, sort_keys=True,
                      default=str)


def _announce(run: _Run) -> None:
    """Print one line describing the task, the model and the training plan."""
    model, model_cfg, train_cfg = run.model, run.config["model"], run.train_cfg
    splits, k = run.task.splits, run.config["soft_prompt"]["length"]
    what = f"init {model_cfg['init']}" if model_cfg["init"] else "a new model"
    print(f"[finetune] {run.task.name} ({run.kind}, {len(run.labels)} label(s)): {len(splits['train'])} train / "
          f"{len(splits['valid'])} valid / {len(splits['test'])} test; {what} d_model={model.config.d_model} "
          f"n_layer={model.config.n_layer} ({count_parameters(model):,} parameters{', frozen' if run.frozen else ''}"
          f"{f', soft prompt of {k}' if k else ''}); "
          + ("a linear probe on the pooled embeddings" if train_cfg["method"] == "linear_probe"
             else f"{run.total} steps of {train_cfg['batch_size']}")
          + f" on {run.dev}, precision {run.amp or 'fp32'}", flush=True)


# --------------------------------------------------------------------------- training


def _probe(run: _Run, out: Path, t_start: float, progress: bool) -> dict[str, Any]:
    """``train.method: linear_probe``: fit the head in closed form (:mod:`.linear_probe`), validate it as
    step 0 (history, best model) and finish as a trained run would."""
    from .linear_probe import fit_linear_probe

    out.mkdir(parents=True, exist_ok=True)
    if progress:
        _announce(run)
    chosen = fit_linear_probe(run, progress)
    state = _TrainState()
    _validate(run, state, out, 0.0, None)
    if progress:
        print(f"[finetune] linear probe: C={chosen['C']:g} of {run.train_cfg['probe_c']} (by validation "
              f"{run.metric})", flush=True)
    return _finish(run, out, state.best, 0, time.perf_counter() - t_start, progress)


def _train(run: _Run, state: _TrainState, out: Path, *, t_start: float, progress: bool,
           stop_after: int | None) -> int | None:
    """Take optimizer steps from ``state.step`` to ``run.total``, validating and checkpointing on
    every evaluation step, until done or stopped early.

    Returns the step it stopped at when ``stop_after`` steps were reached (as if killed), else None.
    """
    cfg, seed, train = run.train_cfg, run.config["seed"], run.task.splits["train"]
    lengths = [len(s) for s in train.sequences]
    bar = tqdm(total=run.total, initial=state.step, desc=f"finetune {run.task.name}", unit="step",
               disable=not progress, dynamic_ncols=True)
    try:
        plan, plan_epoch_no = None, -1
        while state.step < run.total and not state.stopped_early:
            if stop_after is not None and state.step >= stop_after:
                bar.close()
                return state.step
            epoch, in_epoch = divmod(state.step, run.steps_per_epoch)
            if epoch != plan_epoch_no:
                plan, plan_epoch_no = plan_epoch(lengths, cfg["batch_size"], seed, epoch), epoch
            indices = plan[in_epoch]
            flips = rc_flags(len(indices), seed, epoch, in_epoch) if cfg["rc_augment"] else None
            step_loss = _accumulate_gradients(run, indices, flips)
            if not math.isfinite(step_loss):
                raise HyenaDNAError(f"the training loss became {step_loss} at step {state.step + 1}; lower train.lr, "
                                    "or use precision bf16/fp32 instead of fp16")
            _, lr = run.opt.step()
            state.step += 1
            state.loss_sum, state.loss_count = state.loss_sum + step_loss, state.loss_count + 1
            bar.set_postfix(loss=f"{step_loss:.4f}", lr=f"{lr:.2e}")
            bar.update(1)
            if _is_eval_step(run, state.step):
                _validate(run, state, out, lr, bar if progress else None)
                _checkpoint(run, state, out, state.elapsed_before + time.perf_counter() - t_start)
    finally:
        bar.close()
    return None


def _accumulate_gradients(run: _Run, indices: np.ndarray, flips: np.ndarray | None) -> float:
    """Backward passes over the micro batches of one optimizer step (training-split ``indices``,
    reverse-complemented where ``flips``); returns the step's mean training loss."""
    train, kind = run.task.splits["train"], run.kind
    step_loss = 0.0
    offset = 0
    for micro in micro_batches(indices, run.train_cfg["micro_batch_size"]):
        rev = flips[offset:offset + len(micro)] if flips is not None else None
        offset += len(micro)
        ids = encode_left_padded([train.sequences[i] for i in micro], [train.ids[i] for i in micro],
                                 reverse=rev).to(run.dev)
        targets = train_targets(kind, train.targets[micro], run.center, run.scale).to(run.dev)
        with run.opt.autocast():
            logits = run.head.logits(run.model, ids, backbone_grad=not run.frozen)
        loss = training_loss(kind, logits, targets) / len(indices)
        run.opt.backward(loss)
        step_loss += float(loss.detach())
    return step_loss


def _is_eval_step(run: _Run, step: int) -> bool:
    """Validate after every ``eval_every`` steps (0: every epoch) and after the last step."""
    every = run.train_cfg["eval_every"]
    return step == run.total or (step % every == 0 if every else step % run.steps_per_epoch == 0)


def _validate(run: _Run, state: _TrainState, out: Path, lr: float, bar: tqdm | None) -> None:
    """Validate the current model, append a row to history (and OUT/history.csv), keep it as the best
    model if it improves on the best, count evaluations without improvement for early stopping;
    ``bar``: where to report (None: silent)."""
    metric_name = run.metric
    valid_loss, metrics, value = _evaluate_valid(run)
    row = {"step": state.step, "epoch": state.step / run.steps_per_epoch, "lr": lr,
           "train_loss": state.loss_sum / max(1, state.loss_count), "valid_loss": valid_loss}
    if metric_name != "loss":
        row[f"valid_{metric_name}"] = value
    state.history.append(row)
    state.loss_sum, state.loss_count = 0.0, 0
    # without a validation split every evaluation is "the best": the last model is kept
    if len(run.task.splits["valid"]) == 0 or _better(value, valid_loss, state.best, run.higher):
        state.best = _Best(state.step, value, valid_loss, metrics, "")
        state.best.folder = _save_best(run, out, state.step)
        state.bad_evals = 0
    else:
        state.bad_evals += 1
        patience = run.train_cfg["early_stopping"]["patience"]
        if patience and state.bad_evals >= patience:
            state.stopped_early = True
    if bar is not None:
        step, best = state.step, state.best
        bar.write(f"[finetune] step {step}: train loss {row['train_loss']:.4f}, valid loss {valid_loss:.4f}"
                  + (f", valid {metric_name} {value:.4f}" if metric_name != "loss" else "")
                  + (f" (best: step {best.step})" if best.step != step else " (best so far)")
                  + (f"; early stop after {state.bad_evals} evaluations without improvement"
                     if state.stopped_early else ""))
    write_history(out / "history.csv", state.history, metric_name)


def _evaluate_valid(run: _Run) -> tuple[float, dict[str, Any], float]:
    """Validation loss, metrics and the early-stopping value of the current model (NaN without a valid split)."""
    valid = run.task.splits["valid"]
    if len(valid) == 0:
        return float("nan"), {}, float("nan")
    head = run.head.export().to(run.dev)
    logits = split_logits(run.model, head, valid.sequences, valid.ids, batch_size=run.train_cfg["micro_batch_size"],
                          amp=run.amp)
    metrics = _plain(_compute_metrics(run.kind, valid.targets, head.activate(torch.from_numpy(logits)).numpy(),
                                      run.labels))
    loss = split_loss(run.kind, logits, valid.targets, run.center, run.scale)
    value = loss if run.metric == "loss" else float(metrics.get(run.metric, float("nan")))
    return loss, metrics, value


def _save_best(run: _Run, out: Path, step: int) -> str:
    """OUT/checkpoints/best-step-N/: the model, its head and the head module's state; returns the folder name."""
    name = f"{BEST_PREFIX}{step:07d}"
    with atomic_dir(out / CHECKPOINTS / name) as tmp:
        save_model(run.model, tmp)
        save_head(run.head.export(), tmp)
        torch.save({"head": run.head.state_dict()}, tmp / "head_state.pt")
    return name


def _checkpoint(run: _Run, state: _TrainState, out: Path, elapsed: float) -> None:
    """OUT/checkpoints/step-N/ (everything a resume needs; only the newest is kept), then remove
    the best models it no longer names. ``elapsed``: wall seconds of the whole run so far."""
    trainer_state = {
        "step": state.step, **run.opt.state_dict(), "rng": rng_state(),
        "head": run.head.state_dict(), "best": state.best.__dict__.copy(), "bad_evals": state.bad_evals,
        "history": state.history, "stopped_early": state.stopped_early, "loss_sum": state.loss_sum,
        "loss_count": state.loss_count, "elapsed_s": elapsed, "settings": _settings(run)}
    save_checkpoint(out / CHECKPOINTS, state.step, run.model, trainer_state, keep_last=1)
    for old in (out / CHECKPOINTS).glob(f"{BEST_PREFIX}*"):
        if old.name != state.best.folder:
            shutil.rmtree(old, ignore_errors=True)


def _higher_is_better(metric: str) -> bool:
    if metric == "loss":
        return False
    from .evaluate import higher_is_better

    return higher_is_better(metric)


def _compute_metrics(kind: str, targets: np.ndarray, scores: np.ndarray, labels: list[str]) -> dict[str, Any]:
    from .evaluate import compute_metrics

    return compute_metrics(kind, targets, scores, labels)


# --------------------------------------------------------------------------- the final evaluation


def _finish(run: _Run, out: Path, best: _Best, steps: int, wall: float, progress: bool) -> dict[str, Any]:
    """Restore the best model and save it as OUT/model, evaluate it on the test split next to the
    k-mer baseline, write every output and print the summary; returns the content of metrics.json."""
    task, labels, model, dev = run.task, run.labels, run.model, run.dev
    best_dir = out / CHECKPOINTS / best.folder
    if best.folder and best_dir.is_dir():
        model.load_state_dict(load_model(best_dir, device=dev).state_dict())
        run.head.load_state_dict(torch.load(best_dir / "head_state.pt", map_location=dev, weights_only=True)["head"])
    head = run.head.export()
    with atomic_dir(out / "model") as tmp:
        save_model(model, tmp)
        save_head(head, tmp)

    test = task.splits["test"]
    logits = split_logits(model, head.to(dev), test.sequences, test.ids, batch_size=run.train_cfg["micro_batch_size"],
                          amp=run.amp, progress=progress, desc="test")
    scores = head.activate(torch.from_numpy(logits)).numpy()
    test_metrics = _plain(_compute_metrics(task.kind, test.targets, scores, labels)) if len(test) else {}
    results: dict[str, Any] = {
        "task": task.name, "kind": task.kind, "labels": labels, "init": run.config["model"]["init"],
        "n": {name: len(split) for name, split in task.splits.items()},
        "model": {"valid": best.metrics or {}, "test": test_metrics},
        "best_step": best.step, "steps": steps, "wall_s": wall,
    }
    baseline_scores = _kmer_baseline(run, results)
    write_outputs(out, task, labels, results, scores, baseline_scores)
    print(summary_line(results, out), flush=True)
    return results


def _kmer_baseline(run: _Run, results: dict[str, Any]) -> np.ndarray | None:
    """Fit the k-mer baseline on the task's splits (when ``baseline.kmer.enabled`` and there is a
    test split), add its test metrics to ``results["baseline"]``; returns its test scores, else None."""
    kmer, test = run.config["baseline"]["kmer"], run.task.splits["test"]
    if not (kmer["enabled"] and len(test)):
        return None
    from .kmer_baseline import fit_kmer_baseline

    fitted = fit_kmer_baseline(run.task, kmer["k"], kmer["C"], kmer["max_iter"], run.config["seed"])
    scores = np.asarray(fitted.scores(test.sequences))
    results["baseline"] = {"test": _plain(_compute_metrics(run.task.kind, test.targets, scores, run.labels)),
                           "k": list(kmer["k"])}
    return scores

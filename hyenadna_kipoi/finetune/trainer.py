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
folded into the saved head, whose outputs are in the data's units.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..checkpoints import load_model, save_model
from ..device import resolve_device
from ..errors import ConfigError, HyenaDNAError, InputError
from ..heads import Head, save_head
from ..io import atomic_dir, atomic_open
from ..model import HyenaConfig, HyenaDNA, count_parameters
from ..score.batching import run_by_length
from ..tokenizer import PAD
from ..train.checkpointing import latest_checkpoint, load_trainer_state, rng_state, save_checkpoint, set_rng_state
from ..train.init import init_weights
from ..train.optim import parameter_groups
from ..train.pretrain import resolve_precision
from ..train.schedules import lr_multiplier
from .batches import encode_left_padded, micro_batches, plan_epoch, rc_flags, steps_per_epoch
from .task import TaskData

CHECKPOINTS = "checkpoints"
BEST_PREFIX = "best-step-"


# --------------------------------------------------------------------------- the trainable head


class TaskHead(nn.Module):
    """What fine-tuning trains besides the backbone: a linear layer on the pooled hidden states
    (``label_mode: head``) and/or a soft prompt [k, d].

    ``center``/``scale`` [C]: regression targets are trained standardised, ``(y - center) / scale``;
    :meth:`export` folds them back into the linear layer.
    """

    def __init__(self, kind: str, labels: list[str], pooling: str, label_mode: str, d_model: int,
                 prompt: nn.Module | None = None, center: np.ndarray | None = None, scale: np.ndarray | None = None):
        super().__init__()
        self.kind, self.labels, self.pooling, self.label_mode = kind, list(labels), pooling, label_mode
        n = len(labels)
        self.linear = nn.Linear(d_model, n) if label_mode == "head" else None
        self.soft_prompt = prompt
        self.register_buffer("center", torch.as_tensor(center if center is not None else np.zeros(n), dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale if scale is not None else np.ones(n), dtype=torch.float32))

    def live(self) -> Head:
        """A :class:`Head` on this module's parameters (differentiable; standardised regression outputs)."""
        return Head(self.kind, self.labels, self.pooling, self.label_mode,
                    self.linear.weight if self.linear is not None else None,
                    self.linear.bias if self.linear is not None else None)

    def logits(self, model: HyenaDNA, ids: torch.Tensor, *, backbone_grad: bool) -> torch.Tensor:
        """Logits [B, C] of left-padded ids [B, L]; ``backbone_grad`` False runs the backbone without autograd."""
        if self.soft_prompt is not None:
            hidden = self.soft_prompt.hidden(model, ids)
        elif backbone_grad:
            hidden = model.embed(ids)
        else:
            with torch.no_grad():
                hidden = model.embed(ids)
        return self.live().logits(hidden, ids != PAD, model.lm_head.weight)

    def export(self) -> Head:
        """The head to save and to predict with: float32 on the CPU, regression scale folded in."""
        weight = bias = None
        if self.linear is not None:
            w, b = self.linear.weight.detach().float().cpu(), self.linear.bias.detach().float().cpu()
            scale, center = self.scale.cpu(), self.center.cpu()
            weight, bias = w * scale[:, None], b * scale + center
        prompt = self.soft_prompt.prompt.detach().float().cpu().clone() if self.soft_prompt is not None else None
        return Head(self.kind, self.labels, self.pooling, self.label_mode, weight, bias, prompt)


def training_loss(kind: str, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Summed loss of a micro batch: cross-entropy (classification), BCE with logits (multilabel,
    averaged over targets) or squared error (regression, averaged over targets). logits [B, C]."""
    logits = logits.float()
    if kind == "classification":
        return F.cross_entropy(logits, targets, reduction="sum")
    if kind == "multilabel":
        return F.binary_cross_entropy_with_logits(logits, targets, reduction="none").mean(dim=1).sum()
    return F.mse_loss(logits, targets, reduction="none").mean(dim=1).sum()


def split_loss(kind: str, logits: np.ndarray, targets: np.ndarray, center: np.ndarray, scale: np.ndarray) -> float:
    """Mean loss of a whole split, on the training loss's scale; ``logits`` of the exported head [N, C]."""
    t = torch.as_tensor(logits, dtype=torch.float32)
    if kind == "classification":
        y = torch.as_tensor(targets, dtype=torch.int64)
    elif kind == "multilabel":
        y = torch.as_tensor(targets, dtype=torch.float32)
    else:  # exported regression outputs are in data units: standardise both sides
        c, s = torch.as_tensor(center, dtype=torch.float32), torch.as_tensor(scale, dtype=torch.float32)
        t, y = (t - c) / s, (torch.as_tensor(targets, dtype=torch.float32) - c) / s
    return float(training_loss(kind, t, y)) / max(1, len(targets))


def _targets(kind: str, values: np.ndarray, center: np.ndarray, scale: np.ndarray) -> torch.Tensor:
    if kind == "classification":
        return torch.as_tensor(values, dtype=torch.int64)
    values = torch.as_tensor(np.asarray(values, dtype=np.float32))
    if kind == "regression":
        values = (values - torch.as_tensor(center, dtype=torch.float32)) / torch.as_tensor(scale, dtype=torch.float32)
    return values


def standardisation(kind: str, targets: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``center``, ``scale`` [C] of the training targets (regression); zeros / ones otherwise."""
    if kind != "regression":
        return np.zeros(n, np.float32), np.ones(n, np.float32)
    t = np.asarray(targets, dtype=np.float64).reshape(len(targets), -1)
    scale = t.std(axis=0)
    return t.mean(axis=0).astype(np.float32), np.where(scale > 0, scale, 1.0).astype(np.float32)


# --------------------------------------------------------------------------- scoring


def split_logits(model: HyenaDNA, head: Head, sequences: list[str], ids: list[str], *, batch_size: int,
                 amp: torch.dtype | None, progress: bool = False, desc: str = "score") -> np.ndarray:
    """Logits [N, C] float32 of ``sequences`` under ``model`` + ``head`` (eval mode, equal-length groups, no padding)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device

    def run(m: HyenaDNA, batch: torch.Tensor) -> list[np.ndarray]:
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
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
             stop_after: int | None = None) -> dict[str, Any]:
    """Fine-tune as ``config`` (a dict or a YAML path, schema ``workflow/schemas/finetune.schema.yaml``) says.

    ``out`` overrides ``out_dir``; ``resume`` continues from the newest checkpoint in
    ``OUT/checkpoints`` and reproduces the uninterrupted run exactly (same device and precision);
    ``device`` overrides ``device``; ``stop_after``: stop after that many optimizer steps as if
    killed (no final outputs; for tests of resuming). Returns the content of ``metrics.json``
    (``{"stopped_at": step}`` with ``stop_after``).
    """
    t_start = time.perf_counter()
    source = "config" if isinstance(config, dict) else str(config)
    config = _load_config(config)
    out = Path(out if out is not None else config["out_dir"])
    dev = torch.device(resolve_device(device or config["device"]))
    seed, kind = config["seed"], config["task"]["kind"]
    train_cfg, prompt_cfg, model_cfg = config["train"], config["soft_prompt"], config["model"]

    existing = latest_checkpoint(out / CHECKPOINTS)
    if existing is not None and not resume:
        raise InputError(f"{out} already holds fine-tuning checkpoints (newest: {existing.name}); pass --resume to "
                         "continue that run, or choose another output folder (nothing was changed)")
    from .inputs import check_lengths, load_task

    task = load_task(config["task"], seed=seed, source=source)
    labels = labels_of(task)
    train, valid, test = (task.splits[s] for s in ("train", "valid", "test"))
    if len(train) == 0:
        raise InputError(f"task {task.name!r}: the training split is empty")

    torch.manual_seed(seed)
    model = build_backbone(model_cfg, dev)
    k = prompt_cfg["length"]
    check_lengths(task, model.l_max - k, source)
    frozen = model_cfg["freeze_backbone"] or k > 0
    label_mode = prompt_cfg["label_mode"]
    if label_mode == "token" and (kind != "classification" or len(labels) > 4):
        raise ConfigError(f"soft_prompt.label_mode 'token' needs a classification task with at most 4 classes; "
                          f"task {task.name!r} has {len(labels)} {kind} labels")
    prompt = None
    if k > 0:
        from .prompting import SoftPrompt

        prompt = SoftPrompt.for_model(model, k, init=prompt_cfg["init"], seed=seed)
    center, scale = standardisation(kind, train.targets, len(labels))
    head_module = TaskHead(kind, labels, model_cfg["pooling"], label_mode, model.config.d_model, prompt,
                           center, scale).to(dev)
    if frozen:
        model.requires_grad_(False)
    amp = resolve_precision(train_cfg["precision"], dev)
    model.train(not frozen)  # a frozen backbone runs without dropout

    trainable = nn.ModuleDict({"model": model, "head": head_module})
    groups = [{k_: v for k_, v in g.items() if k_ != "names"} for g in parameter_groups(trainable, train_cfg["weight_decay"])]
    params = [p for g in groups for p in g["params"]]
    if not params:
        raise ConfigError("nothing to train: the backbone is frozen and the head has no parameters "
                          "(soft_prompt.label_mode token needs soft_prompt.length > 0)")
    optimizer = torch.optim.AdamW(groups, lr=train_cfg["lr"])
    spe = steps_per_epoch(len(train), train_cfg["batch_size"])
    total = spe * train_cfg["epochs"]
    if train_cfg["max_steps"]:
        total = min(total, train_cfg["max_steps"])
    warmup = int(round(train_cfg["warmup_fraction"] * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_multiplier(s, total_steps=total, warmup_steps=warmup,
                                           min_ratio=train_cfg["min_lr_ratio"]))
    scaler = torch.amp.GradScaler(dev.type) if amp == torch.float16 else None

    stopping = train_cfg["early_stopping"]
    metric_name = stopping["metric"]
    higher = _higher_is_better(metric_name)
    step, best, bad_evals, history, stopped_early = 0, _Best(), 0, [], False
    loss_sum, loss_count, elapsed_before = 0.0, 0, 0.0
    if resume and existing is not None:
        state = load_trainer_state(existing)
        model.load_state_dict(load_model(existing, device=dev).state_dict())
        head_module.load_state_dict(state["head"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state["scaler"]:
            scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        step, bad_evals, history = state["step"], state["bad_evals"], state["history"]
        stopped_early, elapsed_before = state["stopped_early"], state["elapsed_s"]
        loss_sum, loss_count = state["loss_sum"], state["loss_count"]
        best = _Best(**state["best"])
        if progress:
            print(f"[finetune] resumed from {existing} (step {step} of {total})", flush=True)
    else:
        torch.manual_seed(seed)
        out.mkdir(parents=True, exist_ok=True)

    if progress:
        what = f"init {model_cfg['init']}" if model_cfg["init"] else "a new model"
        print(f"[finetune] {task.name} ({kind}, {len(labels)} label(s)): {len(train)} train / {len(valid)} valid / "
              f"{len(test)} test; {what} d_model={model.config.d_model} n_layer={model.config.n_layer} "
              f"({count_parameters(model):,} parameters{', frozen' if frozen else ''}"
              f"{f', soft prompt of {k}' if k else ''}); {total} steps of {train_cfg['batch_size']} on {dev}, "
              f"precision {amp or 'fp32'}", flush=True)

    eval_batch = train_cfg["micro_batch_size"]
    lengths = [len(s) for s in train.sequences]

    def evaluate_valid() -> tuple[float, dict[str, Any], float]:
        """Validation loss, metrics and the early-stopping value of the current model (NaN without a valid split)."""
        if len(valid) == 0:
            return float("nan"), {}, float("nan")
        head = head_module.export().to(dev)
        logits = split_logits(model, head, valid.sequences, valid.ids, batch_size=eval_batch, amp=amp)
        metrics = _plain(_compute_metrics(kind, valid.targets, head.activate(torch.from_numpy(logits)).numpy(), labels))
        loss = split_loss(kind, logits, valid.targets, center, scale)
        value = loss if metric_name == "loss" else float(metrics.get(metric_name, float("nan")))
        return loss, metrics, value

    def state_now() -> dict[str, Any]:
        return {"step": step, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict() if scaler is not None else None, "rng": rng_state(),
                "head": head_module.state_dict(), "best": best.__dict__.copy(), "bad_evals": bad_evals,
                "history": history, "stopped_early": stopped_early, "loss_sum": loss_sum, "loss_count": loss_count,
                "elapsed_s": elapsed_before + time.perf_counter() - t_start}

    def save_best() -> str:
        """OUT/checkpoints/best-step-N/: the model, its head and the head module's state; returns the folder name."""
        name = f"{BEST_PREFIX}{step:07d}"
        with atomic_dir(out / CHECKPOINTS / name) as tmp:
            save_model(model, tmp)
            save_head(head_module.export(), tmp)
            torch.save({"head": head_module.state_dict()}, tmp / "head_state.pt")
        return name

    def checkpoint() -> None:
        save_checkpoint(out / CHECKPOINTS, step, model, state_now(), keep_last=1)
        for old in (out / CHECKPOINTS).glob(f"{BEST_PREFIX}*"):  # best models the newest state no longer names
            if old.name != best.folder:
                shutil.rmtree(old, ignore_errors=True)

    def is_eval_step(s: int) -> bool:
        every = train_cfg["eval_every"]
        return s == total or (s % every == 0 if every else s % spe == 0)

    bar = tqdm(total=total, initial=step, desc=f"finetune {task.name}", unit="step", disable=not progress,
               dynamic_ncols=True)
    try:
        plan, plan_epoch_no = None, -1
        while step < total and not stopped_early:
            if stop_after is not None and step >= stop_after:
                bar.close()
                return {"stopped_at": step}
            epoch, in_epoch = divmod(step, spe)
            if epoch != plan_epoch_no:
                plan, plan_epoch_no = plan_epoch(lengths, train_cfg["batch_size"], seed, epoch), epoch
            indices = plan[in_epoch]
            flips = rc_flags(len(indices), seed, epoch, in_epoch) if train_cfg["rc_augment"] else None
            step_loss = 0.0
            offset = 0
            for micro in micro_batches(indices, train_cfg["micro_batch_size"]):
                rev = flips[offset:offset + len(micro)] if flips is not None else None
                offset += len(micro)
                ids = encode_left_padded([train.sequences[i] for i in micro], [train.ids[i] for i in micro],
                                         reverse=rev).to(dev)
                targets = _targets(kind, train.targets[micro], center, scale).to(dev)
                with torch.autocast(dev.type, dtype=amp or torch.float32, enabled=amp is not None):
                    logits = head_module.logits(model, ids, backbone_grad=not frozen)
                loss = training_loss(kind, logits, targets) / len(indices)
                (scaler.scale(loss) if scaler is not None else loss).backward()
                step_loss += float(loss.detach())
            if not math.isfinite(step_loss):
                raise HyenaDNAError(f"the training loss became {step_loss} at step {step + 1}; lower train.lr, "
                                    "or use precision bf16/fp32 instead of fp16")
            if scaler is not None:
                scaler.unscale_(optimizer)
            clip = train_cfg["clip_grad"]
            torch.nn.utils.clip_grad_norm_(params, clip if clip else float("inf"))
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            lr = optimizer.param_groups[0]["lr"]
            scheduler.step()
            step += 1
            loss_sum, loss_count = loss_sum + step_loss, loss_count + 1
            bar.set_postfix(loss=f"{step_loss:.4f}", lr=f"{lr:.2e}")
            bar.update(1)
            if is_eval_step(step):
                valid_loss, metrics, value = evaluate_valid()
                row = {"step": step, "epoch": step / spe, "lr": lr, "train_loss": loss_sum / max(1, loss_count),
                       "valid_loss": valid_loss}
                if metric_name != "loss":
                    row[f"valid_{metric_name}"] = value
                history.append(row)
                loss_sum, loss_count = 0.0, 0
                # without a validation split every evaluation is "the best": the last model is kept
                if len(valid) == 0 or _better(value, valid_loss, best, higher):
                    best = _Best(step, value, valid_loss, metrics, "")
                    best.folder = save_best()
                    bad_evals = 0
                else:
                    bad_evals += 1
                    if stopping["patience"] and bad_evals >= stopping["patience"]:
                        stopped_early = True
                if progress:
                    bar.write(f"[finetune] step {step}: train loss {row['train_loss']:.4f}, valid loss {valid_loss:.4f}"
                              + (f", valid {metric_name} {value:.4f}" if metric_name != "loss" else "")
                              + (f" (best: step {best.step})" if best.step != step else " (best so far)")
                              + (f"; early stop after {bad_evals} evaluations without improvement" if stopped_early else ""))
                _write_history(out / "history.csv", history, metric_name)
                checkpoint()
    finally:
        bar.close()

    return _finish(config, out, task, labels, model, head_module, best, step, amp, dev, center, scale,
                   elapsed_before + time.perf_counter() - t_start, progress)


def _higher_is_better(metric: str) -> bool:
    if metric == "loss":
        return False
    from .evaluate import higher_is_better

    return higher_is_better(metric)


def _compute_metrics(kind: str, targets: np.ndarray, scores: np.ndarray, labels: list[str]) -> dict[str, Any]:
    from .evaluate import compute_metrics

    return compute_metrics(kind, targets, scores, labels)


def _write_history(path: Path, history: list[dict[str, Any]], metric: str) -> None:
    fields = ["step", "epoch", "lr", "train_loss", "valid_loss"] + ([f"valid_{metric}"] if metric != "loss" else [])
    with atomic_open(path, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in history:
            writer.writerow({f: repr(row[f]) if isinstance(row[f], float) else row[f] for f in fields})


# --------------------------------------------------------------------------- outputs


def _finish(config: dict[str, Any], out: Path, task: TaskData, labels: list[str], model: HyenaDNA,
            head_module: TaskHead, best: _Best, steps: int, amp: torch.dtype | None, dev: torch.device,
            center: np.ndarray, scale: np.ndarray, wall: float, progress: bool) -> dict[str, Any]:
    """Restore the best model, evaluate it on test next to the k-mer baseline, write every output."""
    from .evaluate import default_metric, plot_confusion, plot_roc, write_metrics_tsv

    kind = task.kind
    best_dir = out / CHECKPOINTS / best.folder
    if best.folder and best_dir.is_dir():
        model.load_state_dict(load_model(best_dir, device=dev).state_dict())
        head_module.load_state_dict(torch.load(best_dir / "head_state.pt", map_location=dev, weights_only=True)["head"])
    head = head_module.export()
    with atomic_dir(out / "model") as tmp:
        save_model(model, tmp)
        save_head(head, tmp)

    test = task.splits["test"]
    dev_head = head.to(dev)
    logits = split_logits(model, dev_head, test.sequences, test.ids, batch_size=config["train"]["micro_batch_size"],
                          amp=amp, progress=progress, desc="test")
    scores = head.activate(torch.from_numpy(logits)).numpy()
    test_metrics = _plain(_compute_metrics(kind, test.targets, scores, labels)) if len(test) else {}
    results: dict[str, Any] = {
        "task": task.name, "kind": kind, "labels": labels, "init": config["model"]["init"],
        "n": {name: len(split) for name, split in task.splits.items()},
        "model": {"valid": best.metrics or {}, "test": test_metrics},
        "best_step": best.step, "steps": steps, "wall_s": wall,
    }
    baseline_scores = None
    kmer = config["baseline"]["kmer"]
    if kmer["enabled"] and len(test):
        from .kmer_baseline import fit_kmer_baseline

        fitted = fit_kmer_baseline(task, kmer["k"], kmer["C"], kmer["max_iter"], config["seed"])
        baseline_scores = np.asarray(fitted.scores(test.sequences))
        results["baseline"] = {"test": _plain(_compute_metrics(kind, test.targets, baseline_scores, labels)),
                               "k": list(kmer["k"])}
    with atomic_open(out / "metrics.json") as handle:
        json.dump(results, handle, indent=2)
        handle.write("\n")
    write_metrics_tsv(_metric_rows(results), out / "metrics.tsv")
    _write_predictions(out / "predictions.tsv", kind, labels, test.ids, test.targets, scores)
    _write_splits(out / "splits.tsv", task, labels)
    if len(test) and kind == "classification":
        plot_confusion(test.targets, scores, labels, out / "confusion.png", f"{task.name}: test confusion matrix")
    if len(test) and kind in ("classification", "multilabel"):
        curves = {"hyenadna": (test.targets, scores)}
        if baseline_scores is not None:
            curves["kmer_baseline"] = (test.targets, baseline_scores)
        plot_roc(curves, labels, out / "roc.png", f"{task.name}: test ROC")
    metric = default_metric(kind)
    line = f"[finetune] {task.name}: test {metric} {test_metrics.get(metric, float('nan')):.3f}"
    if "baseline" in results:
        line += f" vs k-mer {results['baseline']['test'].get(metric, float('nan')):.3f}"
    others = [m for m in ("accuracy", "auroc", "r2") if m in test_metrics and m != metric]
    line += "".join(f"; {m} {test_metrics[m]:.3f}" + (f" vs {results['baseline']['test'][m]:.3f}"
                                                      if "baseline" in results and m in results["baseline"]["test"]
                                                      else "") for m in others)
    line += f" (best step {best.step} of {steps}, {wall:.0f} s) -> {out}"
    print(line, flush=True)
    return results


def _metric_rows(results: dict[str, Any]) -> list[tuple[str, str, str, float]]:
    """metrics.tsv rows: (split, method, metric, value) of the model (valid, test) and the baseline (test)."""
    rows = [(split, "hyenadna", name, value) for split in ("valid", "test")
            for name, value in results["model"][split].items()]
    rows += [("test", "kmer_baseline", name, value) for name, value in results.get("baseline", {}).get("test", {}).items()]
    return rows


def _fmt(x: float) -> str:
    return f"{float(x):.6g}"


def _write_predictions(path: Path, kind: str, labels: list[str], ids: list[str], targets: np.ndarray,
                       scores: np.ndarray) -> None:
    """Test-split predictions: id, split, true, predicted, p_<label>... (regression: true_<t>, pred_<t>)."""
    with atomic_open(path) as handle:
        if kind == "regression":
            handle.write("\t".join(["id", "split"] + [f"true_{t}" for t in labels] + [f"pred_{t}" for t in labels]) + "\n")
            y = np.asarray(targets, dtype=np.float64).reshape(len(ids), -1)
            for i, name in enumerate(ids):
                handle.write("\t".join([name, "test"] + [_fmt(v) for v in y[i]] + [_fmt(v) for v in scores[i]]) + "\n")
            return
        handle.write("\t".join(["id", "split", "true", "predicted"] + [f"p_{x}" for x in labels]) + "\n")
        for i, name in enumerate(ids):
            if kind == "classification":
                true, predicted = labels[int(targets[i])], labels[int(np.argmax(scores[i]))]
            else:
                true = ";".join(x for x, t in zip(labels, targets[i]) if t >= 0.5)
                predicted = ";".join(x for x, p in zip(labels, scores[i]) if p >= 0.5)
            handle.write("\t".join([name, "test", true, predicted] + [_fmt(p) for p in scores[i]]) + "\n")


def _write_splits(path: Path, task: TaskData, labels: list[str]) -> None:
    """split, label, count: sequences per class (classification), positives per target (multilabel),
    sequences (regression, label ``all``)."""
    with atomic_open(path) as handle:
        handle.write("split\tlabel\tcount\n")
        for name, split in task.splits.items():
            if task.kind == "classification":
                counts = np.bincount(np.asarray(split.targets, dtype=np.int64), minlength=len(labels))
                rows = list(zip(labels, counts))
            elif task.kind == "multilabel":
                t = np.asarray(split.targets).reshape(len(split), -1)
                rows = list(zip(labels, (t >= 0.5).sum(axis=0))) + [("all", len(split))]
            else:
                rows = [("all", len(split))]
            handle.writelines(f"{name}\t{label}\t{int(count)}\n" for label, count in rows)

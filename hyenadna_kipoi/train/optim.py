"""What pretraining and fine-tuning share in how they optimise: AdamW with the published
parameter groups, the warmup + cosine schedule, mixed precision and the update step.

Weight decay applies to the weight matrices of linear and convolution layers only. As
in the released training code there is none on the implicit-filter MLP (its weights,
biases and sine frequencies: ``filter_fn.implicit_filter``), on biases (including the
long convolution's ``filter_fn.bias``), on LayerNorms, or on the token embedding (tied
to the LM head).

:class:`Optimization` bundles what a trainer builds once for this (optimizer, schedule,
gradient scaler, autocast dtype, the tensors clipped together) and the part of a
checkpoint it owns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ContextManager, Sequence

import torch
from torch import nn

from .schedules import lr_multiplier


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two AdamW groups: ``decay`` (linear/conv weights outside the filter MLP) and ``no_decay``."""
    decay, no_decay, seen = [], [], set()
    decay_names, no_decay_names = [], []
    for module_name, module in model.named_modules():
        for name, param in module.named_parameters(recurse=False):
            if id(param) in seen or not param.requires_grad:
                continue
            seen.add(id(param))
            full = f"{module_name}.{name}" if module_name else name
            in_filter_mlp = ".implicit_filter." in f".{full}"
            if name == "weight" and isinstance(module, (nn.Linear, nn.Conv1d)) and not in_filter_mlp:
                decay.append(param)
                decay_names.append(full)
            else:
                no_decay.append(param)
                no_decay_names.append(full)
    return [
        {"params": decay, "weight_decay": weight_decay, "names": decay_names},
        {"params": no_decay, "weight_decay": 0.0, "names": no_decay_names},
    ]


def adamw(model: nn.Module, *, lr: float, weight_decay: float, betas: Sequence[float] = (0.9, 0.999),
          eps: float = 1e-8) -> torch.optim.AdamW:
    """AdamW over ``model``'s trainable parameters in the groups of :func:`parameter_groups`."""
    groups = [{k: v for k, v in g.items() if k != "names"} for g in parameter_groups(model, weight_decay)]
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), eps=eps)


def build_optimizer(model: nn.Module, cfg: dict[str, Any]) -> torch.optim.AdamW:
    """AdamW from the ``optimizer`` config section (lr, betas, eps, weight_decay)."""
    return adamw(model, lr=cfg["lr"], weight_decay=cfg["weight_decay"], betas=cfg["betas"], eps=cfg["eps"])


def warmup_cosine(optimizer: torch.optim.Optimizer, *, total_steps: int, warmup_fraction: float,
                  min_ratio: float) -> torch.optim.lr_scheduler.LambdaLR:
    """The schedule of :func:`~.schedules.lr_multiplier` over ``total_steps`` optimizer steps, the first
    ``round(warmup_fraction * total_steps)`` of them warming up."""
    warmup = int(round(warmup_fraction * total_steps))
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_multiplier(s, total_steps=total_steps, warmup_steps=warmup, min_ratio=min_ratio))


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype (None for fp32). ``auto``: bf16 on GPUs that have it, else fp16; fp32 on CPU."""
    if precision == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def autocast(device: torch.device, amp: torch.dtype | None) -> ContextManager:
    """Autocast to ``amp`` on ``device`` (None: fp32, autocast off)."""
    return torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None)


def grad_scaler(device: torch.device, amp: torch.dtype | None) -> torch.amp.GradScaler | None:
    """A gradient scaler for fp16 (whose small gradients would underflow), else None."""
    return torch.amp.GradScaler(device.type) if amp == torch.float16 else None


def optimizer_step(optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
                   params: list[torch.Tensor], clip: float | None,
                   scaler: torch.amp.GradScaler | None = None) -> tuple[torch.Tensor, float]:
    """One update after the accumulated backward passes: unscale (fp16), clip the gradient
    norm at ``clip`` (None/0: no clipping), step, zero the gradients, advance the schedule.

    Returns the gradient norm before clipping and the learning rate the step used.
    """
    if scaler is not None:
        scaler.unscale_(optimizer)
    grad_norm = torch.nn.utils.clip_grad_norm_(params, clip if clip else float("inf"))
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    lr = optimizer.param_groups[0]["lr"]
    scheduler.step()
    return grad_norm, lr


@dataclass
class Optimization:
    """How a model is trained, built once per run: AdamW, its schedule, the fp16 gradient scaler
    (None otherwise), the autocast dtype ``amp`` (None: fp32) on ``device``, the trainable tensors
    ``params`` (their gradient norm is clipped at ``clip`` together)."""

    optimizer: torch.optim.AdamW
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler | None
    amp: torch.dtype | None
    device: torch.device
    params: list[torch.Tensor]
    clip: float | None

    @classmethod
    def build(cls, model: nn.Module, *, device: torch.device, precision: str, lr: float, weight_decay: float,
              total_steps: int, warmup_fraction: float, min_lr_ratio: float, clip: float | None,
              betas: Sequence[float] = (0.9, 0.999), eps: float = 1e-8,
              params: list[torch.Tensor] | None = None) -> "Optimization":
        """AdamW (:func:`adamw`), the warmup + cosine schedule over ``total_steps`` and the precision
        ``precision`` (:func:`resolve_precision`) for ``model`` on ``device``. ``params``: the tensors
        to clip, in the order their norms are summed (default: the parameter groups' order)."""
        optimizer = adamw(model, lr=lr, weight_decay=weight_decay, betas=betas, eps=eps)
        scheduler = warmup_cosine(optimizer, total_steps=total_steps, warmup_fraction=warmup_fraction,
                                  min_ratio=min_lr_ratio)
        amp = resolve_precision(precision, device)
        if params is None:
            params = [p for g in optimizer.param_groups for p in g["params"]]
        return cls(optimizer, scheduler, grad_scaler(device, amp), amp, device, params, clip)

    def autocast(self) -> ContextManager:
        """The forward passes' autocast (:func:`autocast`)."""
        return autocast(self.device, self.amp)

    def backward(self, loss: torch.Tensor) -> None:
        """Backpropagate ``loss`` (scaled first under fp16)."""
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def step(self) -> tuple[torch.Tensor, float]:
        """:func:`optimizer_step`: returns the gradient norm before clipping and the step's learning rate."""
        return optimizer_step(self.optimizer, self.scheduler, self.params, self.clip, self.scaler)

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps of it: ``optimizer``, ``scheduler`` and ``scaler`` (None without one)."""
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler is not None else None}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` saved (a saved scaler state is used only when this run has a scaler)."""
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        if self.scaler is not None and saved["scaler"]:
            self.scaler.load_state_dict(saved["scaler"])

"""AdamW with the published parameter groups.

Weight decay applies to the weight matrices of linear and convolution layers only. As
in the released training code there is none on the implicit-filter MLP (its weights,
biases and sine frequencies: ``filter_fn.implicit_filter``), on biases (including the
long convolution's ``filter_fn.bias``), on LayerNorms, or on the token embedding (tied
to the LM head).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


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


def build_optimizer(model: nn.Module, cfg: dict[str, Any]) -> torch.optim.AdamW:
    """AdamW from the ``optimizer`` config section (lr, betas, eps, weight_decay)."""
    groups = [{k: v for k, v in g.items() if k != "names"} for g in parameter_groups(model, cfg["weight_decay"])]
    return torch.optim.AdamW(groups, lr=cfg["lr"], betas=tuple(cfg["betas"]), eps=cfg["eps"])


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

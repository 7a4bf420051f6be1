"""What fine-tuning trains besides the backbone, and its loss.

:class:`TaskHead` holds the linear head (``label_mode: head``) and/or the soft prompt;
the losses are cross-entropy (classification), BCE with logits (multilabel) and squared
error (regression, on targets standardised with the training split's mean and std, a
scale :meth:`TaskHead.export` folds back into the saved head).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..heads import Head
from ..model import HyenaDNA
from ..tokenizer import PAD



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


def train_targets(kind: str, values: np.ndarray, center: np.ndarray, scale: np.ndarray) -> torch.Tensor:
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

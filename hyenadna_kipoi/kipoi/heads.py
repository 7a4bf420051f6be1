"""Classification heads of fine-tuned models, as the Kipoi layer reads them.

A fine-tuned model directory holds, besides ``config.json`` + ``model.safetensors``::

    head.json         {"task": "classification", "labels": ["neg", "pos"], "pooling": "mean"}
    head.safetensors  weight [C, d_model], bias [C]   (a linear layer on the pooled embedding)

``pooling`` is ``mean`` (over positions) or ``last`` (the last position). The class
probabilities are ``softmax(weight @ pooled + bias)``, one per label.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..errors import CheckpointError, ConfigError
from ..io import atomic_open, atomic_path

HEAD_JSON = "head.json"
HEAD_WEIGHTS = "head.safetensors"
POOLINGS = ("mean", "last")


@dataclass
class ClassifierHead:
    """Linear classifier on a pooled embedding: ``weight`` [C, d], ``bias`` [C], one label per class."""

    labels: list[str]
    pooling: str
    weight: torch.Tensor
    bias: torch.Tensor

    def probabilities(self, hidden: torch.Tensor) -> torch.Tensor:
        """Class probabilities of last hidden states: [B, L, d] -> [B, C] float32."""
        pooled = hidden.mean(dim=1) if self.pooling == "mean" else hidden[:, -1]
        logits = pooled.float() @ self.weight.float().T + self.bias.float()
        return torch.softmax(logits, dim=-1)

    @property
    def columns(self) -> list[str]:
        """Output names of the classes: the labels, with bare integers as ``class_<n>``.

        (kipoi reads nested HDF5 keys that look like integers back as list positions.)
        """
        return [f"class_{x}" if x.isdigit() else x for x in self.labels]

    def to(self, device: str | torch.device) -> ClassifierHead:
        return ClassifierHead(self.labels, self.pooling, self.weight.to(device), self.bias.to(device))


def has_head(folder: Path) -> bool:
    return (Path(folder) / HEAD_JSON).exists()


def load_head(folder: str | Path, d_model: int) -> ClassifierHead:
    """Read ``head.json`` + ``head.safetensors`` of ``folder``; shapes are checked against ``d_model``."""
    folder = Path(folder)
    meta_path, weights_path = folder / HEAD_JSON, folder / HEAD_WEIGHTS
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"{meta_path}: cannot read the head description ({err})") from None
    if meta.get("task") != "classification":
        raise ConfigError(f"{meta_path}: task {meta.get('task')!r} is not supported by the Kipoi layer; "
                          "only 'classification' heads are")
    labels, pooling = meta.get("labels"), meta.get("pooling", "mean")
    if not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) and x for x in labels):
        raise ConfigError(f"{meta_path}: 'labels' must list at least two non-empty class names")
    if len(set(labels)) != len(labels) or any("/" in x for x in labels):
        raise ConfigError(f"{meta_path}: labels must be unique and contain no '/' (they name output columns)")
    if pooling not in POOLINGS:
        raise ConfigError(f"{meta_path}: pooling {pooling!r} is not one of {', '.join(POOLINGS)}")
    if not weights_path.exists():
        raise CheckpointError(f"{weights_path}: missing; a classification head needs its weights beside head.json")
    tensors = load_file(weights_path)
    weight, bias = tensors.get("weight"), tensors.get("bias")
    if weight is None or bias is None or tuple(weight.shape) != (len(labels), d_model) or tuple(bias.shape) != (len(labels),):
        raise CheckpointError(f"{weights_path}: expected weight [{len(labels)}, {d_model}] and bias [{len(labels)}] "
                              f"for {len(labels)} labels and d_model={d_model}")
    return ClassifierHead(list(labels), pooling, weight, bias)


def save_head(head: ClassifierHead, folder: str | Path) -> Path:
    """Write ``head.json`` + ``head.safetensors`` into ``folder`` (atomically)."""
    folder = Path(folder)
    with atomic_path(folder / HEAD_WEIGHTS) as tmp:
        save_file({"weight": head.weight.contiguous().cpu(), "bias": head.bias.contiguous().cpu()}, tmp)
    with atomic_open(folder / HEAD_JSON) as handle:
        json.dump({"task": "classification", "labels": head.labels, "pooling": head.pooling}, handle, indent=2)
        handle.write("\n")
    return folder

"""``hyenadna predict``: a fine-tuned model's outputs for FASTA records or BED intervals.

Output TSV: ``id`` then one column per label — ``p_<label>`` (classification: class
probabilities; multilabel: per-target probabilities) or ``pred_<target>`` (regression values) —
and, for classification, ``predicted`` (the most probable class). Sequences run in groups of
equal length without padding, so a row never depends on the other inputs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..checkpoints import load_model
from ..errors import CheckpointError
from ..heads import HEAD_JSON, Head
from ..io import atomic_open
from ..model import HyenaDNA
from ..score.batching import run_by_length


def load_finetuned(model: str | os.PathLike, device: str | torch.device = "cpu", *,
                   progress: bool = False) -> tuple[HyenaDNA, Head]:
    """A fine-tuned model folder (with ``head.json``) -> the model (eval mode) and its head."""
    folder = Path(model)
    if folder.is_file():
        folder = folder.parent
    if folder.is_dir() and not (folder / HEAD_JSON).exists():
        raise CheckpointError(f"{folder}: no {HEAD_JSON}; `hyenadna predict` needs a fine-tuned model folder "
                              "(the model/ folder that `hyenadna finetune` writes). For embeddings or likelihoods "
                              "of a language model use `hyenadna embed` or `hyenadna loglik`")
    net = load_model(model, device=device, progress=progress)
    if net.head is None:
        raise CheckpointError(f"{model}: not a fine-tuned model (no {HEAD_JSON}); `hyenadna predict` needs the "
                              "model/ folder that `hyenadna finetune` writes")
    return net, net.head


def predict_sequences(model: HyenaDNA, head: Head, sequences: Sequence[str], names: Sequence[str] | None = None, *,
                      batch_size: int = 8, progress: bool = False) -> np.ndarray:
    """The head's outputs [N, C] float32: probabilities (classification, multilabel) or values (regression)."""
    model.eval()
    device = next(model.parameters()).device
    head = head.to(device)

    def run(m: HyenaDNA, ids: torch.Tensor) -> list[np.ndarray]:
        return list(head.predict(m, ids).cpu().numpy())

    out = run_by_length(model, sequences, run, names=names, batch_size=batch_size, progress=progress, desc="predict")
    return np.stack(out).astype(np.float32) if out else np.zeros((0, head.n_outputs), np.float32)


def output_columns(head: Head) -> list[str]:
    """Column names of the outputs: ``p_<label>`` or ``pred_<target>`` (regression)."""
    prefix = "pred_" if head.task == "regression" else "p_"
    return [prefix + x for x in head.labels]


def write_predictions(path: str | os.PathLike, names: Sequence[str], head: Head, outputs: np.ndarray) -> Path:
    """TSV ``id``, one column per label, and ``predicted`` for classification (written atomically)."""
    columns = ["id", *output_columns(head)] + (["predicted"] if head.task == "classification" else [])
    with atomic_open(path) as handle:
        handle.write("\t".join(columns) + "\n")
        for name, row in zip(names, outputs):
            cells = [name, *(f"{float(v):.6g}" for v in row)]
            if head.task == "classification":
                cells.append(head.labels[int(np.argmax(row))])
            handle.write("\t".join(cells) + "\n")
    return Path(path)



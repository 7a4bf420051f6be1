"""Sequence embeddings: the backbone's last hidden states, pooled or per token."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..errors import InputError
from ..model import HyenaDNA
from .batching import run_by_length

POOLINGS = ("mean", "last", "none")


def embed_sequences(
    model: HyenaDNA,
    seqs: Sequence[str],
    *,
    pooling: str = "mean",
    names: Sequence[str] | None = None,
    batch_size: int = 8,
    progress: bool = True,
) -> np.ndarray | list[np.ndarray]:
    """Embed DNA strings with ``model``.

    pooling ``mean`` -> [N, d] (mean over positions), ``last`` -> [N, d] (last position,
    which has seen the whole sequence), ``none`` -> list of [L_i, d] arrays. float32.
    """
    if pooling not in POOLINGS:
        raise InputError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")

    def run(m: HyenaDNA, ids: torch.Tensor) -> list[np.ndarray]:
        hidden = m.embed(ids).float()
        if pooling == "mean":
            hidden = hidden.mean(dim=1)
        elif pooling == "last":
            hidden = hidden[:, -1]
        return list(hidden.cpu().numpy())

    rows = run_by_length(model, seqs, run, names=names, batch_size=batch_size, progress=progress, desc="embed")
    return rows if pooling == "none" else np.stack(rows) if rows else np.zeros((0, model.config.d_model), np.float32)

"""Log-likelihood of whole sequences under the model, in nats and bits per base."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from ..errors import InputError
from ..model import HyenaDNA
from .batching import run_by_length


@dataclass(frozen=True)
class SequenceLikelihood:
    """Sum of log p(x_t | x_<t) over the predicted bases of one sequence."""

    loglik: float  # nats
    n_predicted: int  # bases scored: each window's first base has no context and is not scored

    @property
    def bits_per_base(self) -> float:
        return -self.loglik / math.log(2) / self.n_predicted if self.n_predicted else math.nan

    @property
    def perplexity(self) -> float:
        return math.exp(-self.loglik / self.n_predicted) if self.n_predicted else math.nan


def _windows(seq: str, window: int) -> list[str]:
    return [seq[i:i + window] for i in range(0, len(seq), window)]


def sequence_loglik(
    model: HyenaDNA,
    seqs: Sequence[str],
    *,
    window: int | None = None,
    names: Sequence[str] | None = None,
    batch_size: int = 8,
    progress: bool = True,
) -> list[SequenceLikelihood]:
    """Log-likelihood of each sequence; with ``window``, of its non-overlapping windows summed.

    Sums are accumulated in float64. ``window`` must not exceed the model's l_max.
    """
    if window is not None and not 2 <= window <= model.l_max:
        raise InputError(f"--window must lie in 2..{model.l_max} (the model's l_max), got {window}")
    pieces: list[str] = []
    owner: list[int] = []
    for i, seq in enumerate(seqs):
        parts = _windows(seq, window) if window else [seq]
        pieces += parts
        owner += [i] * len(parts)
    piece_names = [names[i] if names else f"sequence #{i + 1}" for i in owner]

    def run(m: HyenaDNA, ids: torch.Tensor) -> list[float]:
        return m.log_likelihood(ids).double().sum(dim=1).tolist()

    sums = run_by_length(model, pieces, run, names=piece_names, batch_size=batch_size, progress=progress,
                         desc="loglik")
    totals = [0.0] * len(seqs)
    counts = [0] * len(seqs)
    for i, piece, value in zip(owner, pieces, sums):
        totals[i] += value
        counts[i] += len(piece) - 1
    return [SequenceLikelihood(t, c) for t, c in zip(totals, counts)]

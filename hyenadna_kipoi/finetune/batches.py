"""Training batches of a fine-tuning run: length-bucketed, left-padded, reproducible per (seed, epoch, step).

An epoch is a seeded permutation of the training sequences cut into pools of ``POOL_BATCHES``
optimizer steps; each pool is sorted by length and cut into steps of ``batch_size`` sequences
(so a step's sequences have similar lengths and need little padding), and the steps are
shuffled. A step is split into micro batches of consecutive (length-sorted) sequences.
Every choice is a function of (seed, epoch[, step]) only, so a resumed run sees exactly the
batches of an uninterrupted one.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..tokenizer import encode_batch, reverse_complement

POOL_BATCHES = 16


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimizer steps of one pass over ``n`` sequences (the last step may be smaller)."""
    return max(1, -(-n // batch_size))


def plan_epoch(lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Indices of the sequences of every optimizer step of ``epoch``, in order: list of int64 [<= batch_size]."""
    lengths = np.asarray(lengths)
    rng = np.random.default_rng([seed, epoch, 101])
    order = rng.permutation(len(lengths))
    pool = batch_size * POOL_BATCHES
    steps: list[np.ndarray] = []
    for start in range(0, len(order), pool):
        chunk = order[start:start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        steps += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [steps[i] for i in rng.permutation(len(steps))]


def micro_batches(indices: np.ndarray, micro_batch_size: int) -> list[np.ndarray]:
    """A step's indices cut into consecutive micro batches of at most ``micro_batch_size``."""
    return [indices[i:i + micro_batch_size] for i in range(0, len(indices), micro_batch_size)]


def rc_flags(n: int, seed: int, epoch: int, step: int) -> np.ndarray:
    """Which of a step's ``n`` sequences are reverse-complemented (each with probability 1/2): bool [n]."""
    return np.random.default_rng([seed, epoch, step, 202]).random(n) < 0.5


def encode_left_padded(seqs: Sequence[str], names: Sequence[str] | None = None, *,
                       reverse: np.ndarray | None = None) -> torch.Tensor:
    """Token ids [B, L_max] int64 of ``seqs``, left-padded with [PAD]; ``reverse[i]``: use the reverse complement."""
    if reverse is not None:
        seqs = [reverse_complement(s) if r else s for s, r in zip(seqs, reverse)]
    return torch.from_numpy(encode_batch(list(seqs), names=list(names) if names is not None else None))

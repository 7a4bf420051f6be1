"""Next-nucleotide training examples streamed from a FASTA, and the order they are read in.

An example is a window read from the genome at load time (pyfaidx/pysam, opened once
per worker process), tokenized with the project tokenizer: ``input`` ``[L]`` are the
token ids of ``L`` bases, ``target`` ``[L]`` is ``input`` shifted left by one, with
``[PAD]`` (ignored by the loss) at the last position and wherever the next base is not
A/C/G/T. Augmentation (a random sub-window, a random shift, reverse complement) is
drawn from a generator seeded by ``(seed, epoch, index)``, so an example depends on
nothing else: not on the worker that reads it, nor on where a run was resumed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..tokenizer import PAD, encode, reverse_complement
from .genome import Genome, Interval, LazyGenome

N_ID = 11  # token id of N (tokenizer.N); targets that are not A/C/G/T become PAD


@dataclass(frozen=True)
class Key:
    """What to read: window ``index`` of the list, in ``epoch`` (seeds the augmentation), ``seq_len`` bases."""

    index: int
    epoch: int
    seq_len: int


def next_token_pair(ids: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """``input`` = ids, ``target[t]`` = ids[t+1] (PAD at the end and for non-ACGT): both ``[L]`` int64."""
    target = np.empty_like(ids)
    target[:-1] = ids[1:]
    target[-1] = PAD
    target[target >= N_ID] = PAD
    return torch.from_numpy(ids), torch.from_numpy(target)


class WindowDataset(Dataset):
    """Examples read from ``windows`` of a genome FASTA; items are addressed by :class:`Key`.

    ``augment``: a window longer than ``seq_len`` gives a random sub-window, ``shift`` moves
    it by up to that many bases either way (bases past a contig end read as N), and
    ``rc`` reverse-complements half of the examples. Without ``augment`` an example is the
    first ``seq_len`` bases of its window, forward strand.
    """

    def __init__(self, fasta: str | os.PathLike, windows: Sequence[Interval], *, seed: int = 0,
                 augment: bool = True, shift: int = 0, rc: bool = False):
        self.fasta = str(fasta)
        self.windows = list(windows)
        self.seed, self.augment, self.shift, self.rc = seed, augment, shift, rc
        self._genome = LazyGenome(self.fasta)

    def __len__(self) -> int:
        return len(self.windows)

    @property
    def genome(self) -> Genome:
        return self._genome.get()

    def sequence(self, key: Key) -> str:
        """The bases of example ``key`` (after augmentation)."""
        iv = self.windows[key.index]
        start, flip = iv.start, False
        if self.augment:
            rng = np.random.default_rng([self.seed, key.epoch, key.index])
            if len(iv) > key.seq_len:
                start += int(rng.integers(0, len(iv) - key.seq_len + 1))
            if self.shift:
                start += int(rng.integers(-self.shift, self.shift + 1))
            flip = self.rc and bool(rng.random() < 0.5)
        seq = self.genome.fetch(iv.chrom, start, start + key.seq_len, pad=True)
        return reverse_complement(seq) if flip else seq

    def __getitem__(self, key: Key | int) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(key, Key):
            key = Key(int(key), 0, len(self.windows[int(key)]))
        iv = self.windows[key.index]
        return next_token_pair(encode(self.sequence(key), name=f"{iv.chrom}:{iv.start + 1}-{iv.end}"))


@dataclass
class Position:
    """Where training is in the data: ``epoch`` and ``cursor`` (examples of its permutation used)."""

    epoch: int = 0
    cursor: int = 0

    def advance(self, n_items: int, global_batch: int) -> tuple[int, int]:
        """Take the next global batch: returns its ``(epoch, start)`` and moves past it.

        An epoch's last partial batch is dropped, so every step sees a full batch.
        """
        if global_batch > n_items:
            raise ValueError(f"a global batch of {global_batch} is larger than the {n_items} training windows")
        if self.cursor + global_batch > n_items:
            self.epoch, self.cursor = self.epoch + 1, 0
        start = self.cursor
        self.cursor += global_batch
        return self.epoch, start


def permutation(n_items: int, seed: int, epoch: int) -> np.ndarray:
    """The order of the windows in ``epoch`` (the same on every rank and every run)."""
    return np.random.default_rng([seed, 1_000_003, epoch]).permutation(n_items)


def micro_batches(n_items: int, seed: int, position: Position, *, global_batch: int, seq_len: int, rank: int,
                  world_size: int, micro_batch: int, steps: int) -> Iterator[list[Key]]:
    """Keys of this rank's micro-batches for the next ``steps`` optimizer steps, from ``position`` on.

    Each step takes the next ``global_batch`` windows of the epoch's permutation; rank ``r``
    gets the ``r``-th contiguous share, cut into micro-batches of ``micro_batch``. So one
    process with gradient accumulation sees exactly what ``world_size`` ranks see together.
    ``position`` is not modified (the trainer advances its own copy as steps finish).
    """
    pos = Position(position.epoch, position.cursor)  # copied now, not when the generator first runs
    share = global_batch // world_size

    def generate() -> Iterator[list[Key]]:
        cached_epoch, perm = -1, None
        for _ in range(steps):
            epoch, start = pos.advance(n_items, global_batch)
            if epoch != cached_epoch:
                cached_epoch, perm = epoch, permutation(n_items, seed, epoch)
            mine = perm[start + rank * share: start + (rank + 1) * share]
            for m in range(0, share, micro_batch):
                yield [Key(int(i), epoch, seq_len) for i in mine[m: m + micro_batch]]

    return generate()


def eval_batches(n_items: int, *, seq_len: int, rank: int, world_size: int, batch: int) -> list[list[Key]]:
    """This rank's share (every ``world_size``-th window) of a fixed evaluation set, in batches."""
    mine = list(range(rank, n_items, world_size))
    return [[Key(i, 0, seq_len) for i in mine[b: b + batch]] for b in range(0, len(mine), batch)]


def collate(batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack examples of equal length: ``([B, L], [B, L])``."""
    inputs, targets = zip(*batch)
    return torch.stack(inputs), torch.stack(targets)

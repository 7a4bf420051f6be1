"""The one in-memory form of a supervised task, whatever file layout it came from.

Every input layout (FASTA per class, GenomicBenchmarks folders, Nucleotide Transformer
CSV/FASTA, BED + reference, species genomes) is read into a :class:`TaskData`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

KINDS = ("classification", "multilabel", "regression")
SPLITS = ("train", "valid", "test")


@dataclass
class Split:
    """One split: ``ids[i]`` names ``sequences[i]`` (upper-case DNA) with target ``targets[i]``.

    ``targets`` is int64 [N] (class index into ``TaskData.labels``) for classification,
    float32 [N, T] (0/1 per target) for multilabel and float32 [N, T] for regression.
    """

    ids: list[str]
    sequences: list[str]
    targets: np.ndarray

    def __len__(self) -> int:
        return len(self.sequences)


@dataclass
class TaskData:
    """A task: ``kind`` in KINDS, ``labels`` = class names (classification) or target names
    (multilabel / regression), ``splits`` = {"train", "valid", "test"} -> Split."""

    name: str
    kind: str
    labels: list[str]
    splits: dict[str, Split] = field(default_factory=dict)

    @property
    def max_length(self) -> int:
        """Longest sequence over all splits, in bases."""
        return max((len(s) for sp in self.splits.values() for s in sp.sequences), default=0)

"""Chromosome position blocks with a split each (a regions BED ``chrom start end split``), for derived tasks.

The same BED that holds out contiguous valid/test blocks in pretraining (``reference.regions``)
decides the split of every window a task is cut into, so no task window of the test split lies
in a block the model was pretrained on. A window belongs to a split only when it lies wholly
inside one block; windows across a block edge are dropped.
"""

from __future__ import annotations

import bisect
import os
from collections import defaultdict

from ..errors import InputError
from .genome import Genome, read_bed

SPLITS = ("train", "valid", "test")


class Blocks:
    """Blocks per contig (names as the genome spells them), sorted by start; ``split_of`` finds a window's."""

    def __init__(self, path: str | os.PathLike, genome: Genome):
        self.path = path
        by_chrom: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        for iv in read_bed(path):
            where = f"{path}, line {iv.line}"
            if iv.name not in SPLITS:
                raise InputError(f"{where}: column 4 must be the split (train, valid or test), got {iv.name!r}")
            chrom = genome.resolve(iv.chrom)
            if chrom is None:
                raise InputError(f"{where}: contig {iv.chrom!r} is not in {genome.path}")
            if iv.end > genome.contigs[chrom]:
                raise InputError(f"{where}: ends past the contig's end ({chrom} has {genome.contigs[chrom]:,} bases)")
            by_chrom[chrom].append((iv.start, iv.end, iv.name))
        self.blocks: dict[str, list[tuple[int, int, str]]] = {}
        for chrom, rows in by_chrom.items():
            rows.sort()
            for (s0, e0, _), (s1, _, _) in zip(rows, rows[1:]):
                if s1 < e0:
                    raise InputError(f"{path}: blocks {chrom}:{s0}-{e0} and the next at {s1} overlap")
            self.blocks[chrom] = rows
        self._starts = {chrom: [r[0] for r in rows] for chrom, rows in self.blocks.items()}
        if not self.blocks:
            raise InputError(f"{path}: no blocks")

    def block_of(self, chrom: str, start: int, end: int) -> tuple[int, int, str] | None:
        """The block holding all of ``[start, end)``, or None (no block, or across a block edge)."""
        rows = self.blocks.get(chrom)
        if not rows:
            return None
        i = bisect.bisect_right(self._starts[chrom], start) - 1
        if i < 0:
            return None
        block = rows[i]
        return block if start >= block[0] and end <= block[1] else None

    def split_of(self, chrom: str, start: int, end: int) -> str | None:
        block = self.block_of(chrom, start, end)
        return None if block is None else block[2]

    def of_split(self, split: str) -> list[tuple[str, int, int]]:
        """``(chrom, start, end)`` of the blocks of one split, in contig then position order."""
        return [(chrom, s, e) for chrom, rows in self.blocks.items() for s, e, name in rows if name == split]


def write_blocks(contigs: dict[str, int], block_size: int, out: str | os.PathLike, *, every: int = 10) -> int:
    """Write a regions BED: each contig cut into ``block_size``-base blocks; of every ``every``
    consecutive blocks the second-to-last is ``valid`` and the last ``test`` (contiguous held-out
    blocks spread along the contig). Returns the number of blocks."""
    from ..io import atomic_open

    if block_size <= 0 or every < 3:
        raise InputError(f"block size must be > 0 and every >= 3, got {block_size}, {every}")
    n = 0
    with atomic_open(out) as handle:
        for chrom, length in contigs.items():
            for i, start in enumerate(range(0, length, block_size)):
                split = {every - 2: "valid", every - 1: "test"}.get(i % every, "train")
                handle.write(f"{chrom}\t{start}\t{min(start + block_size, length)}\t{split}\n")
                n += 1
    return n

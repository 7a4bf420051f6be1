"""Split carving, the ``max_train`` subsample, leak removal and the split/length checks."""

from __future__ import annotations

import re
import sys
from bisect import bisect_right

import numpy as np

from ...errors import InputError
from ...tokenizer import reverse_complement
from ..task import TaskData
from .pool import Pool

_WINDOW_ID = re.compile(r"^(?P<contig>.+):(?P<start>\d+)-(?P<end>\d+)$")


def check_lengths(task: TaskData, l_max: int, source: str = "config") -> None:
    """Raise :class:`InputError` for the first sequence longer than ``l_max`` bases (the model context).

    The caller passes the room left for bases (``l_max`` minus any prompt/special tokens it adds).
    """
    for name, split in task.splits.items():
        for id_, seq in zip(split.ids, split.sequences):
            if len(seq) > l_max:
                raise InputError(f"{source}: sequence {id_} ({len(seq)} bp, {name} split of task {task.name!r}) is "
                                 f"longer than the model context l_max ({l_max}); use a model with a longer "
                                 "context or shorter sequences")


def check_no_overlap(task: TaskData, *, coordinates: bool = False) -> None:
    """Raise :class:`InputError` when a sequence (or its reverse complement) is in two splits.

    For species-window tasks (every id ``<label>/<contig>:<start>-<end>``), and for tasks whose
    ids are genome coordinates ``<contig>:<start>-<end>`` (``coordinates``: the BED layout),
    also when a window overlaps a window of another split on the same contig.
    """
    keys = {name: {_canonical(s): i for i, s in enumerate(split.sequences)} for name, split in task.splits.items()}
    for a, b in (("train", "test"), ("train", "valid"), ("valid", "test")):
        if a in keys and b in keys:
            shared = keys[a].keys() & keys[b].keys()
            if shared:
                example = task.splits[b].ids[keys[b][next(iter(shared))]]
                raise InputError(f"task {task.name!r}: {len(shared)} sequence(s) of the {b} split are also in the "
                                 f"{a} split (e.g. {example}), directly or reverse-complemented")
    windows = _windows(task, coordinates)
    if windows is None:
        return
    by_contig: dict[str, list[tuple[int, int, str, str]]] = {}
    for name, items in windows.items():
        for contig, start, end, id_ in items:
            by_contig.setdefault(contig, []).append((start, end, name, id_))
    for contig, items in by_contig.items():
        items.sort()
        reach_end, reach_split, reach_id = -1, "", ""
        for start, end, name, id_ in items:
            if start < reach_end and name != reach_split:
                raise InputError(f"task {task.name!r}: window {id_} ({name}) overlaps {reach_id} ({reach_split})")
            if end > reach_end:
                reach_end, reach_split, reach_id = end, name, id_


def _groups(pool: Pool, kind: str) -> list[list[int]]:
    """Index groups to stratify by: one per class (classification), else a single group."""
    if kind != "classification":
        return [list(range(len(pool)))]
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(pool.labels):
        groups.setdefault(label, []).append(i)
    return [groups[k] for k in sorted(groups)]


def carve(pools: dict[str, Pool | None], kind: str, valid_fraction: float, test_fraction: float,
          seed: int, *, contiguous: bool = False) -> dict[str, Pool]:
    """Fill the missing valid/test splits from train (stratified, seeded); file order is kept in every split.

    ``contiguous`` (records are genome windows, ids ``<contig>:<start>-<end>``): valid/test are
    whole blocks of position-sorted records (about 1% of the records per block, not stratified),
    so that only windows at block edges can overlap another split.
    """
    train = pools["train"]
    fractions = {s: f for s, f in (("test", test_fraction), ("valid", valid_fraction)) if pools.get(s) is None}
    if not fractions:
        return dict(pools)  # type: ignore[arg-type]
    rng = np.random.default_rng([seed, 1])
    carver = _carve_blocks if contiguous else _carve_stratified
    taken, rest = carver(train, kind, fractions, rng)
    out = dict(pools)
    for split in fractions:
        out[split] = train.take(sorted(taken[split]))
    out["train"] = train.take(sorted(rest))
    return out  # type: ignore[return-value]


def _carve_stratified(pool: Pool, kind: str, fractions: dict[str, float],
                      rng: np.random.Generator) -> tuple[dict[str, list[int]], list[int]]:
    """Indices per carved split and the rest: a seeded share of every class (one group unless classification)."""
    taken: dict[str, list[int]] = {s: [] for s in fractions}
    rest: list[int] = []
    for group in _groups(pool, kind):
        order = [group[i] for i in rng.permutation(len(group))]
        pos = 0
        for split, fraction in fractions.items():
            n = int(round(fraction * len(group)))
            taken[split] += order[pos:pos + n]
            pos += n
        rest += order[pos:]
    return taken, rest


def _carve_blocks(pool: Pool, kind: str, fractions: dict[str, float],
                  rng: np.random.Generator) -> tuple[dict[str, list[int]], list[int]]:
    """Indices per carved split and the rest: random whole blocks of the position-sorted records
    (not stratified; ``kind`` only keeps the signature of :func:`_carve_stratified`)."""
    spans = [_WINDOW_ID.match(i) for i in pool.ids]
    order = sorted(range(len(pool)), key=lambda i: (spans[i]["contig"], int(spans[i]["start"])) if spans[i] else ("", i))
    size = max(1, len(order) // 100)
    blocks = [order[i:i + size] for i in range(0, len(order), size)]
    picks = iter(rng.permutation(len(blocks)))
    taken: dict[str, list[int]] = {}
    for split, fraction in fractions.items():
        want, taken[split] = int(round(fraction * len(order))), []
        while len(taken[split]) < want:
            taken[split] += blocks[next(picks)]
    used = {i for idx in taken.values() for i in idx}
    return taken, [i for i in range(len(order)) if i not in used]


def stratified_subset(pool: Pool, kind: str, n: int, rng: np.random.Generator) -> list[int]:
    """``n`` indices of ``pool`` with every class in proportion (largest remainder), in file order."""
    groups = _groups(pool, kind)
    exact = np.array([n * len(g) / len(pool) for g in groups])
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    keep: list[int] = []
    for group, count in zip(groups, counts):
        keep += [group[i] for i in rng.choice(len(group), size=count, replace=False)]
    return sorted(keep)


def _canonical(seq: str) -> str:
    rc = reverse_complement(seq)
    return seq if seq <= rc else rc


def drop_leaks(pools: dict[str, Pool], source: str) -> None:
    """Drop train/valid sequences identical (or reverse-complementary) to one of a later split."""
    later: set[str] = set()
    for split in ("test", "valid", "train"):
        pool = pools[split]
        keys = [_canonical(s) for s in pool.seqs]
        if split != "test":
            keep = [i for i, k in enumerate(keys) if k not in later]
            dropped = len(pool) - len(keep)
            if dropped:
                print(f"warning: {source}: dropped {dropped} {split} sequence(s) identical to (or the reverse complement "
                      f"of) a {'test' if split == 'valid' else 'valid/test'} sequence", file=sys.stderr)
                pools[split] = pool = pool.take(keep)
                keys = [keys[i] for i in keep]
        later.update(keys)


def _windows(task: TaskData, coordinates: bool = False) -> dict[str, list[tuple[str, int, int, str]]] | None:
    """Windows per split as (contig key, start, end, id): species windows, or every id when ``coordinates``;
    None when the ids are not windows."""
    out: dict[str, list[tuple[str, int, int, str]]] = {}
    if task.kind != "classification" and not coordinates:
        return None
    for name, split in task.splits.items():
        items = []
        for i, id_ in enumerate(split.ids):
            match = _WINDOW_ID.match(id_)
            if match is None:
                return None
            if not coordinates and not id_.startswith(task.labels[int(split.targets[i])] + "/"):
                return None
            items.append((match["contig"], int(match["start"]), int(match["end"]), id_))
        out[name] = items
    return out


def drop_overlapping_windows(pools: dict[str, Pool], source: str) -> None:
    """Drop train/valid records whose genome window (id ``<contig>:<start>-<end>``) overlaps a
    window of a later split: carved BED splits (e.g. DeepSEA bins widened by ``length``) would
    otherwise share bases between train and test."""
    later: dict[str, list[tuple[int, int]]] = {}
    for split in ("test", "valid", "train"):
        pool = pools[split]
        spans = [_WINDOW_ID.match(i) for i in pool.ids]
        if any(m is None for m in spans):
            return
        spans = [(m["contig"], int(m["start"]), int(m["end"])) for m in spans]
        if split != "test":
            merged = {c: _merge(v) for c, v in later.items()}
            keep = [i for i, (c, a, b) in enumerate(spans) if not _hits(merged.get(c, ([], [])), a, b)]
            if len(keep) < len(pool):
                print(f"warning: {source}: dropped {len(pool) - len(keep)} {split} interval(s) overlapping a "
                      f"{'test' if split == 'valid' else 'valid/test'} interval", file=sys.stderr)
                pools[split] = pool.take(keep)
                spans = [spans[i] for i in keep]
        for contig, start, end in spans:
            later.setdefault(contig, []).append((start, end))


def _merge(spans: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Sorted, disjoint (starts, ends) covering ``spans``."""
    starts: list[int] = []
    ends: list[int] = []
    for start, end in sorted(spans):
        if ends and start < ends[-1]:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return starts, ends


def _hits(merged: tuple[list[int], list[int]], start: int, end: int) -> bool:
    """Whether [start, end) overlaps one of the disjoint ``merged`` spans."""
    starts, ends = merged
    i = bisect_right(starts, start) - 1
    return (i >= 0 and ends[i] > start) or (i + 1 < len(starts) and starts[i + 1] < end)

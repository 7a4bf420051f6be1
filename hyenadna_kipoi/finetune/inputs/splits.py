"""Split carving, the ``max_train`` subsample, leak removal and the split/length checks."""

from __future__ import annotations

import re
import sys

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


def check_no_overlap(task: TaskData) -> None:
    """Raise :class:`InputError` when a sequence (or its reverse complement) is in two splits.

    For species-window tasks (every id ``<label>/<contig>:<start>-<end>``) also when a
    window overlaps a window of another split on the same contig.
    """
    keys = {name: {_canonical(s): i for i, s in enumerate(split.sequences)} for name, split in task.splits.items()}
    for a, b in (("train", "test"), ("train", "valid"), ("valid", "test")):
        if a in keys and b in keys:
            shared = keys[a].keys() & keys[b].keys()
            if shared:
                example = task.splits[b].ids[keys[b][next(iter(shared))]]
                raise InputError(f"task {task.name!r}: {len(shared)} sequence(s) of the {b} split are also in the "
                                 f"{a} split (e.g. {example}), directly or reverse-complemented")
    windows = _windows(task)
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
          seed: int) -> dict[str, Pool]:
    """Fill the missing valid/test splits from train (stratified, seeded); file order is kept in every split."""
    train = pools["train"]
    fractions = {s: f for s, f in (("test", test_fraction), ("valid", valid_fraction)) if pools.get(s) is None}
    if not fractions:
        return dict(pools)  # type: ignore[arg-type]
    rng = np.random.default_rng([seed, 1])
    taken: dict[str, list[int]] = {s: [] for s in fractions}
    rest: list[int] = []
    for group in _groups(train, kind):
        order = [group[i] for i in rng.permutation(len(group))]
        pos = 0
        for split, fraction in fractions.items():
            n = int(round(fraction * len(group)))
            taken[split] += order[pos:pos + n]
            pos += n
        rest += order[pos:]
    out = dict(pools)
    for split in fractions:
        out[split] = train.take(sorted(taken[split]))
    out["train"] = train.take(sorted(rest))
    return out  # type: ignore[return-value]


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


def _windows(task: TaskData) -> dict[str, list[tuple[str, int, int, str]]] | None:
    """Species windows per split as (contig key, start, end, id), or None when the ids are not windows."""
    out: dict[str, list[tuple[str, int, int, str]]] = {}
    if task.kind != "classification":
        return None
    for name, split in task.splits.items():
        items = []
        for id_, target in zip(split.ids, split.targets):
            label = task.labels[int(target)]
            match = _WINDOW_ID.match(id_)
            if match is None or not id_.startswith(label + "/"):
                return None
            items.append((match["contig"], int(match["start"]), int(match["end"]), id_))
        out[name] = items
    return out

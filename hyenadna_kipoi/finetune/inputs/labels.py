"""Class order, target names, target parsing and encoding of a split's labels."""

from __future__ import annotations

import re
from typing import Any, Iterable

import numpy as np

from ...errors import InputError
from ..task import Split
from .pool import Pool


def sort_labels(found: Iterable[str]) -> list[str]:
    """Labels in their default order: numeric when all are integers, else lexicographic."""
    found = set(found)
    if all(re.fullmatch(r"[-+]?\d+", x) for x in found):
        return sorted(found, key=int)
    return sorted(found)


def class_labels(pools: dict[str, Pool | None], declared: list[str] | None) -> list[str]:
    """Class order: the declared ``task.labels`` (every label found must be one), else the labels found, sorted."""
    found: dict[str, str] = {}
    for pool in pools.values():
        for label, where in zip(pool.labels if pool else [], pool.where if pool else []):
            found.setdefault(label, where)
    if declared is not None:
        for label, where in found.items():
            if label not in declared:
                raise InputError(f"{where}: label {label!r} is not in the declared task.labels ({', '.join(declared)})")
        return list(declared)
    if len(found) < 2:
        raise InputError(f"a classification task needs at least 2 classes; found {sorted(found) or 'none'}")
    return sort_labels(found)


def target_names(pools: dict[str, Pool | None], names: list[str], declared: list[str] | None,
                 source: str) -> tuple[list[str], dict[str, Pool | None]]:
    """Target names of a multilabel/regression task, reordering each record's targets to the declared order."""
    if declared is None or declared == names:
        return names, pools
    if len(declared) == 1 and len(names) == 1:  # a single unnamed target (CSV `label`) takes the declared name
        return list(declared), pools
    if sorted(declared) != sorted(names):
        raise InputError(f"{source}: task.labels ({', '.join(declared)}) do not match the target columns found in the "
                         f"data ({', '.join(names)})")
    order = [names.index(x) for x in declared]
    for pool in pools.values():
        if pool is not None:
            pool.labels = [[row[i] for i in order] for row in pool.labels]
    return list(declared), pools


def parse_value(text: str, kind: str, where: str) -> Any:
    """A class name (classification), else ``[value]``: one finite float (0/1 for multilabel)."""
    if kind == "classification":
        return text.strip()
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where}: target {text!r} is not a number") from None
    if not np.isfinite(value):
        raise InputError(f"{where}: target {text!r} is not a finite number")
    if kind == "multilabel" and value not in (0.0, 1.0):
        raise InputError(f"{where}: a multilabel target must be 0 or 1, got {text!r}")
    return [value]


def encode(pool: Pool, kind: str, labels: list[str]) -> Split:
    """A :class:`Split` of ``pool``: int64 class indices [N], or float32 targets [N, len(labels)]."""
    if kind == "classification":
        index = {name: i for i, name in enumerate(labels)}
        targets = np.array([index[x] for x in pool.labels], dtype=np.int64)
    else:
        targets = np.array(pool.labels, dtype=np.float32).reshape(len(pool), len(labels))
    return Split(list(pool.ids), list(pool.seqs), targets)

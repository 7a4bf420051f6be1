"""Entry point: read a task's input layout, then label, carve, subsample, de-leak and check its splits."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import ConfigError, InputError
from ..task import KINDS, SPLITS, TaskData
from .bed import read_bed_task
from .fasta import read_fasta_per_class
from .genomic_benchmarks import read_genomic_benchmarks
from .labels import class_labels, encode, target_names
from .nucleotide_transformer import read_nucleotide_transformer
from .species import read_species
from .splits import carve, check_no_overlap, drop_leaks, drop_overlapping_windows, stratified_subset


def load_task(cfg: dict[str, Any], *, seed: int, source: str = "config") -> TaskData:
    """The task of a validated fine-tuning config (the whole config or its ``task`` section).

    Reads the input layout, checks the labels, carves missing valid/test splits, applies
    ``max_train``, drops leaked duplicates and checks the splits (:func:`check_no_overlap`).
    ``source`` (the config file) prefixes configuration errors. Raises :class:`InputError`
    naming the file and line/record for bad data.
    """
    task = cfg["task"] if "task" in cfg and "input" not in cfg else cfg
    kind, inp = task["kind"], task["input"]
    if kind not in KINDS:
        raise ConfigError(f"{source}: config key task.kind: {kind!r} is not one of {', '.join(KINDS)}")
    declared = None if task.get("labels") is None else [str(x) for x in task["labels"]]
    readers = {"fasta_per_class": read_fasta_per_class, "genomic_benchmarks": read_genomic_benchmarks,
               "nucleotide_transformer": read_nucleotide_transformer, "bed": read_bed_task, "species": read_species}
    if inp["format"] not in readers:
        raise ConfigError(f"{source}: config key task.input.format: unknown format {inp['format']!r}")
    pools, targets_names = readers[inp["format"]](inp, kind=kind, declared=declared, seed=seed, source=source)

    if kind == "classification":
        labels = class_labels(pools, declared)
    else:
        labels, pools = target_names(pools, targets_names, declared, source)

    pools = carve(pools, kind, task.get("valid_fraction", 0.1), task.get("test_fraction", 0.1), seed,
                  contiguous=inp["format"] == "bed")
    if task.get("max_train") is not None and len(pools["train"]) > task["max_train"]:
        keep = stratified_subset(pools["train"], kind, task["max_train"], np.random.default_rng([seed, 2]))
        pools["train"] = pools["train"].take(keep)
    drop_leaks(pools, source)
    if inp["format"] == "bed":
        drop_overlapping_windows(pools, source)

    result = TaskData(task["name"], kind, labels, {s: encode(pools[s], kind, labels) for s in SPLITS})
    if len(result.splits["train"]) == 0:
        raise InputError(f"{source}: task {task['name']!r} has no training sequences")
    check_no_overlap(result, coordinates=inp["format"] == "bed")
    return result

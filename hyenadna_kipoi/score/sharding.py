"""Variant scoring in several processes: CPU workers, or one process per GPU.

The records (already resolved to FASTA contigs) are cut into tasks of whole genome
regions, a few per process so that fast processes take more; each process holds its
own copy of the model and its own FASTA handle. Results come back keyed by record
index, so the merged rows are in input order whatever finished first. Processes are
spawned (not forked): forking a process that has run torch threads can deadlock. A streamed
VCF (:func:`.variants.score_vcf`) keeps one :class:`ShardPool` for all its chunks, so the
processes and their models are started once. The parent's ``fast_path.compute_dtype`` (``--dtype``) goes
with the tasks.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Sequence

import torch
from tqdm.auto import tqdm

from ..data import Genome
from ..fast_path import compute_dtype, current_compute_dtype
from ..model import HyenaConfig, HyenaDNA
from .regions import AlleleScore, group_by_region, score_regions
from .vcf_io import Variant

TASKS_PER_PROCESS = 4
_worker: dict = {}  # per process: model, genome and scoring options, set by _init


def _init(config: dict, state: dict, dtype: torch.dtype, fasta: str, options: dict, devices: list[str],
          threads: int, compute: torch.dtype | None = None) -> None:
    worker = multiprocessing.current_process()._identity[0]  # 1, 2, ... in the order the pool starts them
    device = devices[(worker - 1) % len(devices)]
    torch.set_num_threads(threads)
    model = HyenaDNA(HyenaConfig.from_dict(config))
    model.load_state_dict(state)
    _worker.update(model=model.eval().to(device, dtype), genome=Genome(fasta), options=options, compute=compute)


def _run(task: tuple[list[int], list[Variant], list[str]]) -> dict[int, list[AlleleScore]]:
    indices, variants, names = task
    with compute_dtype(_worker["compute"]):  # the parent's fast_path.compute_dtype, which processes do not inherit
        rows = score_regions(_worker["model"], _worker["genome"], variants, range(len(variants)),
                             dict(enumerate(names)), **_worker["options"])
    return {indices[j]: r for j, r in rows.items()}


def _tasks(variants: Sequence[Variant], indices: Sequence[int], contig: dict[int, str], window: int,
           n_tasks: int) -> list[tuple[list[int], list[Variant], list[str]]]:
    """Whole regions packed in order into about ``n_tasks`` tasks of similar record counts."""
    target = max(1, -(-len(indices) // n_tasks))
    tasks: list[list[int]] = [[]]
    for _, _, _, group in group_by_region(variants, indices, contig, window):
        if len(tasks[-1]) >= target:
            tasks.append([])
        tasks[-1].extend(group)
    return [(t, [variants[i] for i in t], [contig[i] for i in t]) for t in tasks if t]


class ShardPool:
    """Processes that score regions, kept for several calls (the chunks of a streamed VCF).

    ``max(workers, len(devices))`` processes; process ``k`` runs on ``devices[k % len(devices)]``
    (default: the model's device); CPU processes share the parent's torch threads between them.
    Use as a context manager: the processes are started on the first :meth:`score` and stopped
    at the end of the block (terminated when it fails).
    """

    def __init__(self, model: HyenaDNA, fasta: str | os.PathLike, window: int, *, batch_size: int | None,
                 embedding_distance: bool, workers: int, devices: Sequence[str] | None):
        self.model, self.fasta, self.window = model, fasta, window
        self.devices = list(devices or [str(next(model.parameters()).device)])
        self.n_proc = max(workers, len(self.devices))
        self.options = {"window": window, "batch_size": batch_size, "embedding_distance": embedding_distance}
        self._pool = None

    def _start(self):
        if self._pool is None:
            model = self.model
            threads = max(1, torch.get_num_threads() // self.n_proc)
            ctx = torch.multiprocessing.get_context("spawn")
            state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
            init = (model.config.to_dict(), state, next(model.parameters()).dtype, str(self.fasta), self.options,
                    self.devices, threads, current_compute_dtype())
            self._pool = ctx.Pool(self.n_proc, initializer=_init, initargs=init)
        return self._pool

    def score(self, variants: Sequence[Variant], indices: Sequence[int], contig: dict[int, str],
              bar: tqdm | None = None) -> dict[int, list[AlleleScore]]:
        """Like :func:`~.regions.score_regions`: the rows of records ``indices``, keyed by index."""
        out: dict[int, list[AlleleScore]] = {}
        if not indices:
            return out
        tasks = _tasks(variants, indices, contig, self.window, self.n_proc * TASKS_PER_PROCESS)
        for result in self._start().imap_unordered(_run, tasks):
            out.update(result)
            if bar is not None:
                bar.update(sum(len(rows) for rows in result.values()))
        return out

    def __enter__(self) -> ShardPool:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if exc_type is None:
            pool.close()  # a clean exit: terminating spawned workers leaks their semaphores
        else:
            pool.terminate()
        pool.join()


def score_sharded(model: HyenaDNA, fasta: str | os.PathLike, variants: Sequence[Variant], indices: Sequence[int],
                  contig: dict[int, str], window: int, *, batch_size: int | None, embedding_distance: bool,
                  workers: int,
                  devices: Sequence[str] | None, bar: tqdm | None = None) -> dict[int, list[AlleleScore]]:
    """Like :func:`~.regions.score_regions`, over ``max(workers, len(devices))`` processes (:class:`ShardPool`)."""
    with ShardPool(model, fasta, window, batch_size=batch_size, embedding_distance=embedding_distance,
                   workers=workers, devices=devices) as pool:
        return pool.score(variants, indices, contig, bar)

"""``fasta_per_class`` layout: class name -> FASTA file(s), optional explicit test/valid files."""

from __future__ import annotations

from ...data.fasta import read_fasta
from ..task import SPLITS
from .pool import Pool, as_paths, check_declared_class


def read_fasta_per_class(inp, *, kind, declared, seed, source):
    """Split -> records (None for a split the layout does not give) and the target names (None for classification)."""
    pools: dict[str, Pool | None] = {}
    for split in SPLITS:
        files = inp.get(split)
        if files is None:
            pools[split] = None
            continue
        pool = Pool()
        for label, value in files.items():
            label = str(label)
            for path in as_paths(value):
                check_declared_class(label, declared, f"{path} (class {label!r} of task.input.{split})")
                for i, (name, seq) in enumerate(read_fasta(path), 1):
                    pool.add(name, seq, label, f"{path}, record {i} ({name})")
        pools[split] = pool
    return pools, None

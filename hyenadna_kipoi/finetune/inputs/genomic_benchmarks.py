"""``genomic_benchmarks`` layout: ``FOLDER/{train,test[,valid]}/<class>/*.txt``, one sequence per file."""

from __future__ import annotations

from pathlib import Path

from ...errors import InputError
from ..task import SPLITS
from .pool import Pool, check_declared_class


def read_genomic_benchmarks(inp, *, kind, declared, seed, source):
    """Split -> records (None for a split the layout does not give) and the target names (None for classification)."""
    folder = Path(inp["folder"])
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder (task.input.folder of a genomic_benchmarks task)")
    if not (folder / "train").is_dir():
        raise InputError(f"{folder}: no train/ folder; the layout is FOLDER/train/<class>/*.txt (and test/, valid/)")
    pools: dict[str, Pool | None] = {}
    for split in SPLITS:
        base = folder / split
        if not base.is_dir():
            pools[split] = None
            continue
        pool = Pool()
        classes = sorted(p for p in base.iterdir() if p.is_dir())
        if not classes:
            raise InputError(f"{base}: no class folders (expected {base}/<class>/*.txt)")
        for class_dir in classes:
            check_declared_class(class_dir.name, declared, f"{class_dir}")
            files = sorted(class_dir.glob("*.txt"))
            if not files:
                raise InputError(f"{class_dir}: class folder holds no sequences (*.txt files)")
            for path in files:
                seq = "".join(path.read_text().split())
                pool.add(f"{class_dir.name}/{path.stem}", seq, class_dir.name, str(path))
        pools[split] = pool
    return pools, None

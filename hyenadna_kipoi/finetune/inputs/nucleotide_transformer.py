"""``nucleotide_transformer`` layout: CSV with ``sequence,label`` (optional ``name``), or FASTA ``>name|label``."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

from ...data.fasta import read_fasta
from ...data.genome import fasta_compression
from ...errors import InputError
from ..task import SPLITS
from .labels import parse_value
from .pool import Pool, check_declared_class

csv.field_size_limit(2**31 - 1)  # sequences of a long-context task exceed csv's default 131,072 characters


def _open_text(path: Path):
    if not path.exists():
        raise InputError(f"{path}: no such file")
    # utf-8-sig: a CSV saved by a spreadsheet starts with a byte-order mark
    if fasta_compression(path) != "plain":
        return io.TextIOWrapper(gzip.open(path), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _rows(reader, path: Path):
    """``(line number, row)`` of a CSV reader; a malformed CSV is an :class:`InputError` naming the line."""
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as err:
        raise InputError(f"{path}, line {reader.line_num}: not valid CSV ({err})") from None


def read_nucleotide_transformer(inp, *, kind, declared, seed, source):
    """Split -> records (None for a split the layout does not give) and the target names (None for classification)."""
    pools: dict[str, Pool | None] = {}
    for split in SPLITS:
        if inp.get(split) is None:
            pools[split] = None
            continue
        path, pool = Path(inp[split]), Pool()
        with _open_text(path) as handle:
            first = handle.read(1)
        if first == ">":
            for i, (name, seq) in enumerate(read_fasta(path), 1):
                where = f"{path}, record {i} ({name})"
                if "|" not in name:
                    raise InputError(f"{where}: header must be >name|label")
                id_, text = name.rsplit("|", 1)
                label = parse_value(text, kind, where)
                if kind == "classification":
                    check_declared_class(label, declared, where)
                pool.add(id_, seq, label, where)
        else:
            with _open_text(path) as handle:
                reader = csv.reader(handle)
                rows = _rows(reader, path)
                _, header = next(rows, (1, None))
                if header is None:
                    raise InputError(f"{path}: empty file; expected a CSV header with sequence,label")
                header = [h.strip() for h in header]
                missing = [c for c in ("sequence", "label") if c not in header]
                if missing:
                    raise InputError(f"{path}, line 1: the CSV header lacks column(s) {', '.join(missing)} "
                                     f"(found {', '.join(header)})")
                col = {c: header.index(c) for c in ("sequence", "label", "name") if c in header}
                for lineno, row in rows:
                    if not row or not "".join(row).strip():
                        continue
                    where = f"{path}, line {lineno}"
                    if len(row) != len(header):
                        raise InputError(f"{where}: {len(row)} columns, the header has {len(header)}")
                    label = parse_value(row[col["label"]], kind, where)
                    if kind == "classification":
                        check_declared_class(label, declared, where)
                    name = row[col["name"]].strip() if "name" in col else f"{split}_{lineno - 1}"
                    pool.add(name, row[col["sequence"]].strip(), label, where)
            if not len(pool):
                raise InputError(f"{path}: no sequences (only a header)")
        pools[split] = pool
    return pools, (None if kind == "classification" else ["label"])

"""The records of one split before labels are encoded, and small helpers shared by the layout readers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ...errors import InputError
from ...tokenizer import encode


@dataclass
class Pool:
    """Records of one split before labels are encoded; ``where[i]`` names record i's origin for errors."""

    ids: list[str] = field(default_factory=list)
    seqs: list[str] = field(default_factory=list)
    labels: list[Any] = field(default_factory=list)  # class name, or a list of floats per target
    where: list[str] = field(default_factory=list)

    def add(self, id_: str, seq: str, label: Any, where: str) -> None:
        if not seq:
            raise InputError(f"{where}: empty sequence")
        try:
            encode(seq)  # found now rather than at the first batch holding the record (or after training)
        except InputError as err:
            raise InputError(f"{where}: {err}") from None
        self.ids.append(id_)
        self.seqs.append(seq.upper())
        self.labels.append(label)
        self.where.append(where)

    def take(self, index: Iterable[int]) -> Pool:
        index = list(index)
        return Pool(*([getattr(self, f)[i] for i in index] for f in ("ids", "seqs", "labels", "where")))

    def __len__(self) -> int:
        return len(self.seqs)


def as_paths(value: str | list[str]) -> list[Path]:
    """One path or a list of paths (a config value) as a list of :class:`Path`."""
    return [Path(p) for p in ([value] if isinstance(value, str) else value)]


def check_declared_class(label: str, declared: list[str] | None, where: str) -> None:
    """Raise :class:`InputError` at ``where`` when ``label`` is empty, holds '/' (labels name output
    columns and HDF5 keys) or is not among the declared labels."""
    if not label or "/" in label:
        raise InputError(f"{where}: class label {label!r} is empty or contains '/' (labels name output columns)")
    if declared is not None and label not in declared:
        raise InputError(f"{where}: label {label!r} is not in the declared task.labels ({', '.join(declared)})")

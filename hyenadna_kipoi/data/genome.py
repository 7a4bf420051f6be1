"""Random access to a reference FASTA (pyfaidx) with contig-name aliasing, and BED reading."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pyfaidx

from ..errors import InputError

_MITO = ("chrM", "MT", "chrMT", "M")


def contig_aliases(name: str) -> list[str]:
    """Other spellings of a contig name: ``chr1`` <-> ``1``, ``chrM`` <-> ``MT``."""
    if name in _MITO:
        return [n for n in _MITO if n != name]
    return [name[3:]] if name.startswith("chr") else ["chr" + name]


@dataclass(frozen=True)
class Interval:
    """A 0-based, half-open genomic interval ``[start, end)`` with an optional name."""

    chrom: str
    start: int
    end: int
    name: str = ""
    strand: str = "+"

    @property
    def label(self) -> str:
        return self.name or f"{self.chrom}:{self.start + 1}-{self.end}"


class Genome:
    """An indexed reference FASTA. Contig names are resolved through :func:`contig_aliases`.

    Bases outside a contig are returned as ``N`` when ``pad=True``.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"{self.path}: no such FASTA file")
        try:
            self._fasta = pyfaidx.Fasta(str(self.path), as_raw=True, sequence_always_upper=False, rebuild=False)
        except (pyfaidx.FastaIndexingError, pyfaidx.UnsupportedCompressionFormat, OSError, ValueError) as err:
            raise InputError(
                f"{self.path}: cannot index the FASTA ({err}); it must be plain or bgzip-compressed "
                "and its folder writable for the .fai index"
            ) from None

    @property
    def contigs(self) -> dict[str, int]:
        """Contig name -> length in bases."""
        return {name: len(record) for name, record in self._fasta.items()}

    def resolve(self, chrom: str) -> str | None:
        """The name under which ``chrom`` (or an alias of it) is in this FASTA, else None."""
        if chrom in self._fasta:
            return chrom
        return next((alias for alias in contig_aliases(chrom) if alias in self._fasta), None)

    def fetch(self, chrom: str, start: int, end: int, *, pad: bool = False) -> str:
        """Bases ``[start, end)`` (0-based) of ``chrom``; outside the contig: ``N`` with ``pad``, else an error."""
        name = self.resolve(chrom)
        if name is None:
            raise InputError(f"contig {chrom!r} is not in {self.path} (nor any alias: {', '.join(contig_aliases(chrom))})")
        length = len(self._fasta[name])
        if not pad and (start < 0 or end > length):
            raise InputError(f"{chrom}:{start}-{end} lies outside the contig (length {length}) in {self.path}")
        left, right = max(start, 0), min(end, length)
        core = self._fasta[name][left:right] if right > left else ""
        return "N" * (left - start) + core + "N" * max(0, end - max(right, start))

    def close(self) -> None:
        self._fasta.close()


def read_bed(path: str | os.PathLike) -> Iterator[Interval]:
    """Intervals of a BED file (3+ columns; name and strand from columns 4 and 6 when present).

    Header, ``track`` and ``browser`` lines are skipped. Errors name the line.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such BED file")
    with open(path) as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 3:
                raise InputError(f"{path}, line {lineno}: a BED line needs at least 3 tab-separated columns")
            try:
                start, end = int(cols[1]), int(cols[2])
            except ValueError:
                raise InputError(f"{path}, line {lineno}: start and end must be integers, got {cols[1]!r}, {cols[2]!r}") from None
            if start < 0 or end <= start:
                raise InputError(f"{path}, line {lineno}: need 0 <= start < end, got {start}, {end}")
            strand = cols[5] if len(cols) > 5 and cols[5] in "+-" and cols[5] else "+"
            yield Interval(cols[0], start, end, cols[3] if len(cols) > 3 else "", strand)

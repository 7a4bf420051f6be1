"""Random access to a reference FASTA with contig-name aliasing, assembly gaps, and BED reading.

Plain FASTA is read through pyfaidx; bgzip-compressed FASTA through pysam (htslib),
since pyfaidx needs Biopython for BGZF. Plain gzip cannot be read at random: it is an
error that says how to convert it (``hyenadna download-genome`` does it for you).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyfaidx
import pysam

from ..errors import InputError

_MITO = ("chrM", "MT", "chrMT", "M")
GAP_SCAN_CHUNK = 1 << 23  # bases read at a time when looking for N runs

# bytes that are not A/C/G/T (either case): N, IUPAC codes, anything else
_NOT_ACGT = np.ones(256, dtype=bool)
_NOT_ACGT[[ord(c) for c in "ACGTacgt"]] = False


def contig_aliases(name: str) -> list[str]:
    """Other spellings of a contig name: ``chr1`` <-> ``1``, ``chrM`` <-> ``MT``."""
    if name in _MITO:
        return [n for n in _MITO if n != name]
    return [name[3:]] if name.startswith("chr") else ["chr" + name]


@dataclass(frozen=True)
class Interval:
    """A 0-based, half-open genomic interval ``[start, end)`` with an optional name.

    ``line`` is the 1-based line of the BED file it came from (0 when not read from a file);
    it does not take part in comparisons.
    """

    chrom: str
    start: int
    end: int
    name: str = ""
    strand: str = "+"
    line: int = field(default=0, compare=False, repr=False)

    @property
    def label(self) -> str:
        return self.name or f"{self.chrom}:{self.start + 1}-{self.end}"

    def __len__(self) -> int:
        return self.end - self.start


def fasta_compression(path: str | os.PathLike) -> str:
    """``"plain"``, ``"bgzip"`` or ``"gzip"``, from the file's first bytes."""
    with open(path, "rb") as handle:
        head = handle.read(18)
    if head[:2] != b"\x1f\x8b":
        return "plain"
    # BGZF: a gzip member with the FEXTRA flag whose extra field is the 'BC' subfield
    return "bgzip" if len(head) >= 14 and head[3] & 4 and head[12:14] == b"BC" else "gzip"


def _header_lines(path: Path, name: str) -> list[int]:
    """1-based line numbers of the FASTA headers whose name is ``name`` (for error messages)."""
    opener = gzip.open if fasta_compression(path) != "plain" else open
    found = []
    with opener(path, "rb") as handle:
        for lineno, line in enumerate(handle, 1):
            if line.startswith(b">") and line[1:].split(None, 1)[0].decode(errors="replace") == name:
                found.append(lineno)
    return found


class _PyfaidxReader:
    """Plain FASTA via pyfaidx."""

    def __init__(self, path: Path):
        self._fasta = pyfaidx.Fasta(str(path), as_raw=True, sequence_always_upper=False, rebuild=False)
        self.lengths = {name: len(record) for name, record in self._fasta.items()}

    def fetch(self, name: str, start: int, end: int) -> str:
        return self._fasta[name][start:end]

    def close(self) -> None:
        self._fasta.close()


class _PysamReader:
    """bgzip-compressed FASTA via pysam/htslib (``.fai`` + ``.gzi`` index)."""

    def __init__(self, path: Path):
        fresh = not Path(str(path) + ".fai").exists()
        self._fasta = pysam.FastaFile(str(path))
        self.lengths = dict(zip(self._fasta.references, self._fasta.lengths))
        if fresh:  # htslib keeps the first of duplicated names silently: check once, when indexing
            seen: set[str] = set()
            for name, _ in _iter_headers(path):
                if name in seen:
                    self._fasta.close()
                    Path(str(path) + ".fai").unlink(missing_ok=True)
                    raise pyfaidx.FastaIndexingError(f'Duplicate key "{name}"')
                seen.add(name)

    def fetch(self, name: str, start: int, end: int) -> str:
        return self._fasta.fetch(name, start, end)

    def close(self) -> None:
        self._fasta.close()


def _iter_headers(path: Path) -> Iterator[tuple[str, int]]:
    with pysam.FastxFile(str(path)) as handle:
        for i, record in enumerate(handle):
            yield record.name, i


class Genome:
    """An indexed reference FASTA (plain or bgzip). Contig names are resolved through :func:`contig_aliases`.

    The ``.fai`` index is built beside the FASTA when missing. Bases outside a contig
    are returned as ``N`` when ``pad=True``. Errors name the file, and for duplicated
    record names the record and its lines.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"{self.path}: no such FASTA file")
        compression = fasta_compression(self.path)
        if compression == "gzip":
            raise InputError(
                f"{self.path}: plain gzip cannot be read at random positions; decompress it (gunzip -k), "
                "recompress it with bgzip, or let `hyenadna download-genome` prepare it"
            )
        index = Path(str(self.path) + ".fai")
        had_index = index.exists()
        try:
            self._reader = _PysamReader(self.path) if compression == "bgzip" else _PyfaidxReader(self.path)
        except (pyfaidx.FastaIndexingError, OSError, ValueError) as err:
            if not had_index and index.is_file():  # a half-built index would hide the problem next time
                index.unlink()
            message = str(err)
            if "Duplicate key" in message:
                name = message.split('"')[1] if '"' in message else message
                lines = _header_lines(self.path, name)
                where = f" (lines {', '.join(map(str, lines))})" if lines else ""
                raise InputError(
                    f"{self.path}: record name {name!r} occurs more than once{where}; FASTA record names "
                    "must be unique. Rename or remove the duplicates"
                ) from None
            hint = "" if had_index else f"; the index {index.name} is missing and could not be built there"
            raise InputError(
                f"{self.path}: cannot index the FASTA ({message}){hint}. It must be plain or bgzip-compressed "
                "and its folder writable for the .fai index"
            ) from None

    def __enter__(self) -> Genome:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def contigs(self) -> dict[str, int]:
        """Contig name -> length in bases, in file order."""
        return dict(self._reader.lengths)

    def resolve(self, chrom: str) -> str | None:
        """The name under which ``chrom`` (or an alias of it) is in this FASTA, else None."""
        lengths = self._reader.lengths
        if chrom in lengths:
            return chrom
        return next((alias for alias in contig_aliases(chrom) if alias in lengths), None)

    def _resolve_or_raise(self, chrom: str) -> str:
        name = self.resolve(chrom)
        if name is None:
            raise InputError(f"contig {chrom!r} is not in {self.path} (nor any alias: {', '.join(contig_aliases(chrom))})")
        return name

    def fetch(self, chrom: str, start: int, end: int, *, pad: bool = False) -> str:
        """Bases ``[start, end)`` (0-based) of ``chrom``; outside the contig: ``N`` with ``pad``, else an error."""
        name = self._resolve_or_raise(chrom)
        length = self._reader.lengths[name]
        if not pad and (start < 0 or end > length):
            raise InputError(f"{chrom}:{start}-{end} lies outside the contig (length {length}) in {self.path}")
        left, right = max(start, 0), min(end, length)
        core = self._reader.fetch(name, left, right) if right > left else ""
        return "N" * (left - start) + core + "N" * max(0, end - max(right, start))

    def gaps(self, min_length: int = 1, chroms: list[str] | None = None) -> Iterator[Interval]:
        """Runs of non-ACGT bases (N, IUPAC codes) at least ``min_length`` long, in file order.

        These are the assembly gaps to keep out of training windows. Reads each contig
        in chunks of 8 Mb, so memory stays flat on large genomes.
        """
        for name in chroms or list(self._reader.lengths):
            name = self._resolve_or_raise(name)
            length = self._reader.lengths[name]
            carry = None  # start of a run that reached the end of the previous chunk
            for offset in range(0, length, GAP_SCAN_CHUNK):
                chunk = self._reader.fetch(name, offset, min(offset + GAP_SCAN_CHUNK, length)).encode("ascii", "replace")
                bad = _NOT_ACGT[np.frombuffer(chunk, dtype=np.uint8)]
                edges = (np.flatnonzero(np.diff(bad.astype(np.int8), prepend=0, append=0)) + offset).tolist()
                runs = list(zip(edges[0::2], edges[1::2]))
                if carry is not None:
                    if runs and runs[0][0] == offset:
                        runs[0] = (carry, runs[0][1])
                    else:
                        if offset - carry >= min_length:
                            yield Interval(name, carry, offset, "gap")
                    carry = None
                for s, e in runs:
                    if e == offset + len(bad) and e < length:
                        carry = s
                    elif e - s >= min_length:
                        yield Interval(name, s, e, "gap")

    def close(self) -> None:
        self._reader.close()


def bed_span(cols: list[str], where: str) -> tuple[int, int]:
    """``(start, end)`` of a split BED line's columns 2-3; :class:`InputError` at ``where`` when they are
    not integers with ``0 <= start < end``."""
    try:
        start, end = int(cols[1]), int(cols[2])
    except ValueError:
        raise InputError(f"{where}: start and end must be integers, got {cols[1]!r}, {cols[2]!r}") from None
    if start < 0 or end <= start:
        raise InputError(f"{where}: need 0 <= start < end, got {start}, {end}")
    return start, end


def bed_lines(path: Path) -> Iterator[tuple[int, list[str], bool]]:
    """``(line number, tab-separated columns, is_header)`` for each line of a BED file.

    Blank, ``track`` and ``browser`` lines are skipped. A header is a ``#`` line or a
    column-name line without ``#`` (first column ``chrom``, ``chr`` or ``chromosome``).
    The one place BED lines are split; :func:`bed_span` reads their start and end.
    """
    with open(path) as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip() or line.startswith(("track", "browser")):
                continue
            cols = line.rstrip("\r\n").split("\t")
            yield lineno, cols, line.startswith("#") or cols[0].strip().lower() in ("chrom", "chr", "chromosome")


def read_bed(path: str | os.PathLike) -> Iterator[Interval]:
    """Intervals of a BED file (3+ columns; name and strand from columns 4 and 6 when present).

    Header, ``track`` and ``browser`` lines are skipped (:func:`bed_lines`). Errors name
    the line; each interval remembers its line (``Interval.line``).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such BED file")
    for lineno, cols, header in bed_lines(path):
        if header:
            continue
        if len(cols) < 3:
            raise InputError(f"{path}, line {lineno}: a BED line needs at least 3 tab-separated columns")
        start, end = bed_span(cols, f"{path}, line {lineno}")
        strand = cols[5] if len(cols) > 5 and cols[5] in "+-" and cols[5] else "+"
        yield Interval(cols[0], start, end, cols[3] if len(cols) > 3 else "", strand, lineno)


def recentre(start: int, end: int, length: int) -> tuple[int, int]:
    """The ``length``-base interval centred on ``[start, end)`` (0-based, half-open)."""
    start = (start + end) // 2 - length // 2
    return start, start + length


def check_intervals(intervals: list[Interval], genome: Genome, source: str | os.PathLike) -> tuple[list[Interval], list[str]]:
    """Split ``intervals`` into those that lie on ``genome`` (chrom renamed to the FASTA's name) and problems.

    Each problem is one line naming the BED file, line, interval and what is wrong
    (unknown contig, or end past the contig's length).
    """
    good, problems = [], []
    for iv in intervals:
        name = genome.resolve(iv.chrom)
        where = f"{source}, line {iv.line}: {iv.chrom}:{iv.start}-{iv.end}"
        if name is None:
            problems.append(f"{where}: contig {iv.chrom!r} is not in {genome.path}")
        elif iv.end > genome.contigs[name]:
            problems.append(f"{where}: ends past the contig's end ({name} has {genome.contigs[name]:,} bases)")
        else:
            good.append(Interval(name, iv.start, iv.end, iv.name, iv.strand, iv.line))
    return good, problems


class LazyGenome:
    """A :class:`Genome` opened on first use in each process.

    File handles shared across ``fork()`` (DataLoader workers) would interleave their
    seeks, so each process opens its own; pickling drops the handle.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).resolve()
        self._genome: Genome | None = None
        self._pid = -1

    def get(self) -> Genome:
        if self._genome is None or self._pid != os.getpid():
            self._genome, self._pid = Genome(self.path), os.getpid()
        return self._genome

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "_genome": None, "_pid": -1}

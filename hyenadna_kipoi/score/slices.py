"""Slices of one VCF: ``--chunk K/N`` and ``--regions``, so that one job scores part of a VCF.

The rules:

* ``--chunk K/N`` of a VCF read from its start (plain, gzip or bgzip text without a ``.tbi``,
  BCF): the records are numbered 0 .. n-1 in file order (n counted in one streaming pass that
  does not parse them); slice ``K`` holds records ``(K-1)*n//N`` to ``K*n//N - 1``, so the N
  slices are contiguous, disjoint, cover every record and differ in size by at most one record
  (with N > n some are empty). Each pass (the count, the slice) costs about 2 s per 10^6
  records on this project's CPU.
* ``--chunk K/N`` of a bgzipped VCF with a ``.tbi``: the file is cut at N-1 positions read from
  the index (:func:`.tabix_index.chunk_bounds`: window starts where about k/N of the file lies
  before), and slice ``K`` holds the records from boundary K-1 up to boundary K, read through
  the index: contiguous and disjoint as well, records at one POS together, about equal sizes
  (the finer, the larger the file), and only the slice is read.
* ``--regions chr:start-end[,...]``: the records whose CHROM is written as a region's contig and
  whose POS lies in ``start..end`` (1-based, both ends included; a record in two regions counts
  once); read through the index when the VCF is bgzipped with a ``.tbi`` or ``.csi``.

Every slice keeps the VCF's header (every line before the first record); any other non-record
line (a blank or ``#`` line between records) goes with the record before it. A slice's outputs
are therefore exactly the matching rows and lines of the whole run, and the N chunks' outputs,
concatenated without the repeated headers (:mod:`.gather`), are the whole run's. Read from its
start, the file's errors keep their exact line, and a record outside the slice is skipped
without being parsed (its errors are its own slice's); read through an index, errors name the
record's position, and ``#`` lines between records (which tabix skips) are not kept.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from ..errors import InputError
from .tabix_index import chunk_bounds, contig_names
from .vcf_io import Select, Variant, count_records, has_tabix_index, indexed_lines, vcf_lines

_CHUNK = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_REGION = re.compile(r"^(?P<chrom>[^:\s]+):(?P<start>[\d,]+)-(?P<end>[\d,]+)$")


def parse_region(region: str) -> tuple[str, int, int]:
    """``chr1:1,001-1,100`` -> (``chr1``, 1001, 1100): 1-based, both ends included."""
    match = _REGION.match(region.strip())
    if not match:
        raise InputError(f"region {region!r} is not of the form chrom:start-end (1-based, inclusive), "
                         "e.g. chr1:1001-1100")
    start, end = (int(match[k].replace(",", "")) for k in ("start", "end"))
    if not 1 <= start <= end:
        raise InputError(f"region {region!r}: need 1 <= start <= end")
    return match["chrom"], start, end


@dataclass(frozen=True)
class Chunk:
    """Slice ``k`` (1-based) of ``n`` equal parts of a VCF's records."""

    k: int
    n: int

    def __str__(self) -> str:
        return f"{self.k}/{self.n}"

    def bounds(self, n_records: int) -> tuple[int, int]:
        """0-based record ordinals ``[lo, hi)`` of this slice of ``n_records`` records."""
        return (self.k - 1) * n_records // self.n, self.k * n_records // self.n


def parse_chunk(text: str) -> Chunk:
    """``"2/8"`` -> ``Chunk(2, 8)``; raises :class:`InputError` unless ``1 <= K <= N``."""
    match = _CHUNK.match(text)
    if not match:
        raise InputError(f"--chunk {text!r} is not of the form K/N (the K-th of N slices, e.g. 2/8)")
    k, n = int(match[1]), int(match[2])
    if not 1 <= k <= n:
        raise InputError(f"--chunk {text!r}: need 1 <= K <= N")
    return Chunk(k, n)


def parse_regions(text: str) -> tuple[tuple[str, int, int], ...]:
    """``"chr1:1-1000,chr2:5,001-6,000"`` -> ((chrom, start, end), ...), 1-based, both ends included."""
    parts = re.split(r",(?=[^,:]+:)", text.strip())  # commas inside numbers (5,001) are kept
    if not text.strip():
        raise InputError("--regions is empty; give chrom:start-end[,chrom:start-end...]")
    return tuple(parse_region(part) for part in parts)


def slice_selector(vcf: str | os.PathLike, chunk: Chunk | None = None,
                   regions: Sequence[tuple[str, int, int]] | None = None) -> Select | None:
    """The record selector (:data:`.vcf_io.Select`) of a slice of ``vcf``; None for the whole VCF.

    ``chunk`` counts the records first (one streaming pass); ``chunk`` and ``regions`` cannot be
    combined.
    """
    if chunk is not None and regions:
        raise InputError("give --chunk or --regions, not both")
    if chunk is not None:
        lo, hi = chunk.bounds(count_records(vcf))
        return lambda ordinal, chrom, pos: lo <= ordinal < hi
    if regions:
        by_contig: dict[str, list[tuple[int, int]]] = {}
        for chrom, start, end in regions:
            by_contig.setdefault(chrom, []).append((start, end))

        def in_regions(ordinal: int, chrom: str, pos: int | None) -> bool:
            spans = by_contig.get(chrom)
            if spans is None:
                return False
            return pos is None or any(start <= pos <= end for start, end in spans)  # unplaceable: let it fail

        return in_regions
    return None


def _region_spans(regions: Sequence[tuple[str, int, int]]) -> dict[str, list[tuple[int, int | None]]]:
    """Contig -> its regions merged (overlapping or adjacent ones joined), in increasing order."""
    spans: dict[str, list[tuple[int, int | None]]] = {}
    for chrom, start, end in sorted(regions):
        merged = spans.setdefault(chrom, [])
        last = merged[-1] if merged else None
        if last is not None and last[1] is not None and start <= last[1] + 1:
            merged[-1] = (last[0], max(last[1], end))
        else:
            merged.append((start, end))
    return spans


def _chunk_spans(vcf: str | os.PathLike, chunk: Chunk) -> dict[str, list[tuple[int, int | None]]]:
    """Contig -> the POS range of slice ``chunk`` of a VCF with a ``.tbi``, from :func:`.tabix_index.chunk_bounds`."""
    names = contig_names(vcf)
    (lo_rank, lo_pos), (hi_rank, hi_pos) = chunk_bounds(vcf, chunk.n)[chunk.k - 1:chunk.k + 1]
    spans: dict[str, list[tuple[int, int | None]]] = {}
    for rank in range(lo_rank, min(hi_rank, len(names) - 1) + 1):
        start = lo_pos if rank == lo_rank else 0
        end = hi_pos - 1 if rank == hi_rank else None
        if end is None or end >= start:
            spans[names[rank]] = [(start, end)]
    return spans


def slice_lines(vcf: str | os.PathLike, chunk: Chunk | None = None,
                regions: Sequence[tuple[str, int, int]] | None = None) -> Iterator[tuple[Variant | None, str]]:
    """The lines of ``vcf``'s slice (the whole VCF when neither is given), as :func:`.vcf_io.vcf_lines` yields them.

    A bgzipped VCF with a tabix index is read through the index, so the job reads only its slice
    (errors then name the record's position: the index does not know line numbers): ``regions``
    with a ``.tbi`` or ``.csi``, ``chunk`` with a ``.tbi`` (boundaries from its linear index,
    :func:`.tabix_index.chunk_bounds`). Every other slice is read from the start of the file.
    """
    if chunk is not None and regions:
        raise InputError("give --chunk or --regions, not both")
    if regions and has_tabix_index(vcf):
        return indexed_lines(vcf, _region_spans(regions))
    if chunk is not None and has_tabix_index(vcf) and Path(f"{vcf}.tbi").is_file():
        return indexed_lines(vcf, _chunk_spans(vcf, chunk))
    return vcf_lines(vcf, slice_selector(vcf, chunk, regions))

"""Slices of one VCF: ``--chunk K/N`` and ``--regions``, so that one job scores part of a VCF.

The rule, one for every input (plain, gzip or bgzip text VCF, BCF):

* ``--chunk K/N``: the records are numbered 0 .. n-1 in file order (n counted in one streaming
  pass that does not parse them); slice ``K`` holds records ``(K-1)*n//N`` to ``K*n//N - 1``, so
  the N slices are contiguous, disjoint, cover every record and differ in size by at most one
  record (with N > n some are empty).
* ``--regions chr:start-end[,...]``: the records whose CHROM is written as a region's contig and
  whose POS lies in ``start..end`` (1-based, both ends included; a record in two regions counts
  once). Regions need not cover the VCF.

Every slice keeps the VCF's header (every line before the first record); any other non-record
line (a blank or ``#`` line between records) goes with the record before it. A slice's outputs
are therefore exactly the matching rows and lines of the whole run, and the N chunks' outputs,
concatenated without the repeated headers (:mod:`.gather`), are the whole run's. The file is
read from its start, so an error still names its exact line; a record outside the slice is
skipped without being parsed (its errors are its own slice's). Each pass (the count, the
slice) costs about 2 s per 10^6 records on this project's CPU. The exception: ``--regions`` of
a bgzipped VCF with a tabix index are read through the index (only the regions are read; errors
name the record's position; ``#`` lines between records, which tabix skips, are not kept).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Iterator, Sequence

from ..errors import InputError
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


def slice_lines(vcf: str | os.PathLike, chunk: Chunk | None = None,
                regions: Sequence[tuple[str, int, int]] | None = None) -> Iterator[tuple[Variant | None, str]]:
    """The lines of ``vcf``'s slice (the whole VCF when neither is given), as :func:`.vcf_io.vcf_lines` yields them.

    ``regions`` of a bgzipped VCF with a tabix index (.tbi/.csi) are read through the index, so the job
    reads only them (errors then name the record's position: the index does not know line numbers);
    every other slice is read from the start of the file.
    """
    if regions and chunk is None and has_tabix_index(vcf):
        return indexed_lines(vcf, regions)
    return vcf_lines(vcf, slice_selector(vcf, chunk, regions))

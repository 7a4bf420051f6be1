"""Where a tabix-indexed VCF's records lie, from its ``.tbi`` alone: slice boundaries without reading the VCF.

A ``.tbi`` (BGZF-compressed) lists the contigs in file order and, per contig, a linear index: for
each 16,384-base window the virtual file offset of the first record overlapping it. The offset
of window ``w`` estimates how much of the file lies before position ``w * 16384 + 1``, so
:func:`chunk_bounds` cuts the file into N parts of about equal size at window starts: every
record at one POS falls in one part, and parts hold about equal numbers of records when records
have about equal lengths (more precisely the larger the file: offsets are known per BGZF block,
~64 KiB of text).
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

from ..errors import InputError

WINDOW = 1 << 14  # bases per linear-index window
BLOCK = 0xFF00  # bytes of text per full BGZF block


def read_tbi(path: str | os.PathLike) -> list[tuple[str, list[int]]]:
    """(contig, virtual offset of each 16 kb window's first record) for each contig of a ``.tbi``, in file order."""
    path = Path(path)
    try:
        data = gzip.open(path, "rb").read()
        if data[:4] != b"TBI\x01":
            raise ValueError("no TBI magic")
        n_ref = struct.unpack_from("<i", data, 4)[0]
        l_nm = struct.unpack_from("<i", data, 32)[0]
        names = data[36:36 + l_nm].split(b"\0")[:n_ref]
        at = 36 + l_nm
        contigs = []
        for name in names:
            (n_bin,) = struct.unpack_from("<i", data, at)
            at += 4
            for _ in range(n_bin):
                (n_chunk,) = struct.unpack_from("<i", data, at + 4)
                at += 8 + 16 * n_chunk
            (n_intv,) = struct.unpack_from("<i", data, at)
            at += 4
            contigs.append((name.decode(), list(struct.unpack_from(f"<{n_intv}Q", data, at))))
            at += 8 * n_intv
        return contigs
    except (OSError, EOFError, ValueError, struct.error) as err:
        raise InputError(f"{path}: not a readable tabix index ({err})") from None


def chunk_bounds(vcf: str | os.PathLike, n: int) -> list[tuple[int, int]]:
    """N+1 boundaries (contig rank in file order, POS): part K holds the records at or after boundary K-1 and
    before boundary K (``(0, 0)`` is the start, ``(n_contigs, 0)`` the end), each part about 1/N of the file."""
    contigs = read_tbi(f"{vcf}.tbi")
    size = Path(vcf).stat().st_size
    offsets = sorted({v >> 16 for _, windows in contigs for v in windows})
    # bytes of file per byte of text, from the distance between BGZF blocks (to place offsets inside a block)
    ratio = (offsets[-1] - offsets[0]) / ((len(offsets) - 1) * BLOCK) if len(offsets) > 1 else 0.0
    marks = [((v >> 16) + (v & 0xFFFF) * ratio, rank, w * WINDOW + 1)
             for rank, (_, windows) in enumerate(contigs) for w, v in enumerate(windows) if w or rank]
    bounds = [(0, 0)]
    i = 0
    for k in range(1, n):
        target = size * k / n
        while i < len(marks) and marks[i][0] < target:
            i += 1
        bounds.append(marks[i][1:] if i < len(marks) else (len(contigs), 0))
    return bounds + [(len(contigs), 0)]


def contig_names(vcf: str | os.PathLike) -> list[str]:
    """The contigs of a tabix-indexed VCF, in file order."""
    return [name for name, _ in read_tbi(f"{vcf}.tbi")]

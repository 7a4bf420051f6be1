"""Streaming FASTA reading (plain, gzip or bgzip) through pysam."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pysam

from ..errors import InputError


def read_fasta(path: str | os.PathLike) -> Iterator[tuple[str, str]]:
    """Yield ``(name, sequence)`` for every record of a FASTA file, in file order.

    ``name`` is the header up to the first whitespace. Raises :class:`InputError`
    for a missing file or one that is not FASTA.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such FASTA file")
    count = 0
    try:
        with pysam.FastxFile(str(path)) as handle:
            for record in handle:
                if record.quality is not None:
                    raise InputError(f"{path}: record {count + 1} ({record.name}) is FASTQ, not FASTA")
                count += 1
                yield record.name, record.sequence or ""
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: cannot read as FASTA after {count} record(s): {err}") from None
    if count == 0:
        raise InputError(f"{path}: no FASTA records found (is it empty, or not FASTA?)")

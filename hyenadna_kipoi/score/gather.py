"""Merge the outputs of ``score-variants --chunk K/N`` jobs into the whole run's outputs.

Each chunk's TSV is the table header plus its rows, each chunk's annotated VCF the (annotated)
header plus its records (:mod:`.slices`). The merge writes the header once and every chunk's rows
and records after it, in the order given (slice order), through the same writers as an unscattered
run (:func:`.vcf_io.annotated_vcf`: bgzip, and a tabix index when the records are sorted), so the
TSV, the ``.vcf.gz`` and its ``.tbi`` are byte for byte those of ``score-variants`` on the whole
VCF. Every input is checked before anything is written; the outputs appear (renamed from
temporary names) only when all chunks were read, so a missing or broken chunk leaves no merged
output.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator, Sequence

from ..errors import InputError
from ..io import atomic_open
from .regions import STATUSES
from .vcf_io import AnnotatedVcfWriter, annotated_vcf, check_vcf_output, vcf_lines


@dataclass
class Gathered:
    """What :func:`gather_variants` merged: chunk count, records, rows, status counts, files, seconds."""

    chunks: int
    n_records: int | None  # from the VCFs (None when no VCF was gathered)
    n_alleles: int | None  # TSV rows (None when no TSV was gathered)
    counts: dict[str, int] | None
    outputs: list[Path]
    vcf_index: Path | None
    seconds: float

    def summary(self) -> str:
        """One line, e.g. ``18 alleles of 15 records from 3 chunks in 0.1 s: OK 9, EDGE 2, ...``."""
        what = " of ".join(part for part in (
            f"{self.n_alleles} alleles" if self.n_alleles is not None else "",
            f"{self.n_records} records" if self.n_records is not None else "") if part)
        counts = ": " + ", ".join(f"{k} {v}" for k, v in self.counts.items()) if self.counts is not None else ""
        return f"{what} from {self.chunks} chunks in {self.seconds:.1f} s{counts}"


def _check_inputs(kind: str, paths: Sequence[Path]) -> None:
    missing = [p for p in paths if not p.is_file()]
    if missing:
        shown = ", ".join(str(p) for p in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise InputError(f"missing chunk {kind} output(s): {shown} (that chunk's score-variants job failed or has "
                         "not run); nothing was merged")


def _table_lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8", newline="") as handle:
        yield from handle


def _gather_tsv(paths: Sequence[Path], dst: IO[str]) -> tuple[int, dict[str, int]]:
    """Concatenate the chunk tables under one header onto ``dst``; returns (rows, status counts)."""
    counts = dict.fromkeys(STATUSES, 0)
    rows = 0
    header = None
    for path in paths:
        lines = _table_lines(path)
        first = next(lines, None)
        if first is None or not first.startswith("#CHROM\t") or not first.endswith("\n"):
            raise InputError(f"{path}: not a score-variants table (line 1 is {(first or '')[:40]!r})")
        if header is None:
            header = first
            status = first.rstrip("\n").split("\t").index("status")
            dst.write(first)
        elif first != header:
            raise InputError(f"{path}: its header differs from {paths[0]}'s (chunks of different runs?)")
        for lineno, line in enumerate(lines, 2):
            cols = line.rstrip("\n").split("\t")
            if not line.endswith("\n") or len(cols) <= status or cols[status] not in counts:
                raise InputError(f"{path}, line {lineno}: not a complete score-variants row")
            counts[cols[status]] += 1
            rows += 1
            dst.write(line)
    return rows, counts


def _gather_vcf(paths: Sequence[Path], writer: AnnotatedVcfWriter) -> int:
    """Concatenate the chunk VCFs under one header onto ``writer``; returns the number of records."""
    first: list[str] | None = None
    records = 0
    for path in paths:
        lines = vcf_lines(path)
        header: list[str] = []
        body = None
        for rec, line in lines:  # the header: every line before the first record
            if rec is not None:
                body = rec, line
                break
            header.append(line)
        if first is None:
            first = header
            for text in header:
                writer.line(text)
        elif header != first:
            raise InputError(f"{path}: its header differs from {paths[0]}'s (chunks of different runs?)")
        if body is None:
            continue  # a chunk without records
        writer.copy(*body)
        records += 1
        for rec, line in lines:
            if rec is None:
                writer.line(line)
            else:
                writer.copy(rec, line)
                records += 1
    return records


def gather_variants(tsvs: Sequence[str | os.PathLike] = (), vcfs: Sequence[str | os.PathLike] = (), *,
                    out_tsv: str | os.PathLike | None = None,
                    out_vcf: str | os.PathLike | None = None) -> Gathered:
    """Merge chunk outputs (in slice order) into ``out_tsv`` and/or ``out_vcf``, as one unscattered run writes them.

    Raises :class:`InputError` naming a missing chunk file (before anything is written), a chunk
    whose header differs from the first one's, or a truncated row; no merged output is then left.
    When every row of a non-empty merge is ``UNKNOWN_CONTIG``, raises the whole run's error.
    """
    t0 = time.perf_counter()
    tsv_paths, vcf_paths = [Path(p) for p in tsvs], [Path(p) for p in vcfs]
    if (out_tsv is None) != (not tsv_paths) or (out_vcf is None) != (not vcf_paths):
        raise InputError("give chunk tables with --out-tsv and/or chunk VCFs with --out-vcf")
    if tsv_paths and vcf_paths and len(tsv_paths) != len(vcf_paths):
        raise InputError(f"{len(tsv_paths)} chunk tables but {len(vcf_paths)} chunk VCFs")
    if out_vcf is not None:
        check_vcf_output(out_vcf)
    _check_inputs("table", tsv_paths)
    _check_inputs("VCF", vcf_paths)
    n_alleles = counts = n_records = writer = None
    with contextlib.ExitStack() as stack:  # both outputs appear together, after every chunk was read
        if out_tsv is not None:
            n_alleles, counts = _gather_tsv(tsv_paths, stack.enter_context(atomic_open(out_tsv, newline="")))
            if n_alleles and counts["UNKNOWN_CONTIG"] == n_alleles:
                raise InputError("none of the variants' contigs is in the FASTA (every row of every chunk is "
                                 "UNKNOWN_CONTIG), even with chr/MT aliasing; are the VCF and the FASTA of the same "
                                 "genome build?")
        if out_vcf is not None:
            writer = stack.enter_context(annotated_vcf(out_vcf, fields=()))
            n_records = _gather_vcf(vcf_paths, writer)
    index = writer.index if writer is not None else None
    outputs = ([Path(out_tsv)] if out_tsv is not None else []) + ([Path(out_vcf)] if out_vcf is not None else [])
    outputs += [index] if index is not None else []
    return Gathered(max(len(tsv_paths), len(vcf_paths)), n_records, n_alleles, counts, outputs, index,
                    time.perf_counter() - t0)

"""Zero-shot variant-effect scores: log-likelihood ratio of the ALT window over the REF window.

The rule (windows, ``llr``) and the statuses are those of :mod:`.regions`, which scores the
records of genome regions in one process. This module is the API on top: it resolves the
records' contigs against the FASTA, scores in this process or shards the regions over
processes (:mod:`.sharding`; ``workers``/``devices``) with the rows merged back in input
order, and reads/writes VCF and TSV (:func:`score_vcf`, what ``hyenadna score-variants`` runs).

:func:`score_vcf` streams: it reads a chunk of records (``chunk_size``), scores it, writes its
rows and reads the next, so memory does not grow with the VCF. Within a chunk records are
scored in genome order, each region of the FASTA read once; windows of equal length are
batched without padding on the model's fast inference path. Chunks go in input order: an
unsorted VCF gives the same rows, at the cost of reading FASTA regions more than once.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from tqdm.auto import tqdm

from ..data import Genome
from ..errors import InputError
from ..model import HyenaDNA
from .regions import STATUSES, AlleleScore, check_window, score_regions, unknown_contig_rows
from .sharding import ShardPool
from .slices import Chunk, slice_lines
from .vcf_io import AnnotatedVcfWriter, InfoField, Variant, annotated_vcf, check_vcf_output, table_writer

TSV_COLUMNS = ("#CHROM", "POS", "ID", "REF", "ALT", "llr", "llr_fwd", "llr_rc", "status")
EMBEDDING_COLUMN = "embedding_distance"


def _contig_names(genome: Genome, variants: Sequence[Variant], names: dict[str, str | None]) -> dict[int, str]:
    """Index -> FASTA contig name for the records whose contig (or an alias) is in the FASTA.

    ``names`` caches VCF contig -> FASTA contig (None: not in the FASTA) and is updated.
    """
    for v in variants:
        if v.chrom not in names:
            names[v.chrom] = genome.resolve(v.chrom)
    return {i: names[v.chrom] for i, v in enumerate(variants) if names[v.chrom] is not None}


def _no_known_contig(genome: Genome, chroms: Sequence[str]) -> InputError:
    shown = ", ".join(list(chroms)[:5]) + (", ..." if len(chroms) > 5 else "")
    fasta = ", ".join(list(genome.contigs)[:5]) + (", ..." if len(genome.contigs) > 5 else "")
    return InputError(f"none of the variants' contigs ({shown}) is in {genome.path} (contigs: {fasta}), even "
                      "with chr/MT aliasing; are the VCF and the FASTA of the same genome build?")


def _resolve_contigs(genome: Genome, variants: Sequence[Variant]) -> dict[int, str]:
    """:func:`_contig_names`; raises :class:`InputError` when there are records and none is in the FASTA."""
    names: dict[str, str | None] = {}
    contig = _contig_names(genome, variants, names)
    if variants and not contig:
        raise _no_known_contig(genome, list(names))
    return contig


@contextlib.contextmanager
def opened_genome(genome: Genome | str | os.PathLike) -> Iterator[Genome]:
    """``genome`` as given, or opened from a FASTA path (and closed after the block)."""
    if isinstance(genome, Genome):
        yield genome
        return
    opened = Genome(genome)
    try:
        yield opened
    finally:
        opened.close()


def score_variants(model: HyenaDNA, genome: Genome | str | os.PathLike, variants: Sequence[Variant], *,
                   window: int | None = None, batch_size: int | None = None, embedding_distance: bool = False,
                   workers: int = 1, devices: Sequence[str] | None = None,
                   progress: bool = True) -> list[AlleleScore]:
    """Score every ALT allele of ``variants``: one :class:`AlleleScore` per (record, ALT), in input order.

    ``genome``: a :class:`~hyenadna_kipoi.data.Genome` or a FASTA path. ``window``
    defaults to :func:`.regions.default_window`, ``batch_size`` (windows per forward pass) to
    :func:`.regions.auto_batch_size`. ``workers`` > 1 or several ``devices``
    (e.g. ``["cuda:0", "cuda:1"]``) shard the regions over processes; the rows are the
    same, in the same order. Raises :class:`InputError` when no contig is in the FASTA.
    """
    window = check_window(model, window)
    with opened_genome(genome) as genome:
        return _score_variants(model, genome, variants, window, batch_size, embedding_distance, workers, devices,
                               progress)


def _score_variants(model: HyenaDNA, genome: Genome, variants: Sequence[Variant], window: int,
                    batch_size: int | None, embedding_distance: bool, workers: int, devices: Sequence[str] | None,
                    progress: bool) -> list[AlleleScore]:
    contig = _resolve_contigs(genome, variants)
    n_alleles = sum(max(len(v.alts), 1) for v in variants)
    with tqdm(total=n_alleles, desc="score variants", unit="allele", disable=not progress) as bar, \
            _chunk_scorer(model, genome, window, batch_size, embedding_distance, workers, devices) as score:
        return score(variants, contig, bar)


@contextlib.contextmanager
def _chunk_scorer(model: HyenaDNA, genome: Genome, window: int, batch_size: int | None, embedding_distance: bool,
                  workers: int, devices: Sequence[str] | None) -> Iterator[Callable[..., list[AlleleScore]]]:
    """``score(variants, contig, bar)``: the rows of ``variants`` in input order, in this process or sharded.

    ``contig``: index -> FASTA contig of the records on the FASTA; the others get
    ``UNKNOWN_CONTIG`` rows. Sharding keeps one pool of processes for every call in the block.
    """
    pool = None
    if workers > 1 or (devices is not None and len(devices) > 1):
        pool = ShardPool(model, genome.path, window, batch_size=batch_size, embedding_distance=embedding_distance,
                         workers=workers, devices=devices)

    def score(variants: Sequence[Variant], contig: dict[int, str], bar: tqdm | None) -> list[AlleleScore]:
        known = [i for i in range(len(variants)) if i in contig]
        if pool is not None:
            scored = pool.score(variants, known, contig, bar)
        else:
            scored = score_regions(model, genome, variants, known, contig, window, batch_size=batch_size,
                                   embedding_distance=embedding_distance, bar=bar)
        rows: list[AlleleScore] = []
        for i, v in enumerate(variants):
            if i not in contig:
                scored[i] = unknown_contig_rows(v)
                if bar is not None:
                    bar.update(len(scored[i]))
            rows += scored[i]
        return rows

    with pool or contextlib.nullcontext():
        yield score


def status_counts(rows: Iterable[AlleleScore]) -> dict[str, int]:
    """Rows per status, every status listed (zeros included), in :data:`STATUSES` order."""
    counts = Counter(r.status for r in rows)
    return {s: counts.get(s, 0) for s in STATUSES}


# --------------------------------------------------------------------------- VCF in, VCF/TSV out


@dataclass
class VcfScores:
    """What :func:`score_vcf` did: the rows (unless not kept), the status counts, the files written, the time taken."""

    rows: list[AlleleScore]  # empty when score_vcf(keep_rows=False), as the CLI runs it
    counts: dict[str, int]
    n_records: int
    window: int
    outputs: list[Path]
    seconds: float
    vcf_index: Path | None = None  # the .tbi of a .vcf.gz output; None when records are unsorted
    n_alleles: int | None = None  # rows written (len(rows) when they are kept)
    chunks: int = 0  # chunks of records read, scored and written

    def summary(self) -> str:
        """One line, e.g. ``12 alleles of 9 records (W=1024) in 3.1 s: OK 7, EDGE 1, ...``."""
        counts = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        n_alleles = len(self.rows) if self.n_alleles is None else self.n_alleles
        return (f"{n_alleles} alleles of {self.n_records} records (W={self.window}) in {self.seconds:.1f} s: "
                f"{counts}")


DEFAULT_CHUNK_SIZE = 10_000


def _chunks(items: Iterator[tuple[Variant | None, str]],
            size: int) -> Iterator[list[tuple[Variant | None, str]]]:
    """Consecutive lines of a VCF holding at most ``size`` records each (header lines go with the first)."""
    chunk: list[tuple[Variant | None, str]] = []
    n = 0
    for item in items:
        if n == size and item[0] is not None:
            yield chunk
            chunk, n = [], 0
        chunk.append(item)
        n += item[0] is not None
    if chunk:
        yield chunk


def score_vcf(model: HyenaDNA, fasta: Genome | str | os.PathLike, vcf: str | os.PathLike, *,
              out_tsv: str | os.PathLike | None = None, out_vcf: str | os.PathLike | None = None,
              window: int | None = None, batch_size: int | None = None, embedding_distance: bool = False,
              workers: int = 1, devices: Sequence[str] | None = None, model_name: str = "",
              progress: bool = True, chunk_size: int = DEFAULT_CHUNK_SIZE, keep_rows: bool = True,
              chunk: Chunk | None = None, regions: Sequence[tuple[str, int, int]] | None = None) -> VcfScores:
    """Score a VCF/VCF.gz/BCF and write the TSV and/or annotated VCF, streaming in chunks of records.

    Reads ``chunk_size`` records, scores them (grouped by genome region within the chunk,
    sharded with ``workers``/``devices``), writes their rows, then reads the next chunk: memory
    holds one chunk, its windows and a FASTA region, however long the VCF. Outputs are written
    to temporary names and appear (renamed) only when the whole VCF is scored; on an error none
    is left. TSV columns: :data:`TSV_COLUMNS` (+ ``embedding_distance``), one row per allele in
    input order. The VCF gets ``INFO/HYENADNA_LLR`` (Number=A; ``.`` for unscored alleles) (+
    ``HYENADNA_EMBDIST``); a ``.vcf.gz`` is tabix-indexed when its records are sorted. With
    ``keep_rows`` (the default) the result also holds every row (memory grows with the VCF);
    the CLI passes False. Unsorted input is fine: chunks are processed in input order, so it
    costs only FASTA reads (regions are shared within a chunk).

    ``chunk`` (the K-th of N slices of the records) or ``regions`` ((chrom, start, end), 1-based
    inclusive) score one slice (:mod:`.slices`): the header and the slice's records, giving exactly
    the matching rows and lines of the whole run (:func:`.gather.gather_variants` merges N chunks).
    A slice whose records all lie on contigs the FASTA lacks gets ``UNKNOWN_CONTIG`` rows instead of
    the whole run's error (the gather step raises it when every chunk is so).
    """
    t0 = time.perf_counter()
    if out_vcf is not None:
        check_vcf_output(out_vcf)
    if chunk_size < 1:
        raise InputError(f"--chunk-size must be at least 1, got {chunk_size}")
    window = check_window(model, window)
    sliced = chunk is not None or bool(regions)
    lines = slice_lines(vcf, chunk, regions)  # --chunk counts the records here, before any output is opened
    counts = dict.fromkeys(STATUSES, 0)
    kept: list[AlleleScore] = []
    n_records = n_alleles = n_chunks = 0
    names: dict[str, str | None] = {}  # VCF contig -> FASTA contig; one entry per contig name
    any_known = False
    fields = _info_fields(window, model_name, embedding_distance)
    with contextlib.ExitStack() as stack:
        genome = stack.enter_context(opened_genome(fasta))  # a FASTA that cannot be read fails before the VCF
        score = stack.enter_context(_chunk_scorer(model, genome, window, batch_size, embedding_distance, workers,
                                                  devices))
        header = TSV_COLUMNS + ((EMBEDDING_COLUMN,) if embedding_distance else ())
        write_tsv = stack.enter_context(table_writer(out_tsv, header)) if out_tsv is not None else None
        annotated = stack.enter_context(annotated_vcf(out_vcf, fields)) if out_vcf is not None else None
        bar = stack.enter_context(tqdm(desc="score variants", unit="allele", disable=not progress))
        for part in _chunks(lines, chunk_size):
            variants = [v for v, _ in part if v is not None]
            contig = _contig_names(genome, variants, names)
            any_known = any_known or bool(contig)
            rows = score(variants, contig, bar)
            if write_tsv is not None:
                write_tsv(r.tsv_row(embedding_distance) for r in rows)
            if annotated is not None:
                _write_annotated(annotated, part, rows, embedding_distance)
            for r in rows:
                counts[r.status] += 1
            if keep_rows:
                kept += rows
            n_records += len(variants)
            n_alleles += len(rows)
            n_chunks += 1
        if n_records and not any_known and not sliced:
            raise _no_known_contig(genome, list(names))
    outputs: list[Path] = []
    index = None
    if out_tsv is not None:
        outputs.append(Path(out_tsv))
    if annotated is not None:
        index = annotated.index
        outputs += [Path(out_vcf)] + ([index] if index else [])
    return VcfScores(kept, counts, n_records, window, outputs, time.perf_counter() - t0, index, n_alleles, n_chunks)


def _write_annotated(out: AnnotatedVcfWriter, chunk: Sequence[tuple[Variant | None, str]],
                     rows: Sequence[AlleleScore], embedding: bool) -> None:
    """The lines of one chunk, each record with its alleles' values (ALT ``.``: a row but no value)."""
    it = iter(rows)
    for rec, line in chunk:
        if rec is None:
            out.line(line)
            continue
        mine = [next(it) for _ in range(max(len(rec.alts), 1))]
        if not rec.alts:
            mine = []  # ALT "." has a row but no value in a Number=A field
        values = [[r.llr for r in mine]] + ([[r.embedding_distance for r in mine]] if embedding else [])
        out.record(rec, line, values)


def _info_fields(window: int, model_name: str, embedding: bool) -> list[InfoField]:
    source = f"{window}-base windows" + (f", model {model_name}" if model_name else "")
    fields = [InfoField("HYENADNA_LLR", "HyenaDNA zero-shot log-likelihood ratio log P(ALT window) - log P(REF "
                        f"window) in nats, mean of both strands ({source}); missing when not scored")]
    if embedding:
        fields.append(InfoField("HYENADNA_EMBDIST", "HyenaDNA cosine distance of mean-pooled REF and ALT window "
                                f"embeddings ({source})"))
    return fields

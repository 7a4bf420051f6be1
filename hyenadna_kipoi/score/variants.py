"""Zero-shot variant-effect scores: log-likelihood ratio of the ALT window over the REF window.

The rule (windows, ``llr``) and the statuses are those of :mod:`.regions`, which scores the
records of genome regions in one process. This module is the API on top: it resolves the
records' contigs against the FASTA, scores in this process or shards the regions over
processes (:mod:`.sharding`; ``workers``/``devices``) with the rows merged back in input
order, and reads/writes VCF and TSV (:func:`score_vcf`, what ``hyenadna score-variants`` runs).

Speed: records are scored in genome order, each region of the FASTA read once; windows of
equal length are batched without padding on the model's fast inference path.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from tqdm.auto import tqdm

from ..data import Genome
from ..errors import InputError
from ..model import HyenaDNA
from .regions import STATUSES, AlleleScore, check_window, score_regions, unknown_contig_rows
from .sharding import score_sharded
from .vcf_io import InfoField, Variant, check_vcf_output, read_vcf, write_annotated_vcf, write_table

TSV_COLUMNS = ("#CHROM", "POS", "ID", "REF", "ALT", "llr", "llr_fwd", "llr_rc", "status")
EMBEDDING_COLUMN = "embedding_distance"


def _resolve_contigs(genome: Genome, variants: Sequence[Variant]) -> dict[int, str]:
    """Index -> FASTA contig name for the records whose contig (or an alias) is in the FASTA."""
    names: dict[str, str | None] = {}
    for v in variants:
        if v.chrom not in names:
            names[v.chrom] = genome.resolve(v.chrom)
    if variants and not any(names.values()):
        shown = ", ".join(list(names)[:5]) + (", ..." if len(names) > 5 else "")
        fasta = ", ".join(list(genome.contigs)[:5]) + (", ..." if len(genome.contigs) > 5 else "")
        raise InputError(f"none of the variants' contigs ({shown}) is in {genome.path} (contigs: {fasta}), even "
                         "with chr/MT aliasing; are the VCF and the FASTA of the same genome build?")
    return {i: names[v.chrom] for i, v in enumerate(variants) if names[v.chrom] is not None}


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
    known = [i for i in range(len(variants)) if i in contig]
    n_alleles = sum(max(len(v.alts), 1) for v in variants)
    with tqdm(total=n_alleles, desc="score variants", unit="allele", disable=not progress) as bar:
        if workers > 1 or (devices is not None and len(devices) > 1):
            scored = score_sharded(model, genome.path, variants, known, contig, window, batch_size=batch_size,
                                   embedding_distance=embedding_distance, workers=workers, devices=devices, bar=bar)
        else:
            scored = score_regions(model, genome, variants, known, contig, window, batch_size=batch_size,
                                   embedding_distance=embedding_distance, bar=bar)
        rows: list[AlleleScore] = []
        for i, v in enumerate(variants):
            if i not in contig:
                scored[i] = unknown_contig_rows(v)
                bar.update(len(scored[i]))
            rows += scored[i]
    return rows


def status_counts(rows: Iterable[AlleleScore]) -> dict[str, int]:
    """Rows per status, every status listed (zeros included), in :data:`STATUSES` order."""
    counts = Counter(r.status for r in rows)
    return {s: counts.get(s, 0) for s in STATUSES}


# --------------------------------------------------------------------------- VCF in, VCF/TSV out


@dataclass
class VcfScores:
    """What :func:`score_vcf` did: the rows, the status counts, the files written and the time taken."""

    rows: list[AlleleScore]
    counts: dict[str, int]
    n_records: int
    window: int
    outputs: list[Path]
    seconds: float
    vcf_index: Path | None = None  # the .tbi of a .vcf.gz output; None when records are unsorted

    def summary(self) -> str:
        """One line, e.g. ``12 alleles of 9 records (W=1024) in 3.1 s: OK 7, EDGE 1, ...``."""
        counts = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        return (f"{len(self.rows)} alleles of {self.n_records} records (W={self.window}) in {self.seconds:.1f} s: "
                f"{counts}")


def score_vcf(model: HyenaDNA, fasta: Genome | str | os.PathLike, vcf: str | os.PathLike, *,
              out_tsv: str | os.PathLike | None = None, out_vcf: str | os.PathLike | None = None,
              window: int | None = None, batch_size: int | None = None, embedding_distance: bool = False,
              workers: int = 1, devices: Sequence[str] | None = None, model_name: str = "",
              progress: bool = True) -> VcfScores:
    """Score a VCF/VCF.gz/BCF and write the TSV and/or annotated VCF (atomically, once all is scored).

    TSV columns: :data:`TSV_COLUMNS` (+ ``embedding_distance``). The VCF gets
    ``INFO/HYENADNA_LLR`` (Number=A; ``.`` for unscored alleles) (+ ``HYENADNA_EMBDIST``).
    """
    t0 = time.perf_counter()
    if out_vcf is not None:
        check_vcf_output(out_vcf)
    window = check_window(model, window)
    with opened_genome(fasta) as genome:  # a FASTA that cannot be read fails before the VCF is read
        records = read_vcf(vcf)
        rows = score_variants(model, genome, records, window=window, batch_size=batch_size,
                              embedding_distance=embedding_distance, workers=workers, devices=devices,
                              progress=progress)
    outputs: list[Path] = []
    index = None
    if out_tsv is not None:
        header = TSV_COLUMNS + ((EMBEDDING_COLUMN,) if embedding_distance else ())
        outputs.append(write_table(out_tsv, header, (r.tsv_row(embedding_distance) for r in rows)))
    if out_vcf is not None:
        fields = _info_fields(records, rows, window, model_name, embedding_distance)
        index = write_annotated_vcf(vcf, out_vcf, records, fields)
        outputs += [Path(out_vcf)] + ([index] if index else [])
    return VcfScores(rows, status_counts(rows), len(records), window, outputs, time.perf_counter() - t0, index)


def _info_fields(records: Sequence[Variant], rows: Sequence[AlleleScore], window: int, model_name: str,
                 embedding: bool) -> list[InfoField]:
    per_record: list[list[AlleleScore]] = []
    it = iter(rows)
    for r in records:
        rs = [next(it) for _ in range(max(len(r.alts), 1))]
        per_record.append(rs if r.alts else [])  # ALT "." has a row but no value in a Number=A field
    source = f"{window}-base windows" + (f", model {model_name}" if model_name else "")
    fields = [InfoField("HYENADNA_LLR", "HyenaDNA zero-shot log-likelihood ratio log P(ALT window) - log P(REF "
                        f"window) in nats, mean of both strands ({source}); missing when not scored",
                        [[r.llr for r in rs] for rs in per_record])]
    if embedding:
        fields.append(InfoField("HYENADNA_EMBDIST", "HyenaDNA cosine distance of mean-pooled REF and ALT window "
                                f"embeddings ({source})", [[r.embedding_distance for r in rs] for rs in per_record]))
    return fields

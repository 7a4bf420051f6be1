"""The samples the Kipoi dataloaders yield, as plain functions (no kipoi import).

Shared by :mod:`.dataloaders` (wrapped as ``kipoi.data.Dataset``) and :mod:`.export` (which
computes a model's expected test predictions without kipoi).
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from ..data import Genome, Interval
from ..score import AlleleScore, allele_statuses, read_vcf, variant_windows
from ..tokenizer import PAD, encode_batch, reverse_complement

SCORED = ("OK", "EDGE")


def resize(iv: Interval, length: int | None) -> Interval:
    """``iv`` centred on its midpoint with ``length`` bases (unchanged when ``length`` is None)."""
    if length is None:
        return iv
    start = (iv.start + iv.end) // 2 - length // 2
    return Interval(iv.chrom, start, start + length, iv.name, iv.strand)


def interval_tokens(genome: Genome, iv: Interval, width: int, *, pad: bool = False) -> np.ndarray:
    """Token ids of an interval (reverse-complemented on ``-``), left-padded with [PAD] to ``width``: [width] int64.

    ``pad``: bases outside the contig are N (else they are an error), as for resized intervals.
    """
    seq = genome.fetch(iv.chrom, iv.start, iv.end, pad=pad)
    if iv.strand == "-":
        seq = reverse_complement(seq)
    return encode_batch([seq], length=width, names=[iv.label])[0]


def allele_label(s: AlleleScore) -> str:
    return f"{s.chrom}:{s.pos}:{s.ref}:{s.alt}"


def allele_samples(genome: Genome, vcf_file: str | os.PathLike, window: int) -> list[AlleleScore]:
    """One (unscored) row per (record, ALT) of the VCF, as ``hyenadna score-variants`` lists them.

    Statuses come from :func:`~hyenadna_kipoi.score.allele_statuses` (the scoring rule's own
    checks: UNKNOWN_CONTIG, REF_MISMATCH, SKIPPED_SYMBOLIC, EDGE or OK); ALT ``.`` is one row.
    """
    records = read_vcf(vcf_file)
    return [AlleleScore(rec.chrom, rec.pos, rec.id, rec.ref, alt, status)
            for rec, statuses in zip(records, allele_statuses(genome, records, window))
            for alt, status in zip(rec.alts or (".",), statuses)]


def allele_tokens(genome: Genome, s: AlleleScore, window: int) -> np.ndarray:
    """REF and ALT window token ids ``[2, window]``; all [PAD] when the allele is not scored."""
    if s.status not in SCORED:
        return np.full((2, window), PAD, dtype=np.int64)
    ref, alt = variant_windows(genome, s.chrom, s.pos, s.ref, s.alt, window)  # contig aliases resolved by fetch
    label = allele_label(s)
    return encode_batch([ref, alt], length=window, names=[f"the REF window of {label}", f"the ALT window of {label}"])


def stack_intervals(genome: Genome, intervals: Sequence[Interval], *, pad: bool = False) -> np.ndarray:
    """Token ids of all ``intervals``, left-padded to the longest: [N, L] int64."""
    width = max(iv.end - iv.start for iv in intervals)
    return np.stack([interval_tokens(genome, iv, width, pad=pad) for iv in intervals])

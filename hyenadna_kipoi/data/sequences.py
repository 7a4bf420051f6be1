"""The sequences a command runs on: FASTA records, or BED intervals cut from a reference FASTA."""

from __future__ import annotations

import os

from ..errors import InputError
from ..tokenizer import reverse_complement
from .fasta import read_fasta
from .genome import Genome, read_bed, recentre


def read_sequences(fasta: str | os.PathLike | None, bed: str | os.PathLike | None = None,
                   genome: str | os.PathLike | None = None, *,
                   length: int | None = None) -> tuple[list[str], list[str]]:
    """Names and sequences of the records of ``fasta``, or of the ``bed`` intervals on ``genome``.

    BED rows are named by their name column, else ``chrom:start-end`` (1-based, inclusive);
    minus-strand intervals are reverse-complemented and ``length`` recentres each interval to
    that many bases first. Errors name the file and record or line.
    """
    if bed is None:
        if fasta is None:
            raise InputError("give a FASTA file, or a BED file with its reference FASTA")
        records = list(read_fasta(fasta))
        if not records:
            raise InputError(f"{fasta}: no FASTA records")
        empty = [n for n, s in records if not s]
        if empty:
            raise InputError(f"{fasta}: record {empty[0]!r} has no sequence ({len(empty)} empty record(s))")
        return [n for n, _ in records], [s for _, s in records]
    if genome is None:
        raise InputError(f"{bed}: BED intervals need the reference FASTA they are on")
    names, seqs = [], []
    with Genome(genome) as ref:
        for iv in read_bed(bed):
            start, end = recentre(iv.start, iv.end, length) if length else (iv.start, iv.end)
            chrom = ref.resolve(iv.chrom)
            if chrom is None:
                raise InputError(f"{bed}, line {iv.line}: contig {iv.chrom!r} is not in {genome}")
            if start < 0 or end > ref.contigs[chrom]:
                raise InputError(f"{bed}, line {iv.line}: {iv.chrom}:{start}-{end} lies outside its contig "
                                 f"({chrom} has {ref.contigs[chrom]:,} bases)")
            seq = ref.fetch(chrom, start, end)
            names.append(iv.name or f"{iv.chrom}:{start + 1}-{end}")
            seqs.append(reverse_complement(seq) if iv.strand == "-" else seq)
    if not seqs:
        raise InputError(f"{bed}: no intervals")
    return names, seqs

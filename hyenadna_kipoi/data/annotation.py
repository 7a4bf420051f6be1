"""Genes and transcripts of a GFF3 annotation, and the sites tasks are cut at (TSS, splice sites, codons).

A small GFF3 reader (plain or gzip; ``##FASTA`` ends the features; attribute values are
percent-decoded), written for NCBI RefSeq-style files: ``gene``/``pseudogene`` features carry
``gene_biotype``, transcripts (``mRNA``, ``lnc_RNA``, ``tRNA``, … any feature whose ``Parent`` is a
gene) carry ``exon`` and ``CDS`` children. Coordinates are converted to 0-based, half-open.
Errors name the file and line.

Conventions used by the derived tasks (:mod:`.annotation_tasks`):

* a **boundary** ``b`` is the edge between bases ``b - 1`` and ``b`` (0-based);
* an intron ``[s, e)`` of a ``+`` transcript has its donor boundary at ``s`` and its acceptor
  boundary at ``e``; on ``-`` the donor is at ``e`` and the acceptor at ``s``;
* the **codon position** (1, 2, 3) of a CDS base comes from its segment's GFF phase: in transcript
  order, base ``k`` (0-based) of a segment with phase ``p`` is at position ``(k - p) mod 3 + 1``.
"""

from __future__ import annotations

import gzip
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote

from ..errors import InputError
from .genome import fasta_compression

GENE_TYPES = ("gene", "pseudogene", "ncRNA_gene", "transposable_element_gene")


@dataclass(frozen=True)
class Feature:
    """One GFF3 line: 0-based half-open ``[start, end)``, ``phase`` -1 when ``.``, ``line`` 1-based."""

    seqid: str
    type: str
    start: int
    end: int
    strand: str
    phase: int
    attributes: dict[str, str]
    line: int


@dataclass
class Transcript:
    """A transcript with its exons and CDS segments, sorted by genomic start.

    ``cds`` holds ``(start, end, phase)``; ``biotype`` is the parent gene's ``gene_biotype``.
    """

    id: str
    gene: str
    seqid: str
    strand: str
    type: str
    biotype: str
    start: int
    end: int
    exons: list[tuple[int, int]] = field(default_factory=list)
    cds: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def tss(self) -> int:
        """0-based coordinate of the first transcribed base (strand-aware)."""
        return self.start if self.strand == "+" else self.end - 1

    def introns(self) -> list[tuple[int, int]]:
        """``[start, end)`` of the gaps between consecutive exons, by genomic position."""
        return [(a_end, b_start) for (_, a_end), (b_start, _) in zip(self.exons, self.exons[1:]) if b_start > a_end]

    def cds_length(self) -> int:
        return sum(e - s for s, e, _ in self.cds)

    def codon_positions(self) -> Iterator[tuple[int, int]]:
        """``(genomic position, codon position 1-3)`` of every CDS base, from each segment's phase."""
        segments = self.cds if self.strand == "+" else list(reversed(self.cds))
        for start, end, phase in segments:
            if phase < 0:
                raise InputError(f"transcript {self.id}: CDS segment {start + 1}-{end} has no phase ('.')")
            span = range(start, end) if self.strand == "+" else range(end - 1, start - 1, -1)
            for k, pos in enumerate(span):
                yield pos, (k - phase) % 3 + 1


@dataclass(frozen=True)
class Gene:
    """A gene (or pseudogene) feature: 0-based half-open span, strand and ``gene_biotype``."""

    id: str
    seqid: str
    start: int
    end: int
    strand: str
    biotype: str


@dataclass
class Annotation:
    """The genes and transcripts of one GFF3 file (transcripts keep the file order of their first line)."""

    path: Path
    genes: dict[str, Gene]
    transcripts: dict[str, Transcript]

    def transcripts_of(self, types: tuple[str, ...] | None = None, biotypes: tuple[str, ...] | None = None
                       ) -> list[Transcript]:
        return [t for t in self.transcripts.values()
                if (types is None or t.type in types) and (biotypes is None or t.biotype in biotypes)]


def _parse_attributes(text: str, where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in text.strip().strip(";").split(";"):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            raise InputError(f"{where}: attribute {item!r} is not key=value (GFF3 column 9)")
        key, value = item.split("=", 1)
        out[unquote(key)] = unquote(value)
    return out


def read_gff(path: str | os.PathLike) -> Iterator[Feature]:
    """The features of a GFF3 file (plain or gzip), in file order, up to a ``##FASTA`` line.

    Raises :class:`InputError` naming the file and line for a line without 9 columns,
    non-integer or inverted coordinates, a bad strand or phase.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such GFF file")
    opener = gzip.open if fasta_compression(path) != "plain" else open
    with opener(path, "rt") as handle:
        for lineno, line in enumerate(handle, 1):
            if line.startswith("##FASTA"):
                return
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.rstrip("\r\n").split("\t")
            where = f"{path}, line {lineno}"
            if len(cols) != 9:
                raise InputError(f"{where}: a GFF3 line needs 9 tab-separated columns, found {len(cols)}")
            try:
                start, end = int(cols[3]) - 1, int(cols[4])
            except ValueError:
                raise InputError(f"{where}: start and end must be integers, got {cols[3]!r}, {cols[4]!r}") from None
            if start < 0 or end <= start:
                raise InputError(f"{where}: need 1 <= start <= end, got {cols[3]}, {cols[4]}")
            if cols[6] not in ("+", "-", ".", "?"):
                raise InputError(f"{where}: strand must be +, -, . or ?, got {cols[6]!r}")
            if cols[7] not in (".", "0", "1", "2"):
                raise InputError(f"{where}: phase must be 0, 1, 2 or ., got {cols[7]!r}")
            yield Feature(cols[0], cols[2], start, end, cols[6], -1 if cols[7] == "." else int(cols[7]),
                          _parse_attributes(cols[8], where), lineno)


def load_annotation(path: str | os.PathLike) -> Annotation:
    """Genes and their transcripts (with exons and CDS) of a GFF3 file.

    A transcript is a feature whose ``Parent`` is a gene (``gene``, ``pseudogene``, …); exons and
    CDS attach to their ``Parent`` transcript. A transcript without exon children gets its own span
    as one exon. Children of unknown parents are ignored (NCBI files hold e.g. ``miRNA`` under a
    ``primary_transcript``); a CDS on a strand other than its transcript's is an error naming the line.
    """
    path = Path(path)
    genes: dict[str, Gene] = {}
    transcripts: dict[str, Transcript] = {}
    children: dict[str, list[Feature]] = defaultdict(list)
    for feat in read_gff(path):
        fid, parents = feat.attributes.get("ID"), feat.attributes.get("Parent")
        if feat.type in GENE_TYPES and fid:
            biotype = feat.attributes.get("gene_biotype") or feat.attributes.get("biotype") or feat.type
            genes[fid] = Gene(fid, feat.seqid, feat.start, feat.end, feat.strand, biotype)
        elif feat.type in ("exon", "CDS"):
            for parent in (parents or "").split(","):
                if parent:
                    children[parent].append(feat)
        elif fid and parents:
            gene = genes.get(parents.split(",")[0])
            if gene is not None and fid not in transcripts:
                transcripts[fid] = Transcript(fid, gene.id, feat.seqid, feat.strand, feat.type, gene.biotype,
                                              feat.start, feat.end)
    for tid, tx in transcripts.items():
        for feat in children.get(tid, []):
            if feat.strand != tx.strand:
                raise InputError(f"{path}, line {feat.line}: {feat.type} on strand {feat.strand} of transcript "
                                 f"{tid} on strand {tx.strand}")
            if feat.type == "exon":
                tx.exons.append((feat.start, feat.end))
            else:
                tx.cds.append((feat.start, feat.end, feat.phase))
        tx.exons.sort()
        tx.cds.sort()
        if not tx.exons:
            tx.exons = [(tx.start, tx.end)]
    return Annotation(path, genes, transcripts)

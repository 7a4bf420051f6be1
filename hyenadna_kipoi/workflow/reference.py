"""The workflow's reference genome: checksum-verified download, FASTA index, gaps + blacklist BED."""

from __future__ import annotations

import os
from pathlib import Path

from ..io import atomic_open


def resolve_url(url: str | None) -> str | None:
    """``file:relative/path`` (or ``file://relative``) -> an absolute ``file:///`` URL; other URLs unchanged."""
    if url is None or not url.startswith("file:") or url.startswith("file:///"):
        return url
    return Path(url[len("file:"):].lstrip("/") if url.startswith("file://") else url[len("file:"):]).resolve().as_uri()


def download_checked(url: str, out: str | os.PathLike, *, sha256: str | None = None, md5: str | None = None,
                     progress: bool = True) -> Path:
    """Download ``url`` (relative ``file:`` paths allowed) to ``out``, verified, atomically."""
    from ..download import download

    return download(resolve_url(url), out, sha256=sha256, md5=md5, progress=progress)


def index_reference(fasta: str | os.PathLike, prepared: str | os.PathLike, *, progress: bool = True) -> Path:
    """Decompress a gzip or bgzip FASTA to ``prepared`` (a plain one is indexed in place) and build its ``.fai``.

    A bgzip file could be read where it is, but the workflow's rules name ``prepared`` (``reference_paths``)
    as the indexed genome, so it is written for bgzip too (a ``.gz`` reference in, a plain FASTA out)."""
    import gzip
    import shutil

    from ..data.genome import fasta_compression
    from ..data.reference import prepare_genome
    from ..io import atomic_path

    if Path(prepared) != Path(fasta) and Path(fasta).exists() and fasta_compression(fasta) == "bgzip":
        Path(str(prepared) + ".fai").unlink(missing_ok=True)
        with gzip.open(fasta, "rb") as src, atomic_path(prepared) as tmp, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 24)
        fasta = prepared
    return prepare_genome(fasta, prepared=prepared, progress=progress)


def write_gaps(fasta: str | os.PathLike, out: str | os.PathLike, *, blacklist: str | os.PathLike | None = None,
               min_gap: int = 1, progress: bool = True) -> int:
    """Write the assembly gaps (runs of ≥ ``min_gap`` non-ACGT bases) of ``fasta`` plus ``blacklist``, merged.

    One sorted BED. Returns the number of merged intervals. Blacklist entries on contigs the genome lacks are ignored.
    """
    from ..data.genome import Genome
    from ..data.intervals import find_exclusions, sorted_bedtool

    with Genome(fasta) as genome:
        rows = find_exclusions(genome, set(genome.contigs), exclude_gaps=True, min_gap=min_gap,
                               blacklist=blacklist, progress=progress)
    merged = [(iv.chrom, iv.start, iv.end) for iv in sorted_bedtool(rows).merge()] if rows else []
    with atomic_open(out) as handle:
        for chrom, start, end in merged:
            handle.write(f"{chrom}\t{start}\t{end}\n")
    return len(merged)

"""Getting a reference genome ready for random access: download, verify, decompress, index."""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

from ..download import download, verify_file
from ..errors import InputError
from ..io import atomic_path
from .genome import Genome, fasta_compression

COPY_CHUNK = 1 << 24


def prepared_path(fasta: str | os.PathLike, prepared: str | os.PathLike | None = None) -> Path:
    """Where the randomly readable copy of ``fasta`` lives: ``prepared``, else beside it without ``.gz``."""
    if prepared:
        return Path(prepared)
    fasta = Path(fasta)
    for suffix in (".gz", ".bgz", ".gzip"):
        if fasta.name.endswith(suffix):
            return fasta.with_name(fasta.name[: -len(suffix)])
    return fasta


def fetch_file(path: str | os.PathLike, *, url: str | None = None, sha256: str | None = None,
               md5: str | None = None, size: int | None = None, progress: bool = True) -> Path:
    """``path``, downloaded from ``url`` when missing, and checked against the given size/checksums.

    The download resumes a partial ``.part`` file and is renamed onto ``path`` only once
    verified; a mismatching file is removed, never left in place as if complete.
    """
    path = Path(path)
    if url:
        return download(url, path, size=size, sha256=sha256, md5=md5, progress=progress)
    if not path.exists():
        raise InputError(f"{path}: no such file, and no url is configured to download it from")
    verify_file(path, size=size, sha256=sha256, md5=md5)
    return path


def prepare_genome(fasta: str | os.PathLike, *, url: str | None = None, sha256: str | None = None,
                   md5: str | None = None, size: int | None = None, prepared: str | os.PathLike | None = None,
                   progress: bool = True) -> Path:
    """Return the path of an indexed FASTA (plain or bgzip) made from ``fasta``.

    ``fasta`` is downloaded from ``url`` when missing (``https://``, ``ftp://``, ``file://``)
    and verified against ``sha256``/``md5``/``size``. A plain or bgzip file is indexed where
    it is; a plain-gzip one is decompressed to ``prepared`` (default: beside it, without
    ``.gz``), atomically. Indexing checks for duplicated record names.
    """
    source = fetch_file(fasta, url=url, sha256=sha256, md5=md5, size=size, progress=progress)
    kind = fasta_compression(source)
    target = source
    if kind == "gzip":
        target = prepared_path(source, prepared)
        if target == source:
            raise InputError(f"{source}: a gzip FASTA needs a different 'prepared' path to decompress to")
        if not target.exists() or target.stat().st_mtime < source.stat().st_mtime:
            Path(str(target) + ".fai").unlink(missing_ok=True)
            try:
                with gzip.open(source, "rb") as src, atomic_path(target) as tmp, open(tmp, "wb") as out:
                    shutil.copyfileobj(src, out, COPY_CHUNK)
            except (OSError, EOFError) as err:
                raise InputError(f"{source}: cannot decompress ({err}); the file is damaged or truncated") from None
    with Genome(target) as genome:  # builds the index and checks the record names
        if not genome.contigs:
            raise InputError(f"{target}: no FASTA records")
    return target

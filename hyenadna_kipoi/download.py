"""Downloads that resume, verify size and checksum, and appear atomically.

Used for released weights and reference genomes. ``https://``, ``http://``,
``ftp://`` and ``file://`` URLs are supported (urllib). Set ``HYENADNA_OFFLINE=1``
to forbid any network access: then only files already on disk are used.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from .errors import DownloadError

CHUNK = 1 << 20


def offline() -> bool:
    """True when ``HYENADNA_OFFLINE`` is set to a true value."""
    return os.environ.get("HYENADNA_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def verify_file(path: Path, *, size: int | None = None, sha256: str | None = None, md5: str | None = None,
                url: str = "") -> None:
    """Raise :class:`DownloadError` when ``path`` does not have the expected size or digest."""
    actual = path.stat().st_size
    if size is not None and actual != size:
        raise DownloadError(
            f"{path}: {actual} bytes, expected {size} (truncated or incomplete download{' from ' + url if url else ''}); "
            "delete it and download again"
        )
    for algorithm, expected in (("sha256", sha256), ("md5", md5)):
        if expected and file_digest(path, algorithm) != expected.lower():
            raise DownloadError(
                f"{path}: {algorithm} checksum mismatch (expected {expected}); the file is corrupt or not the one expected. "
                "Delete it and download again"
            )


def _open(url: str, start: int):
    request = urllib.request.Request(url, headers={"User-Agent": "hyenadna-kipoi"})
    if start and not url.startswith("file:"):
        request.add_header("Range", f"bytes={start}-")
    return urllib.request.urlopen(request, timeout=60)


def download(url: str, dest: str | os.PathLike, *, size: int | None = None, sha256: str | None = None,
             md5: str | None = None, progress: bool = True) -> Path:
    """Fetch ``url`` to ``dest`` unless a verified copy is already there; return ``dest``.

    A partial download is kept as ``dest.part`` and resumed (HTTP range request).
    The size is checked against ``size`` or the server's Content-Length, the content
    against ``sha256``/``md5`` when given; only then is ``.part`` renamed to ``dest``.
    """
    dest = Path(dest)
    if dest.exists():
        verify_file(dest, size=size, sha256=sha256, md5=md5, url=url)
        return dest
    if offline() and not url.startswith("file:"):
        raise DownloadError(f"{dest} is not on disk and HYENADNA_OFFLINE is set; refusing to download {url}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    start = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, start)
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as err:
        raise DownloadError(f"cannot download {url}: {err}") from None
    with response:
        status = getattr(response, "status", None)
        if start and status != 206:  # server ignored the range: start over
            start = 0
        length = response.headers.get("Content-Length")
        expected = size if size is not None else (int(length) + start if length is not None else None)
        mode = "ab" if start else "wb"
        try:
            with open(part, mode) as out, tqdm(total=expected, initial=start, unit="B", unit_scale=True,
                                               desc=dest.name, disable=not progress, leave=False) as bar:
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    bar.update(len(block))
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            raise DownloadError(f"download of {url} broke off after {part.stat().st_size} bytes: {err}; "
                                "run again to resume") from None
    try:
        verify_file(part, size=expected, sha256=sha256, md5=md5, url=url)
    except DownloadError:
        if expected is not None and part.stat().st_size < expected:
            raise  # keep the partial file for resuming
        part.unlink(missing_ok=True)
        raise
    os.replace(part, dest)
    return dest


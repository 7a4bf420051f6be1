"""Downloads that resume, verify size and checksum, and appear atomically.

Used for released weights and reference genomes. ``https://``, ``http://``,
``ftp://`` and ``file://`` URLs are supported (urllib). Set ``HYENADNA_OFFLINE=1``
to forbid any network access: then only files already on disk are used.
"""

from __future__ import annotations

import contextlib
import ftplib
import hashlib
import http.client
import os
import urllib.error
import urllib.parse
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


class _Stream:
    """A readable body with ``status`` and ``headers`` like urllib's response (for file:// and ftp://)."""

    def __init__(self, handle, status: int, remaining: int | None, on_close=()):
        self._handle, self.status, self._on_close = handle, status, on_close
        self.headers = {} if remaining is None else {"Content-Length": str(remaining)}

    def read(self, n: int = -1) -> bytes:
        return self._handle.read(n)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._handle.close()
        for close in self._on_close:
            with contextlib.suppress(Exception):
                close()


def _open_file(url: str, start: int) -> _Stream:
    """A local file from ``start`` on (206 when resuming, like an HTTP range request)."""
    path = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
    handle = open(path, "rb")
    total = path.stat().st_size
    start = min(start, total)
    handle.seek(start)
    return _Stream(handle, 206 if start else 200, total - start)


def _open_ftp(url: str, start: int) -> _Stream:
    """An FTP download from byte ``start`` on (REST), in binary mode."""
    parts = urllib.parse.urlparse(url)
    path = urllib.parse.unquote(parts.path)
    ftp = ftplib.FTP()
    try:
        ftp.connect(parts.hostname or "", parts.port or 21, timeout=60)
        ftp.login(parts.username or "anonymous", parts.password or "anonymous@")
        ftp.voidcmd("TYPE I")
        total = ftp.size(path)
        conn = ftp.transfercmd(f"RETR {path}", rest=start or None)
    except BaseException:
        with contextlib.suppress(Exception):
            ftp.close()
        raise
    remaining = None if total is None else total - start
    return _Stream(conn.makefile("rb"), 206 if start else 200, remaining, (conn.close, ftp.close))


def _open(url: str, start: int):
    if url.startswith("file:"):
        return _open_file(url, start)
    if url.startswith("ftp:"):
        return _open_ftp(url, start)
    request = urllib.request.Request(url, headers={"User-Agent": "hyenadna-kipoi"})
    if start:
        request.add_header("Range", f"bytes={start}-")
    return urllib.request.urlopen(request, timeout=60)


def download(url: str, dest: str | os.PathLike, *, size: int | None = None, sha256: str | None = None,
             md5: str | None = None, progress: bool = True) -> Path:
    """Fetch ``url`` to ``dest`` unless a verified copy is already there; return ``dest``.

    A partial download is kept as ``dest.part`` and resumed (HTTP range request, FTP
    ``REST``, or a seek for ``file://``).
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
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException, *ftplib.all_errors) as err:
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
        except (urllib.error.URLError, OSError, http.client.HTTPException, *ftplib.all_errors) as err:
            raise DownloadError(f"download of {url} broke off after {part.stat().st_size} bytes: {err}; "
                                "run again to resume") from None
    try:
        verify_file(part, size=expected, sha256=sha256, md5=md5, url=url)
    except DownloadError as err:
        if expected is not None and part.stat().st_size < expected:
            raise  # keep the partial file for resuming
        part.unlink(missing_ok=True)
        reason = str(err).split(": ", 1)[1].split(";")[0]
        raise DownloadError(f"download of {url} to {dest}: {reason}; the downloaded data was deleted and {dest} "
                            "was not written. Check the URL and the expected checksum/size") from None
    os.replace(part, dest)
    return dest


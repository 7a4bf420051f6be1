"""VCF in, annotated VCF and score table out.

Text VCFs (plain, gzip or bgzip) are read by a small parser of the five columns that
scoring needs (CHROM POS ID REF ALT), so that an error names its exact line, and a
record that is fine for scoring is not refused for a problem elsewhere: htslib
refuses (pysam) or crashes on (cyvcf2, on a non-numeric POS) whole files for one bad
FORMAT field. BCF is read with pysam.

The annotated VCF is written by editing the text of each record (its INFO column
only), so every original field survives byte for byte, including what htslib would
rewrite or refuse to write (contigs missing from the header, repeated FORMAT keys).

Both directions stream: :func:`vcf_lines` reads a record when it is asked for, and
:func:`annotated_vcf` / :func:`table_writer` write as rows come, to a temporary name that
becomes the output only at the end, so a VCF of any size is scored in bounded memory.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import pysam

from ..errors import InputError
from ..io import atomic_open, atomic_path

VCF_SUFFIXES = (".vcf", ".vcf.gz")
_SEQUENCE_ALLELE = re.compile(r"[ACGTNRYSWKMBDHVU]+", re.IGNORECASE)  # what the tokenizer accepts
_VCF_HINT = ("a VCF starts with a '##fileformat=VCFv4.x' line and has a tab-separated "
             "'#CHROM POS ID REF ALT QUAL FILTER INFO' header line; BCF and gzip/bgzip VCF are read too")


@dataclass(frozen=True, slots=True)  # slots: small, one chunk of them is held at a time
class Variant:
    """A record to score: 1-based ``pos``, REF and its ALT alleles (empty when ALT is ``.``)."""

    chrom: str
    pos: int
    ref: str
    alts: tuple[str, ...]
    id: str = "."
    where: str = ""  # "line 12" (text VCF) or "record 5" (BCF), for messages


def is_symbolic(allele: str) -> bool:
    """True for alleles that are not a base sequence: ``<DEL>``, ``*``, breakends, ``.``."""
    return (allele.startswith("<") or allele in ("*", ".") or "[" in allele or "]" in allele
            or allele.startswith(".") or allele.endswith("."))


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as probe:
        return probe.read(2) == b"\x1f\x8b"  # gzip and bgzip alike


def _is_bcf(path: Path) -> bool:
    try:
        with (gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")) as handle:
            return handle.read(3) == b"BCF"
    except (OSError, EOFError, zlib.error):
        return False  # a broken compressed file: the text reader says where it breaks


def _numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its end) of a plain or gzip/bgzip text file."""
    lineno = 0
    try:
        with (gzip.open(path, "rt", errors="replace") if _is_gzip(path) else open(path, errors="replace")) as handle:
            for lineno, line in enumerate(handle, 1):
                yield lineno, line.rstrip("\r\n")
    except (OSError, EOFError, zlib.error) as err:
        raise InputError(f"{path}: cannot read past line {lineno} ({err}); the file is truncated or corrupt") from None


def _parse_record(path: Path, where: str, line: str) -> Variant:
    """The :class:`Variant` of a record line; ``where`` (e.g. ``line 12``) names it in errors and in the result."""
    cols = line.split("\t")
    if len(cols) < 8:
        raise InputError(f"{path}, {where}: malformed VCF record: {len(cols)} tab-separated column(s) where a "
                         "record needs at least 8 (CHROM POS ID REF ALT QUAL FILTER INFO); the line is truncated "
                         "or not tab-separated")
    chrom, pos, vid, ref, alt = cols[:5]
    if not pos.isdigit():
        raise InputError(f"{path}, {where}: malformed VCF record: POS {pos!r} is not a non-negative integer")
    if not chrom or not ref or not alt:
        raise InputError(f"{path}, {where}: malformed VCF record: empty CHROM, REF or ALT column")
    alts = () if alt == "." else tuple(alt.split(","))
    return Variant(chrom, int(pos), ref, alts, vid or ".", where)


Select = Callable[[int, str, "int | None"], bool]
"""Which records a reader yields: ``select(ordinal, chrom, pos)`` for each record (0-based ordinal in file
order; ``pos`` None when POS is not an integer, so the record cannot be placed). A record not selected is not
parsed or checked; a non-record line after the first record goes with the record before it."""


def _place(line: str) -> tuple[str, int | None]:
    """CHROM and POS of a record line, without checking the rest (POS None when it is not an integer)."""
    cols = line.split("\t", 2)
    pos = cols[1] if len(cols) > 1 else ""
    return cols[0], int(pos) if pos.isdigit() else None


def _text_items(path: Path, select: Select | None = None) -> Iterator[tuple[Variant | None, str]]:
    """Every line of a text VCF (no line end), with its :class:`Variant` for record lines.

    With ``select``: the header (every line before the first record) and the selected records, each
    followed by the non-record lines after it; records not selected are skipped unparsed.
    """
    header = False
    ordinal = -1
    keep = True  # whether the last record was selected (the lines after it go with it)
    for lineno, line in _numbered_lines(path):
        if lineno == 1 and not line.startswith("#"):  # '##fileformat=VCFv4.x' is not required, a header is
            raise InputError(f"{path}: not a VCF file (line 1 is {line[:40]!r}); {_VCF_HINT}")
        if line.startswith("#"):
            header = header or line.startswith("#CHROM")
            if keep:
                yield None, line
        elif line.strip():
            if not header:
                raise InputError(f"{path}, line {lineno}: a record before the '#CHROM ...' header line; {_VCF_HINT}")
            ordinal += 1
            keep = select is None or select(ordinal, *_place(line))
            if keep:
                yield _parse_record(path, f"line {lineno}", line), line
        elif keep:
            yield None, line
    if not header:
        raise InputError(f"{path}: no '#CHROM POS ID REF ALT ...' header line (empty or truncated?); {_VCF_HINT}")


def _bcf_items(path: Path, text: bool, select: Select | None = None) -> Iterator[tuple[Variant | None, str]]:
    """The records of a BCF (those ``select`` picks); with ``text``, also htslib's VCF text of the header and of
    each record."""
    verbosity = pysam.set_verbosity(0)  # htslib warns on stderr, e.g. about contigs missing from the header
    count = 0
    try:
        with pysam.VariantFile(str(path)) as bcf:
            if text:
                for line in str(bcf.header).splitlines():
                    yield None, line
            for count, rec in enumerate(bcf, 1):
                if select is not None and not select(count - 1, rec.chrom, rec.pos):
                    continue
                yield (Variant(rec.chrom, rec.pos, rec.ref or "", tuple(rec.alts or ()), rec.id or ".",
                               f"record {count}"), str(rec).rstrip("\n") if text else "")
    except (OSError, ValueError) as err:
        raise InputError(f"{path}, record {count + 1}: cannot read the BCF record ({err})") from None
    finally:
        pysam.set_verbosity(verbosity)


def _checked(path: Path, items: Iterator[tuple[Variant | None, str]]) -> Iterator[tuple[Variant | None, str]]:
    for rec, line in items:
        if rec is not None:
            for alt in rec.alts:
                if not is_symbolic(alt) and not _SEQUENCE_ALLELE.fullmatch(alt):
                    raise InputError(f"{path}, {rec.where} ({rec.chrom}:{rec.pos}): ALT allele {alt!r} is neither a "
                                     "base sequence (ACGTN, IUPAC codes) nor symbolic (<...>, *, breakend)")
        yield rec, line


def _vcf_items(path: str | os.PathLike, text: bool, select: Select | None = None
               ) -> Iterator[tuple[Variant | None, str]]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such VCF file")
    items = _bcf_items(path, text, select) if _is_bcf(path) else _text_items(path, select)
    yield from _checked(path, items)


def indexed_lines(path: str | os.PathLike, spans: dict[str, list[tuple[int, int | None]]]
                  ) -> Iterator[tuple[Variant | None, str]]:
    """The header and the records with POS in ``spans`` of a tabix-indexed bgzipped VCF, read through the index.

    ``spans``: contig (as written in the VCF) -> disjoint (start, end) ranges in increasing order,
    1-based, both ends included, ``end`` None for the contig's end. Records come once each, in
    file order (contigs in the index's order, which is the file's), as :func:`vcf_lines` yields
    them, except that a record's errors name its position, not its line number (an index does not
    know it); ``#`` lines between records are not seen.
    """
    path = Path(path)

    def items() -> Iterator[tuple[Variant | None, str]]:
        with pysam.TabixFile(str(path)) as tbx:
            for line in tbx.header:
                yield None, line.rstrip("\r\n")
            for chrom in (c for c in tbx.contigs if c in spans):
                for start, end in spans[chrom]:
                    for line in tbx.fetch(chrom, max(start - 1, 0), end):
                        line = line.rstrip("\r\n")
                        pos = _place(line)[1]
                        if pos is None or (start <= pos and (end is None or pos <= end)):  # fetch: overlaps too
                            where = (f"record at {chrom}:{pos if pos is not None else '?'} (line number unknown: "
                                     "read through the tabix index)")
                            yield _parse_record(path, where, line), line

    yield from _checked(path, items())


def has_tabix_index(path: str | os.PathLike) -> bool:
    """True for a bgzipped text VCF with a ``.tbi`` or ``.csi`` index beside it."""
    path = Path(path)
    if not (path.is_file() and _is_gzip(path)) or _is_bcf(path):
        return False
    return any(Path(f"{path}{suffix}").is_file() for suffix in (".tbi", ".csi"))


def vcf_lines(path: str | os.PathLike, select: Select | None = None) -> Iterator[tuple[Variant | None, str]]:
    """Every line of a VCF, VCF.gz or BCF (htslib's VCF text) in file order, with its :class:`Variant`.

    Yields ``(variant, line)`` for each record and ``(None, line)`` for header (and blank)
    lines; lines have no line end. A generator: the file is read as it is consumed, so a big
    VCF is never held in memory. Raises :class:`InputError` as :func:`read_vcf` does, when
    the bad line is reached. ``select`` (see :data:`Select`) keeps some records only: the
    header, the selected records and the lines after each (how ``--chunk``/``--regions`` read
    their slice; line numbers in errors stay exact, the file being read from its start).
    """
    yield from _vcf_items(path, text=True, select=select)


def count_records(path: str | os.PathLike) -> int:
    """The number of records of a VCF, VCF.gz or BCF, counted in one streaming pass without parsing them."""
    count = 0

    def never(ordinal: int, chrom: str, pos: int | None) -> bool:
        nonlocal count
        count = ordinal + 1
        return False

    for _ in _vcf_items(path, text=False, select=never):
        pass
    return count


def iter_vcf(path: str | os.PathLike) -> Iterator[Variant]:
    """The records of a VCF, VCF.gz or BCF in file order, read as they are consumed (see :func:`read_vcf`)."""
    return (rec for rec, _ in _vcf_items(path, text=False) if rec is not None)


def read_vcf(path: str | os.PathLike) -> list[Variant]:
    """Every record of a VCF, VCF.gz (gzip or bgzip) or BCF, in file order.

    Raises :class:`InputError` naming the file and line (record, for BCF) of a
    truncated or malformed record, or of an ALT allele that is neither a base sequence
    nor symbolic.
    """
    return list(iter_vcf(path))


# --------------------------------------------------------------------------- annotated VCF


@dataclass(frozen=True)
class InfoField:
    """A Number=A Float INFO field to add: its values per record, one per ALT (None = missing)."""

    key: str
    description: str
    values: Sequence[Sequence[float | None]] = ()


def _format_value(value: float | None) -> str:
    return "." if value is None or math.isnan(value) else f"{value:.6g}"


def _annotate_info(info: str, keys: Sequence[str], values: Sequence[Sequence[float | None]]) -> str:
    parts = [p for p in info.split(";") if p and p != "." and p.split("=", 1)[0] not in keys]
    for key, vals in zip(keys, values):
        if any(v is not None and not math.isnan(v) for v in vals):
            parts.append(f"{key}=" + ",".join(_format_value(v) for v in vals))
    return ";".join(parts) or "."


class AnnotatedVcfWriter:
    """Writes a VCF line by line with INFO fields added to each record (made by :func:`annotated_vcf`).

    Give it every line of the source (:func:`vcf_lines`) in order: header lines with
    :meth:`line`, records with :meth:`record` and their values. Header lines of the added
    keys are replaced, the new ``##INFO`` lines go just before ``#CHROM``; every other line
    and field is kept byte for byte. ``sorted`` says whether the records so far are sorted
    as tabix needs (each contig in one block, positions non-decreasing).
    """

    def __init__(self, write: Callable[[str], object], fields: Sequence[InfoField]):
        self._write = write
        self.fields = list(fields)
        self.keys = [f.key for f in self.fields]
        self._header_keys = tuple(f"##INFO=<ID={k}," for k in self.keys)
        self.sorted = True
        self.index: Path | None = None  # set by annotated_vcf once the file is indexed
        self._chrom: str | None = None
        self._pos = 0
        self._done: set[str] = set()  # contigs whose block has ended

    def line(self, line: str) -> None:
        """A header, comment or blank line (without its end)."""
        if line.startswith("##"):
            if not line.startswith(self._header_keys):  # an earlier annotation is replaced, not repeated
                self._write(line + "\n")
            return
        if line.startswith("#CHROM"):
            for f in self.fields:
                description = f.description.replace('"', "'")
                self._write(f'##INFO=<ID={f.key},Number=A,Type=Float,Description="{description}">\n')
        self._write(line + "\n")

    def record(self, rec: Variant, line: str, values: Sequence[Sequence[float | None]]) -> None:
        """A record's line, with ``values[k]`` (one per ALT) as the ``k``-th field's INFO value."""
        self._order(rec)
        cols = line.split("\t")
        cols[7] = _annotate_info(cols[7], self.keys, values)
        self._write("\t".join(cols) + "\n")

    def copy(self, rec: Variant, line: str) -> None:
        """A record's line as it is (already annotated: how chunk outputs are gathered)."""
        self._order(rec)
        self._write(line + "\n")

    def _order(self, rec: Variant) -> None:
        """Update :attr:`sorted` with the next record."""
        if rec.chrom != self._chrom:
            if self._chrom is not None:
                self._done.add(self._chrom)
            self.sorted = self.sorted and rec.chrom not in self._done
            self._chrom = rec.chrom
        elif rec.pos < self._pos:
            self.sorted = False
        self._pos = rec.pos


@contextlib.contextmanager
def annotated_vcf(dst: str | os.PathLike, fields: Sequence[InfoField]) -> Iterator[AnnotatedVcfWriter]:
    """An :class:`AnnotatedVcfWriter` onto ``dst``, which appears only when the block succeeds.

    A ``.gz`` name is bgzip-compressed and, when the records came sorted (decided while
    writing), tabix-indexed at the end: ``writer.index`` is then ``dst.tbi``. On an error
    neither file is left behind (nor a stale index beside a new file).
    """
    dst = Path(dst)
    check_vcf_output(dst)
    if not dst.name.endswith(".gz"):
        with atomic_open(dst) as out:
            yield AnnotatedVcfWriter(out.write, fields)
        return
    index = Path(str(dst) + ".tbi")
    with atomic_path(dst) as tmp:
        tmp_index = tmp.with_name(tmp.name + ".tbi")
        try:
            with pysam.BGZFile(str(tmp), "wb") as out:
                writer = AnnotatedVcfWriter(lambda text: out.write(text.encode()), fields)
                yield writer
            index.unlink(missing_ok=True)  # a stale index must not sit beside a new file
            if writer.sorted:
                verbosity = pysam.set_verbosity(0)
                try:
                    pysam.tabix_index(str(tmp), preset="vcf", force=True, index=str(tmp_index))
                except OSError:  # anything else tabix refuses: the file is kept, without an index
                    tmp_index.unlink(missing_ok=True)
                finally:
                    pysam.set_verbosity(verbosity)
        except BaseException:
            tmp_index.unlink(missing_ok=True)
            raise
    if tmp_index.exists():
        os.replace(tmp_index, index)  # after the data file, so an index never points at a missing one
        writer.index = index


def write_annotated_vcf(src: str | os.PathLike, dst: str | os.PathLike, records: Sequence[Variant],
                        fields: Sequence[InfoField]) -> Path | None:
    """Copy ``src`` to ``dst`` with ``fields`` added to each record's INFO; every other field is kept.

    ``fields[k].values[i]``: the values of record ``i`` of ``records`` (``src``'s records, in
    order). ``dst`` ending in ``.gz`` is bgzip-compressed and tabix-indexed (``dst.tbi``).
    Returns the index path, or None when there is none (plain VCF, or records not sorted,
    which tabix cannot index). Both files appear only when complete.
    """
    src = Path(src)
    with annotated_vcf(dst, fields) as out:
        index = 0
        for rec, line in vcf_lines(src):
            if rec is None:
                out.line(line)
                continue
            if index >= len(records) or (rec.chrom, rec.pos) != (records[index].chrom, records[index].pos):
                raise InputError(f"{src} changed while it was being scored (record {index + 1} differs)")
            out.record(rec, line, [f.values[index] for f in fields])
            index += 1
        if index != len(records):
            raise InputError(f"{src} changed while it was being scored: {index} records now, {len(records)} before")
    return out.index


def check_vcf_output(path: str | os.PathLike) -> None:
    """Refuse an output VCF name we cannot write, before any work is done."""
    if not str(path).endswith(VCF_SUFFIXES):
        raise InputError(f"{path}: the annotated VCF must end in .vcf or .vcf.gz (bgzipped + tabix index)")


# --------------------------------------------------------------------------- score table


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "NA" if math.isnan(value) else f"{value:.8g}"
    return str(value)


@contextlib.contextmanager
def table_writer(path: str | os.PathLike, header: Sequence[str]) -> Iterator[Callable[[Iterable[Sequence[object]]], None]]:
    """A tab-separated table written as rows come: yields ``write(rows)``; appears at ``path`` when the block succeeds.

    Floats to 8 significant digits, NaN as ``NA``.
    """
    with atomic_open(path) as out:
        out.write("\t".join(header) + "\n")

        def write(rows: Iterable[Sequence[object]]) -> None:
            out.writelines("\t".join(_cell(v) for v in row) + "\n" for row in rows)

        yield write


def write_table(path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    """A tab-separated table; floats to 8 significant digits, NaN as ``NA``. Written atomically."""
    with table_writer(path, header) as write:
        write(rows)
    return Path(path)

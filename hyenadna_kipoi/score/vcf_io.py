"""VCF in, annotated VCF and score table out.

Text VCFs (plain, gzip or bgzip) are read by a small parser of the five columns that
scoring needs (CHROM POS ID REF ALT), so that an error names its exact line, and a
record that is fine for scoring is not refused for a problem elsewhere: htslib
refuses (pysam) or crashes on (cyvcf2, on a non-numeric POS) whole files for one bad
FORMAT field. BCF is read with pysam.

The annotated VCF is written by editing the text of each record (its INFO column
only), so every original field survives byte for byte, including what htslib would
rewrite or refuse to write (contigs missing from the header, repeated FORMAT keys).
"""

from __future__ import annotations

import gzip
import math
import os
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import pysam

from ..errors import InputError
from ..io import atomic_open, atomic_path

VCF_SUFFIXES = (".vcf", ".vcf.gz")
_SEQUENCE_ALLELE = re.compile(r"[ACGTNRYSWKMBDHVU]+", re.IGNORECASE)  # what the tokenizer accepts
_VCF_HINT = ("a VCF starts with a '##fileformat=VCFv4.x' line and has a tab-separated "
             "'#CHROM POS ID REF ALT QUAL FILTER INFO' header line; BCF and gzip/bgzip VCF are read too")


@dataclass(frozen=True, slots=True)  # slots: a big VCF is held in memory as millions of these
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


def _parse_record(path: Path, lineno: int, line: str) -> Variant:
    where = f"line {lineno}"
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


def _read_text_vcf(path: Path) -> Iterator[Variant]:
    header = False
    for lineno, line in _numbered_lines(path):
        if lineno == 1 and not line.startswith("#"):  # '##fileformat=VCFv4.x' is not required, a header is
            raise InputError(f"{path}: not a VCF file (line 1 is {line[:40]!r}); {_VCF_HINT}")
        if line.startswith("#"):
            header = header or line.startswith("#CHROM")
        elif line.strip():
            if not header:
                raise InputError(f"{path}, line {lineno}: a record before the '#CHROM ...' header line; {_VCF_HINT}")
            yield _parse_record(path, lineno, line)
    if not header:
        raise InputError(f"{path}: no '#CHROM POS ID REF ALT ...' header line (empty or truncated?); {_VCF_HINT}")


def _read_bcf(path: Path) -> Iterator[Variant]:
    verbosity = pysam.set_verbosity(0)  # htslib warns on stderr, e.g. about contigs missing from the header
    count = 0
    try:
        with pysam.VariantFile(str(path)) as bcf:
            for count, rec in enumerate(bcf, 1):
                yield Variant(rec.chrom, rec.pos, rec.ref or "", tuple(rec.alts or ()), rec.id or ".",
                              f"record {count}")
    except (OSError, ValueError) as err:
        raise InputError(f"{path}, record {count + 1}: cannot read the BCF record ({err})") from None
    finally:
        pysam.set_verbosity(verbosity)


def read_vcf(path: str | os.PathLike) -> list[Variant]:
    """Every record of a VCF, VCF.gz (gzip or bgzip) or BCF, in file order.

    Raises :class:`InputError` naming the file and line (record, for BCF) of a
    truncated or malformed record, or of an ALT allele that is neither a base sequence
    nor symbolic.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such VCF file")
    records = list(_read_bcf(path) if _is_bcf(path) else _read_text_vcf(path))
    for rec in records:
        for alt in rec.alts:
            if not is_symbolic(alt) and not _SEQUENCE_ALLELE.fullmatch(alt):
                raise InputError(f"{path}, {rec.where} ({rec.chrom}:{rec.pos}): ALT allele {alt!r} is neither a base "
                                 "sequence (ACGTN, IUPAC codes) nor symbolic (<...>, *, breakend)")
    return records


# --------------------------------------------------------------------------- annotated VCF


@dataclass(frozen=True)
class InfoField:
    """A Number=A Float INFO field to add: its values per record, one per ALT (None = missing)."""

    key: str
    description: str
    values: Sequence[Sequence[float | None]]


def _format_value(value: float | None) -> str:
    return "." if value is None or math.isnan(value) else f"{value:.6g}"


def _source_lines(path: Path) -> Iterator[str]:
    """The VCF text of ``path`` line by line (no line ends): the file itself, or htslib's rendering of a BCF."""
    if not _is_bcf(path):
        yield from (line for _, line in _numbered_lines(path))
        return
    verbosity = pysam.set_verbosity(0)
    try:
        with pysam.VariantFile(str(path)) as vcf:
            yield from str(vcf.header).splitlines()
            for rec in vcf:
                yield str(rec).rstrip("\n")
    finally:
        pysam.set_verbosity(verbosity)


def _annotate_info(info: str, fields: Sequence[InfoField], index: int) -> str:
    keys = {f.key for f in fields}
    parts = [p for p in info.split(";") if p and p != "." and p.split("=", 1)[0] not in keys]
    for field in fields:
        values = field.values[index]
        if any(v is not None and not math.isnan(v) for v in values):
            parts.append(f"{field.key}=" + ",".join(_format_value(v) for v in values))
    return ";".join(parts) or "."


def _annotated_lines(src: Path, records: Sequence[Variant], fields: Sequence[InfoField]) -> Iterator[str]:
    keys = tuple(f"##INFO=<ID={f.key}," for f in fields)
    index = 0
    for line in _source_lines(src):
        if line.startswith("##"):
            if not line.startswith(keys):  # an earlier annotation is replaced, not repeated
                yield line + "\n"
            continue
        if line.startswith("#"):
            if line.startswith("#CHROM"):
                for f in fields:
                    description = f.description.replace('"', "'")
                    yield f'##INFO=<ID={f.key},Number=A,Type=Float,Description="{description}">\n'
            yield line + "\n"
            continue
        if not line.strip():
            yield line + "\n"
            continue
        cols = line.split("\t")
        rec = records[index] if index < len(records) else None
        if rec is None or cols[0] != rec.chrom or not cols[1].isdigit() or int(cols[1]) != rec.pos:
            raise InputError(f"{src} changed while it was being scored (record {index + 1} differs)")
        cols[7] = _annotate_info(cols[7], fields, index)
        index += 1
        yield "\t".join(cols) + "\n"
    if index != len(records):
        raise InputError(f"{src} changed while it was being scored: {index} records now, {len(records)} before")


def write_annotated_vcf(src: str | os.PathLike, dst: str | os.PathLike, records: Sequence[Variant],
                        fields: Sequence[InfoField]) -> Path | None:
    """Copy ``src`` to ``dst`` with ``fields`` added to each record's INFO; every other field is kept.

    ``dst`` ending in ``.gz`` is bgzip-compressed and tabix-indexed (``dst.tbi``). Returns
    the index path, or None when there is none (plain VCF, or records not sorted, which
    tabix cannot index). Both files appear only when complete.
    """
    src, dst = Path(src), Path(dst)
    check_vcf_output(dst)
    if not dst.name.endswith(".gz"):
        with atomic_open(dst) as out:
            out.writelines(_annotated_lines(src, records, fields))
        return None
    index = Path(str(dst) + ".tbi")
    index.unlink(missing_ok=True)  # a stale index must not sit beside a new file
    with atomic_path(dst) as tmp:
        with pysam.BGZFile(str(tmp), "wb") as out:
            for line in _annotated_lines(src, records, fields):
                out.write(line.encode())
        tmp_index = tmp.with_name(tmp.name + ".tbi")
        verbosity = pysam.set_verbosity(0)
        try:
            pysam.tabix_index(str(tmp), preset="vcf", force=True, index=str(tmp_index))
        except OSError:  # records not sorted by position: tabix cannot index them
            tmp_index.unlink(missing_ok=True)
            return None
        finally:
            pysam.set_verbosity(verbosity)
    os.replace(tmp_index, index)  # after the data file, so an index never points at a missing one
    return index


def check_vcf_output(path: str | os.PathLike) -> None:
    """Refuse an output VCF name we cannot write, before any work is done."""
    if not str(path).endswith(VCF_SUFFIXES):
        raise InputError(f"{path}: the annotated VCF must end in .vcf or .vcf.gz (bgzipped + tabix index)")


# --------------------------------------------------------------------------- score table


def write_table(path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    """A tab-separated table; floats to 8 significant digits, NaN as ``NA``. Written atomically."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return "NA" if math.isnan(value) else f"{value:.8g}"
        return str(value)

    with atomic_open(path) as out:
        out.write("\t".join(header) + "\n")
        for row in rows:
            out.write("\t".join(cell(v) for v in row) + "\n")
    return Path(path)

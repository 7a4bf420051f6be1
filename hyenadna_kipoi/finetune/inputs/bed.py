"""``bed`` layout: ``chrom start end label...`` intervals on a reference FASTA, split by chromosome."""

from __future__ import annotations

from pathlib import Path

from ...data.fasta import read_fasta
from ...data.genome import Genome, bed_lines, bed_span, contig_aliases, fasta_compression, recentre
from ...errors import ConfigError, InputError
from .labels import parse_value
from .pool import Pool, check_declared_class


class _MemoryGenome:
    """A small plain-gzip FASTA read into memory, with the :class:`Genome` calls used here."""

    def __init__(self, path: Path):
        self.path = path
        self.seqs = dict(read_fasta(path))

    @property
    def contigs(self) -> dict[str, int]:
        return {name: len(seq) for name, seq in self.seqs.items()}

    def resolve(self, chrom: str) -> str | None:
        return next((n for n in [chrom, *contig_aliases(chrom)] if n in self.seqs), None)

    def fetch(self, chrom: str, start: int, end: int) -> str:
        return self.seqs[chrom][start:end]

    def close(self) -> None:
        pass


def _open_reference(path: Path) -> Genome | _MemoryGenome:
    if not path.exists():
        raise InputError(f"{path}: no such FASTA file (task.input.fasta)")
    return _MemoryGenome(path) if fasta_compression(path) == "gzip" else Genome(path)


def read_bed_task(inp, *, kind, declared, seed, source):
    """A labelled fine-tuning task from a BED file (``chrom start end label...``) and its FASTA.

    Returns split -> records (None for a split the layout does not give) and the target
    names (None for classification). Lines are read by :func:`~hyenadna_kipoi.data.genome.bed_lines`
    and :func:`~hyenadna_kipoi.data.genome.bed_span`, as every BED file is; the first
    header before the intervals may name the label columns.
    """
    bed, fasta = Path(inp["bed"]), Path(inp["fasta"])
    if not bed.exists():
        raise InputError(f"{bed}: no such BED file (task.input.bed)")
    names: list[str] | None = list(inp["label_columns"]) if inp.get("label_columns") else None
    rows: list[tuple[int, list[str]]] = []
    for lineno, cols, is_header in bed_lines(bed):
        if is_header:
            header = [c.strip() for c in cols[3:]]
            if rows or not header:
                continue
            if names is not None and header != names:
                raise InputError(f"{bed}, line {lineno}: the header's label columns ({', '.join(header)}) differ "
                                 f"from task.input.label_columns ({', '.join(names)})")
            names = header
            continue
        rows.append((lineno, cols))
    if not rows:
        raise InputError(f"{bed}: no intervals")
    if names is None:
        width = len(rows[0][1]) - 3
        if kind == "classification":
            names = ["label"]
        elif declared is not None and len(declared) == width:
            names = list(declared)
        else:
            names = [f"target{i + 1}" for i in range(width)]
    if not names:
        raise InputError(f"{bed}, line {rows[0][0]}: no label column after chrom, start, end")
    if kind == "classification" and len(names) != 1:
        raise InputError(f"{bed}: a classification BED has one label column (the class name), found "
                         f"{len(names)} ({', '.join(names)})")

    valid_chroms, test_chroms = set(inp.get("valid_chroms") or []), set(inp.get("test_chroms") or [])
    both = valid_chroms & test_chroms
    if both:
        raise ConfigError(f"{source}: config key task.input: contig(s) {', '.join(sorted(both))} are in both "
                          "valid_chroms and test_chroms")
    genome = _open_reference(fasta)
    try:
        split_of = {}
        for split, chroms in (("valid", valid_chroms), ("test", test_chroms)):
            for chrom in chroms:
                split_of[genome.resolve(chrom) or chrom] = split
        pools: dict[str, Pool | None] = {"train": Pool(), "valid": Pool() if valid_chroms else None,
                                         "test": Pool() if test_chroms else None}
        length = inp.get("length")
        for lineno, cols in rows:
            where = f"{bed}, line {lineno}"
            if len(cols) != 3 + len(names):
                raise InputError(f"{where}: {len(cols)} columns, expected {3 + len(names)} (chrom, start, end and the "
                                 f"label column(s) {', '.join(names)})")
            start, end = bed_span(cols, where)
            chrom = genome.resolve(cols[0])
            if chrom is None:
                raise InputError(f"{where}: contig {cols[0]!r} is not in {fasta}")
            size = genome.contigs[chrom]
            if end > size:
                raise InputError(f"{where}: {cols[0]}:{start}-{end} lies outside its contig ({chrom} has {size:,} bases)")
            if length is not None:
                start, end = recentre(start, end, length)
                if start < 0 or end > size:
                    raise InputError(f"{where}: recentred to {length} bp ({cols[0]}:{start}-{end}) the interval lies "
                                     f"outside its contig ({chrom} has {size:,} bases)")
            if kind == "classification":
                label = cols[3].strip()
                check_declared_class(label, declared, where)
            else:
                label = [parse_value(c, kind, f"{where}, column {names[i]}")[0] for i, c in enumerate(cols[3:])]
            pool = pools[split_of.get(chrom, "train")]
            assert pool is not None
            pool.add(f"{cols[0]}:{start}-{end}", genome.fetch(chrom, start, end), label, where)
    finally:
        genome.close()
    for split in ("valid", "test"):
        if pools[split] is not None and not len(pools[split]):
            raise InputError(f"{bed}: no intervals on the {split} contigs ({', '.join(sorted(inp[split + '_chroms']))})")
    return pools, (None if kind == "classification" else names)

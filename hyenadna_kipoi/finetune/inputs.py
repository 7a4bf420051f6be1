"""Read a fine-tuning task from any of its five input layouts into a :class:`TaskData`.

Layouts (``task.input.format``; see ``config/README.md``):

* ``fasta_per_class``: class name -> FASTA (plain or gzip), optional explicit test/valid files.
* ``genomic_benchmarks``: ``FOLDER/{train,test[,valid]}/<class>/*.txt``, one sequence per file.
* ``nucleotide_transformer``: CSV with a header holding ``sequence,label`` (optional ``name``), or
  FASTA whose headers are ``>name|label``.
* ``bed``: ``chrom start end label...`` on a reference FASTA, split by chromosome.
* ``species``: random windows of several genomes; each contig is cut by position into
  consecutive train / valid / test regions holding 80/10/10 % of its ACGT bases, so no
  window overlaps one of another split. Windows within a split may overlap (small genomes).

Rules shared by every layout:

* Sequences are upper-cased. Class order (``TaskData.labels``) is ``task.labels`` when
  declared, else the labels found, sorted (numerically when all are integers). Target
  names of multilabel/regression tasks keep their column order unless declared.
* A missing valid (test) split is carved out of train: ``valid_fraction`` (``test_fraction``)
  of every class (stratified; plain random for multilabel/regression), seeded by ``seed``.
  ``max_train`` then caps train by a stratified seeded subsample.
* Leakage: a train (valid) sequence identical to a test (valid or test) sequence, or to its
  reverse complement (training uses reverse-complement augmentation), is dropped from the
  earlier split with a warning on stderr giving the count: real data sets hold duplicates.
  :func:`check_no_overlap` then verifies the splits (and, for species windows, that no
  window overlaps a window of another split).
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..data.fasta import read_fasta
from ..data.genome import Genome, contig_aliases, fasta_compression
from ..errors import ConfigError, InputError
from ..tokenizer import reverse_complement
from .task import KINDS, SPLITS, Split, TaskData

__all__ = ["check_lengths", "check_no_overlap", "load_task", "sort_labels"]

_SPLIT_REGIONS = {"train": (0.0, 0.8), "valid": (0.8, 0.9), "test": (0.9, 1.0)}
_WINDOW_ID = re.compile(r"^(?P<contig>.+):(?P<start>\d+)-(?P<end>\d+)$")


@dataclass
class _Pool:
    """Records of one split before labels are encoded; ``where[i]`` names record i's origin for errors."""

    ids: list[str] = field(default_factory=list)
    seqs: list[str] = field(default_factory=list)
    labels: list[Any] = field(default_factory=list)  # class name, or a list of floats per target
    where: list[str] = field(default_factory=list)

    def add(self, id_: str, seq: str, label: Any, where: str) -> None:
        if not seq:
            raise InputError(f"{where}: empty sequence")
        self.ids.append(id_)
        self.seqs.append(seq.upper())
        self.labels.append(label)
        self.where.append(where)

    def take(self, index: Iterable[int]) -> _Pool:
        index = list(index)
        return _Pool(*([getattr(self, f)[i] for i in index] for f in ("ids", "seqs", "labels", "where")))

    def __len__(self) -> int:
        return len(self.seqs)


# --------------------------------------------------------------------------- entry point


def load_task(cfg: dict[str, Any], *, seed: int, source: str = "config") -> TaskData:
    """The task of a validated fine-tuning config (the whole config or its ``task`` section).

    Reads the input layout, checks the labels, carves missing valid/test splits, applies
    ``max_train``, drops leaked duplicates and checks the splits (:func:`check_no_overlap`).
    ``source`` (the config file) prefixes configuration errors. Raises :class:`InputError`
    naming the file and line/record for bad data.
    """
    task = cfg["task"] if "task" in cfg and "input" not in cfg else cfg
    kind, inp = task["kind"], task["input"]
    if kind not in KINDS:
        raise ConfigError(f"{source}: config key task.kind: {kind!r} is not one of {', '.join(KINDS)}")
    declared = None if task.get("labels") is None else [str(x) for x in task["labels"]]
    readers = {"fasta_per_class": _read_fasta_per_class, "genomic_benchmarks": _read_genomic_benchmarks,
               "nucleotide_transformer": _read_nucleotide_transformer, "bed": _read_bed, "species": _read_species}
    if inp["format"] not in readers:
        raise ConfigError(f"{source}: config key task.input.format: unknown format {inp['format']!r}")
    pools, targets_names = readers[inp["format"]](inp, kind=kind, declared=declared, seed=seed, source=source)

    if kind == "classification":
        labels = _class_labels(pools, declared)
    else:
        labels, pools = _target_names(pools, targets_names, declared, source)

    pools = _carve(pools, kind, task.get("valid_fraction", 0.1), task.get("test_fraction", 0.1), seed)
    if task.get("max_train") is not None and len(pools["train"]) > task["max_train"]:
        keep = _stratified_subset(pools["train"], kind, task["max_train"], np.random.default_rng([seed, 2]))
        pools["train"] = pools["train"].take(keep)
    _drop_leaks(pools, source)

    result = TaskData(task["name"], kind, labels, {s: _encode(pools[s], kind, labels) for s in SPLITS})
    if len(result.splits["train"]) == 0:
        raise InputError(f"{source}: task {task['name']!r} has no training sequences")
    check_no_overlap(result)
    return result


def check_lengths(task: TaskData, l_max: int, source: str = "config") -> None:
    """Raise :class:`InputError` for the first sequence longer than ``l_max`` bases (the model context).

    The caller passes the room left for bases (``l_max`` minus any prompt/special tokens it adds).
    """
    for name, split in task.splits.items():
        for id_, seq in zip(split.ids, split.sequences):
            if len(seq) > l_max:
                raise InputError(f"{source}: sequence {id_} ({len(seq)} bp, {name} split of task {task.name!r}) is "
                                 f"longer than the model context l_max ({l_max}); use a model with a longer "
                                 "context or shorter sequences")


def check_no_overlap(task: TaskData) -> None:
    """Raise :class:`InputError` when a sequence (or its reverse complement) is in two splits.

    For species-window tasks (every id ``<label>/<contig>:<start>-<end>``) also when a
    window overlaps a window of another split on the same contig.
    """
    keys = {name: {_canonical(s): i for i, s in enumerate(split.sequences)} for name, split in task.splits.items()}
    for a, b in (("train", "test"), ("train", "valid"), ("valid", "test")):
        if a in keys and b in keys:
            shared = keys[a].keys() & keys[b].keys()
            if shared:
                example = task.splits[b].ids[keys[b][next(iter(shared))]]
                raise InputError(f"task {task.name!r}: {len(shared)} sequence(s) of the {b} split are also in the "
                                 f"{a} split (e.g. {example}), directly or reverse-complemented")
    windows = _windows(task)
    if windows is None:
        return
    by_contig: dict[str, list[tuple[int, int, str, str]]] = {}
    for name, items in windows.items():
        for contig, start, end, id_ in items:
            by_contig.setdefault(contig, []).append((start, end, name, id_))
    for contig, items in by_contig.items():
        items.sort()
        reach_end, reach_split, reach_id = -1, "", ""
        for start, end, name, id_ in items:
            if start < reach_end and name != reach_split:
                raise InputError(f"task {task.name!r}: window {id_} ({name}) overlaps {reach_id} ({reach_split})")
            if end > reach_end:
                reach_end, reach_split, reach_id = end, name, id_


def sort_labels(found: Iterable[str]) -> list[str]:
    """Labels in their default order: numeric when all are integers, else lexicographic."""
    found = set(found)
    if all(re.fullmatch(r"[-+]?\d+", x) for x in found):
        return sorted(found, key=int)
    return sorted(found)


# --------------------------------------------------------------------------- labels, splits


def _class_labels(pools: dict[str, _Pool | None], declared: list[str] | None) -> list[str]:
    found: dict[str, str] = {}
    for pool in pools.values():
        for label, where in zip(pool.labels if pool else [], pool.where if pool else []):
            found.setdefault(label, where)
    if declared is not None:
        for label, where in found.items():
            if label not in declared:
                raise InputError(f"{where}: label {label!r} is not in the declared task.labels ({', '.join(declared)})")
        return list(declared)
    if len(found) < 2:
        raise InputError(f"a classification task needs at least 2 classes; found {sorted(found) or 'none'}")
    return sort_labels(found)


def _target_names(pools: dict[str, _Pool | None], names: list[str], declared: list[str] | None,
                  source: str) -> tuple[list[str], dict[str, _Pool | None]]:
    if declared is None or declared == names:
        return names, pools
    if len(declared) == 1 and len(names) == 1:  # a single unnamed target (CSV `label`) takes the declared name
        return list(declared), pools
    if sorted(declared) != sorted(names):
        raise InputError(f"{source}: task.labels ({', '.join(declared)}) do not match the target columns found in the "
                         f"data ({', '.join(names)})")
    order = [names.index(x) for x in declared]
    for pool in pools.values():
        if pool is not None:
            pool.labels = [[row[i] for i in order] for row in pool.labels]
    return list(declared), pools


def _groups(pool: _Pool, kind: str) -> list[list[int]]:
    """Index groups to stratify by: one per class (classification), else a single group."""
    if kind != "classification":
        return [list(range(len(pool)))]
    groups: dict[str, list[int]] = {}
    for i, label in enumerate(pool.labels):
        groups.setdefault(label, []).append(i)
    return [groups[k] for k in sorted(groups)]


def _carve(pools: dict[str, _Pool | None], kind: str, valid_fraction: float, test_fraction: float,
           seed: int) -> dict[str, _Pool]:
    """Fill the missing valid/test splits from train (stratified, seeded); file order is kept in every split."""
    train = pools["train"]
    fractions = {s: f for s, f in (("test", test_fraction), ("valid", valid_fraction)) if pools.get(s) is None}
    if not fractions:
        return dict(pools)  # type: ignore[arg-type]
    rng = np.random.default_rng([seed, 1])
    taken: dict[str, list[int]] = {s: [] for s in fractions}
    rest: list[int] = []
    for group in _groups(train, kind):
        order = [group[i] for i in rng.permutation(len(group))]
        pos = 0
        for split, fraction in fractions.items():
            n = int(round(fraction * len(group)))
            taken[split] += order[pos:pos + n]
            pos += n
        rest += order[pos:]
    out = dict(pools)
    for split in fractions:
        out[split] = train.take(sorted(taken[split]))
    out["train"] = train.take(sorted(rest))
    return out  # type: ignore[return-value]


def _stratified_subset(pool: _Pool, kind: str, n: int, rng: np.random.Generator) -> list[int]:
    """``n`` indices of ``pool`` with every class in proportion (largest remainder), in file order."""
    groups = _groups(pool, kind)
    exact = np.array([n * len(g) / len(pool) for g in groups])
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    keep: list[int] = []
    for group, count in zip(groups, counts):
        keep += [group[i] for i in rng.choice(len(group), size=count, replace=False)]
    return sorted(keep)


def _canonical(seq: str) -> str:
    rc = reverse_complement(seq)
    return seq if seq <= rc else rc


def _drop_leaks(pools: dict[str, _Pool], source: str) -> None:
    """Drop train/valid sequences identical (or reverse-complementary) to one of a later split."""
    later: set[str] = set()
    for split in ("test", "valid", "train"):
        pool = pools[split]
        keys = [_canonical(s) for s in pool.seqs]
        if split != "test":
            keep = [i for i, k in enumerate(keys) if k not in later]
            dropped = len(pool) - len(keep)
            if dropped:
                print(f"warning: {source}: dropped {dropped} {split} sequence(s) identical to (or the reverse complement "
                      f"of) a {'test' if split == 'valid' else 'valid/test'} sequence", file=sys.stderr)
                pools[split] = pool = pool.take(keep)
                keys = [keys[i] for i in keep]
        later.update(keys)


def _encode(pool: _Pool, kind: str, labels: list[str]) -> Split:
    if kind == "classification":
        index = {name: i for i, name in enumerate(labels)}
        targets = np.array([index[x] for x in pool.labels], dtype=np.int64)
    else:
        targets = np.array(pool.labels, dtype=np.float32).reshape(len(pool), len(labels))
    return Split(list(pool.ids), list(pool.seqs), targets)


def _windows(task: TaskData) -> dict[str, list[tuple[str, int, int, str]]] | None:
    """Species windows per split as (contig key, start, end, id), or None when the ids are not windows."""
    out: dict[str, list[tuple[str, int, int, str]]] = {}
    if task.kind != "classification":
        return None
    for name, split in task.splits.items():
        items = []
        for id_, target in zip(split.ids, split.targets):
            label = task.labels[int(target)]
            match = _WINDOW_ID.match(id_)
            if match is None or not id_.startswith(label + "/"):
                return None
            items.append((match["contig"], int(match["start"]), int(match["end"]), id_))
        out[name] = items
    return out


# --------------------------------------------------------------------------- layouts


def _paths(value: str | list[str]) -> list[Path]:
    return [Path(p) for p in ([value] if isinstance(value, str) else value)]


def _check_declared_class(label: str, declared: list[str] | None, where: str) -> None:
    if declared is not None and label not in declared:
        raise InputError(f"{where}: label {label!r} is not in the declared task.labels ({', '.join(declared)})")


def _read_fasta_per_class(inp, *, kind, declared, seed, source):
    pools: dict[str, _Pool | None] = {}
    for split in SPLITS:
        files = inp.get(split)
        if files is None:
            pools[split] = None
            continue
        pool = _Pool()
        for label, value in files.items():
            label = str(label)
            for path in _paths(value):
                _check_declared_class(label, declared, f"{path} (class {label!r} of task.input.{split})")
                for i, (name, seq) in enumerate(read_fasta(path), 1):
                    pool.add(name, seq, label, f"{path}, record {i} ({name})")
        pools[split] = pool
    return pools, None


def _read_genomic_benchmarks(inp, *, kind, declared, seed, source):
    folder = Path(inp["folder"])
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder (task.input.folder of a genomic_benchmarks task)")
    if not (folder / "train").is_dir():
        raise InputError(f"{folder}: no train/ folder; the layout is FOLDER/train/<class>/*.txt (and test/, valid/)")
    pools: dict[str, _Pool | None] = {}
    for split in SPLITS:
        base = folder / split
        if not base.is_dir():
            pools[split] = None
            continue
        pool = _Pool()
        classes = sorted(p for p in base.iterdir() if p.is_dir())
        if not classes:
            raise InputError(f"{base}: no class folders (expected {base}/<class>/*.txt)")
        for class_dir in classes:
            _check_declared_class(class_dir.name, declared, f"{class_dir}")
            files = sorted(class_dir.glob("*.txt"))
            if not files:
                raise InputError(f"{class_dir}: class folder holds no sequences (*.txt files)")
            for path in files:
                seq = "".join(path.read_text().split())
                pool.add(f"{class_dir.name}/{path.stem}", seq, class_dir.name, str(path))
        pools[split] = pool
    return pools, None


def _open_text(path: Path):
    if not path.exists():
        raise InputError(f"{path}: no such file")
    return io.TextIOWrapper(gzip.open(path), newline="") if fasta_compression(path) != "plain" else open(path, newline="")


def _parse_value(text: str, kind: str, where: str) -> Any:
    if kind == "classification":
        return text.strip()
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where}: target {text!r} is not a number") from None
    if not np.isfinite(value):
        raise InputError(f"{where}: target {text!r} is not a finite number")
    if kind == "multilabel" and value not in (0.0, 1.0):
        raise InputError(f"{where}: a multilabel target must be 0 or 1, got {text!r}")
    return [value]


def _read_nucleotide_transformer(inp, *, kind, declared, seed, source):
    pools: dict[str, _Pool | None] = {}
    for split in SPLITS:
        if inp.get(split) is None:
            pools[split] = None
            continue
        path, pool = Path(inp[split]), _Pool()
        with _open_text(path) as handle:
            first = handle.read(1)
        if first == ">":
            for i, (name, seq) in enumerate(read_fasta(path), 1):
                where = f"{path}, record {i} ({name})"
                if "|" not in name:
                    raise InputError(f"{where}: header must be >name|label")
                id_, text = name.rsplit("|", 1)
                label = _parse_value(text, kind, where)
                if kind == "classification":
                    _check_declared_class(label, declared, where)
                pool.add(id_, seq, label, where)
        else:
            with _open_text(path) as handle:
                reader = csv.reader(handle)
                header = next(reader, None)
                if header is None:
                    raise InputError(f"{path}: empty file; expected a CSV header with sequence,label")
                header = [h.strip() for h in header]
                missing = [c for c in ("sequence", "label") if c not in header]
                if missing:
                    raise InputError(f"{path}, line 1: the CSV header lacks column(s) {', '.join(missing)} "
                                     f"(found {', '.join(header)})")
                col = {c: header.index(c) for c in ("sequence", "label", "name") if c in header}
                for lineno, row in enumerate(reader, 2):
                    if not row or not "".join(row).strip():
                        continue
                    where = f"{path}, line {lineno}"
                    if len(row) != len(header):
                        raise InputError(f"{where}: {len(row)} columns, the header has {len(header)}")
                    label = _parse_value(row[col["label"]], kind, where)
                    if kind == "classification":
                        _check_declared_class(label, declared, where)
                    name = row[col["name"]].strip() if "name" in col else f"{split}_{lineno - 1}"
                    pool.add(name, row[col["sequence"]].strip(), label, where)
            if not len(pool):
                raise InputError(f"{path}: no sequences (only a header)")
        pools[split] = pool
    return pools, (None if kind == "classification" else ["label"])


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


def _read_bed(inp, *, kind, declared, seed, source):
    bed, fasta = Path(inp["bed"]), Path(inp["fasta"])
    if not bed.exists():
        raise InputError(f"{bed}: no such BED file (task.input.bed)")
    names: list[str] | None = list(inp["label_columns"]) if inp.get("label_columns") else None
    rows: list[tuple[int, list[str]]] = []
    with open(bed) as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip() or line.startswith(("track", "browser")):
                continue
            cols = line.rstrip("\r\n").split("\t")
            if line.startswith("#") or cols[0].lower() in ("chrom", "chr", "#chrom"):
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
        pools: dict[str, _Pool | None] = {"train": _Pool(), "valid": _Pool() if valid_chroms else None,
                                          "test": _Pool() if test_chroms else None}
        length = inp.get("length")
        for lineno, cols in rows:
            where = f"{bed}, line {lineno}"
            if len(cols) != 3 + len(names):
                raise InputError(f"{where}: {len(cols)} columns, expected {3 + len(names)} (chrom, start, end and the "
                                 f"label column(s) {', '.join(names)})")
            try:
                start, end = int(cols[1]), int(cols[2])
            except ValueError:
                raise InputError(f"{where}: start and end must be integers, got {cols[1]!r}, {cols[2]!r}") from None
            if start < 0 or end <= start:
                raise InputError(f"{where}: need 0 <= start < end, got {start}, {end}")
            chrom = genome.resolve(cols[0])
            if chrom is None:
                raise InputError(f"{where}: contig {cols[0]!r} is not in {fasta}")
            size = genome.contigs[chrom]
            if end > size:
                raise InputError(f"{where}: {cols[0]}:{start}-{end} lies outside its contig ({chrom} has {size:,} bases)")
            if length is not None:
                start = (start + end) // 2 - length // 2
                end = start + length
                if start < 0 or end > size:
                    raise InputError(f"{where}: recentred to {length} bp ({cols[0]}:{start}-{end}) the interval lies "
                                     f"outside its contig ({chrom} has {size:,} bases)")
            if kind == "classification":
                label = cols[3].strip()
                _check_declared_class(label, declared, where)
            else:
                label = [_parse_value(c, kind, f"{where}, column {names[i]}")[0] for i, c in enumerate(cols[3:])]
            pool = pools[split_of.get(chrom, "train")]
            assert pool is not None
            pool.add(f"{cols[0]}:{start}-{end}", genome.fetch(chrom, start, end), label, where)
    finally:
        genome.close()
    for split in ("valid", "test"):
        if pools[split] is not None and not len(pools[split]):
            raise InputError(f"{bed}: no intervals on the {split} contigs ({', '.join(sorted(inp[split + '_chroms']))})")
    return pools, (None if kind == "classification" else names)


def _read_species(inp, *, kind, declared, seed, source):
    window, max_n = inp.get("window", 1024), inp.get("max_n_fraction", 0.1)
    counts = {"train": 200, "valid": 40, "test": 40, **(inp.get("windows") or {})}
    pools = {split: _Pool() for split in SPLITS}
    for index, (label, value) in enumerate(inp["genomes"].items()):
        label = str(label)
        contigs: dict[str, str] = {}
        for path in _paths(value):
            _check_declared_class(label, declared, f"{path} (genome {label!r})")
            for name, seq in read_fasta(path):
                if name in contigs:
                    raise InputError(f"{path}: contig {name!r} of genome {label!r} occurs twice (in this or another file)")
                contigs[name] = seq.upper()
        bounds = {name: _region_bounds(seq) for name, seq in contigs.items()}
        for split_index, split in enumerate(SPLITS):
            rng = np.random.default_rng([seed, 3, index, split_index])
            regions = {name: b[split] for name, b in bounds.items()}
            for contig, start in _sample_windows(contigs, regions, split, window, counts[split], max_n, rng, label):
                pools[split].add(f"{label}/{contig}:{start}-{start + window}", contigs[contig][start:start + window],
                                 label, f"genome {label!r}, {contig}:{start}-{start + window}")
    return pools, None


def _region_bounds(seq: str) -> dict[str, tuple[int, int]]:
    """Split -> [lo, hi) of one contig: consecutive regions holding 80/10/10 % of its ACGT bases.

    Counting ACGT bases rather than positions keeps a split from landing in an assembly
    gap (the bundled E. coli contig is half N, in one block).
    """
    acgt = np.isin(np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8), np.frombuffer(b"ACGT", dtype=np.uint8))
    cum = np.cumsum(acgt)
    total = int(cum[-1]) if len(cum) else 0
    cut = {f: (0 if f == 0 else len(seq) if f == 1 else int(np.searchsorted(cum, f * total)) + 1)
           for f in {f for pair in _SPLIT_REGIONS.values() for f in pair}}
    return {split: (cut[lo], cut[hi]) for split, (lo, hi) in _SPLIT_REGIONS.items()}


def _sample_windows(contigs: dict[str, str], regions: dict[str, tuple[int, int]], split: str, window: int, n: int,
                    max_n: float, rng: np.random.Generator, label: str) -> list[tuple[str, int]]:
    """``n`` distinct windows inside the ``split`` region of each contig, ``<= max_n`` N, in genome order."""
    if n == 0:
        return []
    lo_f, hi_f = _SPLIT_REGIONS[split]
    names, firsts, counts = [], [], []
    for name in contigs:
        lo, hi = regions[name]
        if hi - lo >= window:
            names.append(name)
            firsts.append(lo)
            counts.append(hi - lo - window + 1)
    total = sum(counts)
    ends = np.cumsum(counts)
    chosen: set[tuple[int, int]] = set()
    tried: set[int] = set()
    attempts = 0
    while len(chosen) < n and attempts < 20 * n + 100 and len(tried) < total:
        attempts += 1
        k = int(rng.integers(total))
        if k in tried:
            continue
        tried.add(k)
        c = int(np.searchsorted(ends, k, side="right"))
        start = firsts[c] + k - (int(ends[c - 1]) if c else 0)
        seq = contigs[names[c]][start:start + window]
        bad = window - sum(seq.count(b) for b in "ACGT")
        if bad <= max_n * window:
            chosen.add((c, start))
    if len(chosen) < n:
        raise InputError(f"genome {label!r}: found only {len(chosen)} of {n} {split} windows of {window} bp with at most "
                         f"{max_n:.0%} N; its {split} regions ({lo_f:.0%}-{hi_f:.0%} of each contig's ACGT bases, "
                         f"where at least {window} bp long) hold {total:,} start positions. Lower windows.{split} or window")
    return [(names[c], start) for c, start in sorted(chosen)]

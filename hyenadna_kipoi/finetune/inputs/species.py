"""``species`` layout: random windows of several genomes; each contig cut by position into 80/10/10 % regions,
or (``split_by: contig``) whole contigs assigned to the splits."""

from __future__ import annotations

import numpy as np

from ...data.fasta import read_fasta
from ...errors import InputError
from ..task import SPLITS
from .pool import Pool, as_paths, check_declared_class

_SPLIT_REGIONS = {"train": (0.0, 0.8), "valid": (0.8, 0.9), "test": (0.9, 1.0)}


def read_species(inp, *, kind, declared, seed, source):
    """Split -> records (None for a split the layout does not give) and the target names (None for classification)."""
    window, max_n = inp.get("window", 1024), inp.get("max_n_fraction", 0.1)
    counts = {"train": 200, "valid": 40, "test": 40, **(inp.get("windows") or {})}
    pools = {split: Pool() for split in SPLITS}
    for index, (label, value) in enumerate(inp["genomes"].items()):
        label = str(label)
        contigs: dict[str, str] = {}
        for path in as_paths(value):
            check_declared_class(label, declared, f"{path} (genome {label!r})")
            for name, seq in read_fasta(path):
                if name in contigs:
                    raise InputError(f"{path}: contig {name!r} of genome {label!r} occurs twice (in this or another file)")
                contigs[name] = seq.upper()
        if inp.get("split_by", "region") == "contig":
            bounds = _contig_bounds(contigs, label)
        else:
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
    cum = np.cumsum(_acgt(seq))
    total = int(cum[-1]) if len(cum) else 0
    cut = {f: (0 if f == 0 else len(seq) if f == 1 else int(np.searchsorted(cum, f * total)) + 1)
           for f in {f for pair in _SPLIT_REGIONS.values() for f in pair}}
    return {split: (cut[lo], cut[hi]) for split, (lo, hi) in _SPLIT_REGIONS.items()}


def _acgt(seq: str) -> np.ndarray:
    return np.isin(np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8), np.frombuffer(b"ACGT", dtype=np.uint8))


def _contig_bounds(contigs: dict[str, str], label: str) -> dict[str, dict[str, tuple[int, int]]]:
    """Contig -> split -> [lo, hi): each whole contig in one split, largest first to the split furthest
    below its share (80/10/10 %) of the genome's ACGT bases; empty ranges for the other splits."""
    if len(contigs) < len(SPLITS):
        raise InputError(f"genome {label!r}: task.input.split_by 'contig' needs at least {len(SPLITS)} contigs, "
                         f"it has {len(contigs)}; use split_by 'region'")
    sizes = {name: int(_acgt(seq).sum()) for name, seq in contigs.items()}
    assigned = {split: 0 for split in SPLITS}
    share = {split: hi - lo for split, (lo, hi) in _SPLIT_REGIONS.items()}
    bounds: dict[str, dict[str, tuple[int, int]]] = {}
    for i, name in enumerate(sorted(contigs, key=lambda n: -sizes[n])):
        empty = [s for s in SPLITS if assigned[s] == 0]
        # the last contigs go to splits that have none yet, so that every split gets one
        pool = empty if len(contigs) - i <= len(empty) else list(SPLITS)
        split = min(pool, key=lambda s: (assigned[s] + sizes[name]) / share[s])
        assigned[split] += sizes[name]
        bounds[name] = {s: ((0, len(contigs[name])) if s == split else (0, 0)) for s in SPLITS}
    return bounds


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

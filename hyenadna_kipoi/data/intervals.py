"""Fixed-length training windows per split, sampled with pybedtools/bedtools.

Splits come from chromosome lists (``{"train": ["chr1", ...], ...}``) or from a BED of
regions with the split in column 4 (the layout of Basenji/Enformer's
``sequences_human.bed``: ``chrom start end split``). Assembly gaps (N runs found in
the FASTA) and an optional blacklist BED are subtracted, held-out regions are removed
from the splits below them (test > valid > train), and what remains is tiled into
windows of ``window`` bases. The result is deterministic for a seed.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pybedtools
from tqdm.auto import tqdm

from ..errors import InputError
from ..io import atomic_open
from .genome import Genome, Interval, check_intervals, read_bed

SPLIT_PRIORITY = ("test", "valid", "train")  # a region held out for an earlier split is removed from later ones
REQUIRED_SPLITS = ("train", "valid")
MAX_LISTED = 20  # problems listed in one error message


@dataclass
class WindowSet:
    """Windows per split plus what was dropped on the way (for the report)."""

    windows: dict[str, list[Interval]]
    dropped: list[str] = field(default_factory=list)  # invalid input intervals skipped with skip_invalid
    excluded_bases: int = 0  # bases of gaps + blacklist that were subtracted


def _fail_or_warn(problems: list[str], what: str, skip_invalid: bool, dropped: list[str]) -> None:
    if not problems:
        return
    if not skip_invalid:
        listed = "\n  ".join(problems[:MAX_LISTED])
        more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise InputError(f"{len(problems)} {what}:\n  {listed}{more}\n"
                         "Fix the input, or set intervals.skip_invalid: true to drop (and report) them")
    dropped.extend(problems)
    print(f"warning: dropped {len(problems)} {what} (listed in the intervals report)", file=sys.stderr)


def split_regions_from_chroms(genome: Genome, chroms: dict[str, list[str]], window: int,
                              skip_invalid: bool = False, dropped: list[str] | None = None) -> dict[str, list[Interval]]:
    """Whole contigs per split. Unknown contigs and contigs shorter than ``window`` are errors."""
    dropped = [] if dropped is None else dropped
    regions: dict[str, list[Interval]] = {}
    problems = []
    owner: dict[str, str] = {}
    for split, names in chroms.items():
        regions[split] = []
        for chrom in names:
            name = genome.resolve(chrom)
            if name is None:
                problems.append(f"split {split!r}: contig {chrom!r} is not in {genome.path}")
                continue
            if name in owner:
                problems.append(f"split {split!r}: contig {chrom!r} is also listed for split {owner[name]!r}")
                continue
            owner[name] = split
            length = genome.contigs[name]
            if length < window:
                problems.append(f"split {split!r}: contig {name!r} has {length:,} bases, fewer than the window "
                                f"of {window:,}; remove it from the split or use a shorter window")
                continue
            regions[split].append(Interval(name, 0, length, split))
    _fail_or_warn(problems, "problem(s) with the split chromosome lists", skip_invalid, dropped)
    return regions


def split_regions_from_bed(genome: Genome, path: str | os.PathLike, skip_invalid: bool = False,
                           dropped: list[str] | None = None) -> dict[str, list[Interval]]:
    """Regions per split from a BED whose 4th column names the split (``train``/``valid``/``test``)."""
    dropped = [] if dropped is None else dropped
    rows = list(read_bed(path))
    if not rows:
        raise InputError(f"{path}: no regions")
    unnamed = [iv for iv in rows if not iv.name]
    if unnamed:
        raise InputError(f"{path}, line {unnamed[0].line}: a regions BED needs the split (train/valid/test) "
                         f"in column 4; {len(unnamed)} line(s) have none")
    good, problems = check_intervals(rows, genome, path)
    _fail_or_warn(problems, f"region(s) of {path} that are not on {genome.path}", skip_invalid, dropped)
    regions: dict[str, list[Interval]] = {}
    for iv in good:
        regions.setdefault(iv.name, []).append(iv)
    return regions


def find_exclusions(genome: Genome, contigs: set[str], *, exclude_gaps: bool = True, min_gap: int = 1,
                    blacklist: str | os.PathLike | None = None, progress: bool = True) -> list[tuple[str, int, int]]:
    """(chrom, start, end) rows, 0-based half-open, unsorted, possibly overlapping, to keep out of windows.

    The assembly gaps (runs of ≥ ``min_gap`` non-ACGT bases) of ``contigs`` when ``exclude_gaps``,
    plus the ``blacklist`` BED's entries (clipped to the contig; entries on contigs the genome lacks ignored).
    """
    out: list[tuple[str, int, int]] = []
    if exclude_gaps:
        names = [c for c in genome.contigs if c in contigs]
        for name in tqdm(names, desc="finding gaps", unit="contig", disable=not progress, leave=False):
            out.extend((iv.chrom, iv.start, iv.end) for iv in genome.gaps(min_gap, [name]))
    if blacklist:
        good, _unknown = check_intervals(list(read_bed(blacklist)), genome, blacklist)
        # blacklist entries on contigs this genome lacks (e.g. chrUn_*) are irrelevant, not errors
        out.extend((iv.chrom, iv.start, min(iv.end, genome.contigs[iv.chrom])) for iv in good)
    return out


def sorted_bedtool(rows: list[tuple[str, int, int]]) -> pybedtools.BedTool:
    """A sorted BedTool of (chrom, start, end) rows (``.merge()`` it to join overlaps)."""
    return pybedtools.BedTool([(c, str(s), str(e)) for c, s, e in rows]).sort()


def make_windows(genome: Genome, window: int, *, stride: int | None = None,
                 chroms: dict[str, list[str]] | None = None, regions: str | os.PathLike | None = None,
                 exclude_gaps: bool = True, min_gap: int = 1, blacklist: str | os.PathLike | None = None,
                 skip_invalid: bool = False, max_windows: dict[str, int | None] | None = None, seed: int = 0,
                 progress: bool = True) -> WindowSet:
    """Windows of exactly ``window`` bases per split, every ``stride`` bases (default: ``window``).

    Give exactly one of ``chroms`` (split -> contig names) or ``regions`` (BED with a split
    column). ``max_windows`` caps a split by a seeded random choice. Splits ``train`` and
    ``valid`` must end up non-empty. Windows are sorted in FASTA contig order.
    """
    if window < 2:
        raise InputError(f"the window must be at least 2 bases, got {window}")
    if (chroms is None) == (regions is None):
        raise InputError("give the splits either as chromosome lists or as a regions BED (exactly one)")
    longest = max(genome.contigs.values())
    if window > longest:
        raise InputError(f"the window of {window:,} bases is longer than every contig of {genome.path} "
                         f"(longest: {longest:,}); use a shorter window")
    stride = stride or window
    dropped: list[str] = []
    if chroms is not None:
        per_split = split_regions_from_chroms(genome, chroms, window, skip_invalid, dropped)
    else:
        per_split = split_regions_from_bed(genome, regions, skip_invalid, dropped)
    missing = [s for s in REQUIRED_SPLITS if not per_split.get(s)]
    if missing:
        raise InputError(f"no regions for split(s) {', '.join(missing)} "
                         f"(have: {', '.join(sorted(k for k, v in per_split.items() if v)) or 'none'})")
    used = {iv.chrom for ivs in per_split.values() for iv in ivs}
    excluded = find_exclusions(genome, used, exclude_gaps=exclude_gaps, min_gap=min_gap,
                               blacklist=blacklist, progress=progress)
    order = {name: i for i, name in enumerate(genome.contigs)}
    ranked = sorted(per_split, key=lambda s: (SPLIT_PRIORITY.index(s) if s in SPLIT_PRIORITY else len(SPLIT_PRIORITY), s))
    windows: dict[str, list[Interval]] = {}
    held_out: list[tuple[str, int, int]] = []
    excluded_bt = sorted_bedtool(excluded).merge() if excluded else None
    excluded_bases = sum(int(f.end) - int(f.start) for f in excluded_bt) if excluded_bt is not None else 0
    try:
        for split in ranked:
            rows = [(iv.chrom, iv.start, iv.end) for iv in per_split[split]]
            if not rows:
                continue
            allowed = sorted_bedtool(rows).merge()
            if excluded_bt is not None:
                allowed = allowed.subtract(excluded_bt)
            if held_out:
                allowed = allowed.subtract(sorted_bedtool(held_out).merge())
            held_out.extend(rows)
            tiles = pybedtools.BedTool().window_maker(b=allowed, w=window, s=stride) if len(allowed) else []
            found = [Interval(f.chrom, int(f.start), int(f.end), split) for f in tiles if int(f.end) - int(f.start) == window]
            found.sort(key=lambda iv: (order[iv.chrom], iv.start))
            cap = (max_windows or {}).get(split)
            if cap is not None and len(found) > cap:
                keep = np.sort(np.random.default_rng([seed, ranked.index(split)]).choice(len(found), cap, replace=False))
                found = [found[i] for i in keep]
            windows[split] = found
    finally:
        pybedtools.cleanup()
    windows = {s: windows[s] for s in sorted(windows, key=lambda s: (SPLIT_PRIORITY[::-1].index(s)
                                                                     if s in SPLIT_PRIORITY else len(SPLIT_PRIORITY), s))}
    empty = [s for s in REQUIRED_SPLITS if not windows.get(s)]
    if empty:
        raise InputError(f"split(s) {', '.join(empty)} have no window of {window:,} bases left after removing "
                         "gaps, blacklisted and held-out regions; use a shorter window or larger regions")
    return WindowSet(windows, dropped, excluded_bases)


@dataclass(frozen=True)
class SplitSummary:
    split: str
    windows: int
    bases: int
    gc: float  # G+C among A/C/G/T bases
    n_fraction: float  # non-ACGT bases / all bases


_GC = np.zeros(256, dtype=np.int64)
_GC[[ord(c) for c in "GCgc"]] = 1
_ACGT = np.zeros(256, dtype=np.int64)
_ACGT[[ord(c) for c in "ACGTacgt"]] = 1


def summarize(genome: Genome, windows: dict[str, list[Interval]], progress: bool = True) -> list[SplitSummary]:
    """Window count, bases, GC and N fraction of every split (reads every window once)."""
    out = []
    for split, ivs in windows.items():
        gc = acgt = bases = 0
        for iv in tqdm(ivs, desc=f"summary {split}", unit="win", disable=not progress, leave=False):
            raw = np.frombuffer(genome.fetch(iv.chrom, iv.start, iv.end).encode("ascii", "replace"), dtype=np.uint8)
            gc += int(_GC[raw].sum())
            acgt += int(_ACGT[raw].sum())
            bases += len(raw)
        out.append(SplitSummary(split, len(ivs), bases, gc / acgt if acgt else float("nan"),
                                (bases - acgt) / bases if bases else float("nan")))
    return out


def write_windows(windows: WindowSet, out_dir: str | os.PathLike, summary: list[SplitSummary]) -> dict[str, Path]:
    """``{split}.bed`` (chrom, start, end, split: the Basenji layout) and ``summary.tsv`` in ``out_dir``.

    Every file is written atomically. Dropped inputs (``skip_invalid``) go to ``dropped.txt``.
    Returns split -> BED path.
    """
    out_dir = Path(out_dir)
    paths = {}
    for split, ivs in windows.windows.items():
        paths[split] = out_dir / f"{split}.bed"
        with atomic_open(paths[split]) as handle:
            handle.writelines(f"{iv.chrom}\t{iv.start}\t{iv.end}\t{split}\n" for iv in ivs)
    with atomic_open(out_dir / "summary.tsv") as handle:
        handle.write("split\twindows\tbases\tgc\tn_fraction\n")
        for s in summary:
            handle.write(f"{s.split}\t{s.windows}\t{s.bases}\t{s.gc:.4f}\t{s.n_fraction:.6f}\n")
    dropped = out_dir / "dropped.txt"
    if windows.dropped:
        with atomic_open(dropped) as handle:
            handle.writelines(line + "\n" for line in windows.dropped)
    else:
        dropped.unlink(missing_ok=True)
    return paths


def read_summary(path: str | os.PathLike) -> list[SplitSummary]:
    """The rows of a ``summary.tsv`` written by :func:`write_windows`."""
    with open(path) as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle][1:]
    return [SplitSummary(r[0], int(r[1]), int(r[2]), float(r[3]), float(r[4])) for r in rows if r and r[0]]


def format_summary(summary: list[SplitSummary]) -> str:
    """The summary as an aligned text table."""
    lines = [f"{'split':<6} {'windows':>9} {'bases':>14} {'GC':>6} {'N':>8}"]
    lines += [f"{s.split:<6} {s.windows:>9,} {s.bases:>14,} {s.gc:>6.3f} {s.n_fraction:>8.5f}" for s in summary]
    return "\n".join(lines)

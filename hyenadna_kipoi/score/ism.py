"""In-silico mutagenesis: the LLR of every single-base substitution over a region.

Each substitution is scored as the SNV record it is (:func:`.variants.score_variants`,
same windows and rule), so an ISM cell equals the ``llr`` of that VCF record.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import Genome
from ..errors import InputError
from ..io import atomic_path
from ..model import HyenaDNA
from .regions import AlleleScore, check_window
from .slices import parse_region
from .variants import TSV_COLUMNS, opened_genome, score_variants
from .vcf_io import Variant, write_table

BASES = "ACGT"


@dataclass
class IsmResult:
    """Substitution scores over ``chrom:start-end`` (1-based, inclusive).

    ``llr``, ``llr_fwd``, ``llr_rc``: [L, 4] float64 in nats, columns A C G T, NaN where
    the column is the reference base. ``rows``: the same scores as table rows.
    """

    chrom: str
    start: int
    end: int
    ref: str  # the region's reference bases, as in the FASTA
    llr: np.ndarray
    llr_fwd: np.ndarray
    llr_rc: np.ndarray
    rows: list[AlleleScore]
    window: int

    @property
    def positions(self) -> np.ndarray:
        """1-based positions, [L]."""
        return np.arange(self.start, self.end + 1)

    @property
    def importance(self) -> np.ndarray:
        """Minus the mean LLR of the substitutions at each position, [L]: high where changes are disfavoured."""
        return -np.nanmean(self.llr, axis=1)


def in_silico_mutagenesis(model: HyenaDNA, genome: Genome | str | os.PathLike, region: str, *,
                          window: int | None = None, batch_size: int | None = None, workers: int = 1,
                          devices: list[str] | None = None, progress: bool = True) -> IsmResult:
    """Score all 3 substitutions at each position of ``region`` (``chrom:start-end``, 1-based inclusive).

    At a position whose reference is ``N`` (or another ambiguity code) all 4 bases are scored.
    """
    window = check_window(model, window)
    chrom, start, end = parse_region(region)
    with opened_genome(genome) as genome:
        name = genome.resolve(chrom)
        if name is None:
            raise InputError(f"region {region!r}: contig {chrom!r} is not in {genome.path}")
        length = genome.contigs[name]
        if end > length:
            raise InputError(f"region {region!r} ends past the end of {chrom} ({length:,} bases)")
        ref = genome.fetch(chrom, start - 1, end)
        variants = [Variant(chrom, start + k, base, tuple(b for b in BASES if b != base.upper()))
                    for k, base in enumerate(ref)]
        rows = score_variants(model, genome, variants, window=window, batch_size=batch_size, workers=workers,
                              devices=devices, progress=progress)
    arrays = {key: np.full((len(ref), 4), np.nan) for key in ("llr", "llr_fwd", "llr_rc")}
    for row in rows:
        for key, values in arrays.items():
            values[row.pos - start, BASES.index(row.alt)] = getattr(row, key)
    return IsmResult(chrom, start, end, ref, rows=rows, window=window, **arrays)


# --------------------------------------------------------------------------- outputs


def write_ism_tsv(result: IsmResult, path: str | os.PathLike) -> Path:
    """One row per substitution, the columns of ``hyenadna score-variants``'s TSV."""
    return write_table(path, TSV_COLUMNS, (r.tsv_row() for r in result.rows))


def write_ism_npz(result: IsmResult, path: str | os.PathLike) -> Path:
    """Arrays ``chrom``, ``positions`` [L], ``ref`` (string), ``bases`` ('ACGT'), ``llr``, ``llr_fwd``,
    ``llr_rc`` [L, 4] and ``window``."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, chrom=result.chrom, positions=result.positions, ref=result.ref, bases=BASES,
                            llr=result.llr, llr_fwd=result.llr_fwd, llr_rc=result.llr_rc, window=result.window)
    return Path(path)


_COLORS = {"A": "#109648", "C": "#255C99", "G": "#F7B32B", "T": "#D62839", "N": "#888888"}


def _draw_letter(ax, letter: str, x: float, bottom: float, height: float) -> None:
    """A sequence-logo letter filling [x - 0.45, x + 0.45] x [bottom, bottom + height]."""
    from matplotlib.patches import PathPatch
    from matplotlib.textpath import TextPath
    from matplotlib.transforms import Affine2D

    path = TextPath((0, 0), letter, size=1, prop={"family": "DejaVu Sans", "weight": "bold"})
    box = path.get_extents()
    scale = Affine2D().translate(-box.x0, -box.y0).scale(0.9 / box.width, height / box.height)
    path = scale.translate(x - 0.45, bottom).transform_path(path)
    ax.add_patch(PathPatch(path, color=_COLORS.get(letter, "#888888"), lw=0))


def plot_ism(result: IsmResult, path: str | os.PathLike, *, title: str | None = None) -> Path:
    """PNG: a logo of the reference bases scaled by :attr:`IsmResult.importance` above a
    heatmap of the substitution LLRs (bases x positions; the reference cell marked with a dot)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(result.ref)
    width = min(max(6.0, 0.12 * n + 2), 40.0)
    fig, (logo, heat) = plt.subplots(2, 1, figsize=(width, 4.2), sharex=True,
                                     gridspec_kw={"height_ratios": [1, 1.3], "hspace": 0.08})
    importance = np.nan_to_num(result.importance)
    for k, (base, h) in enumerate(zip(result.ref.upper(), importance)):
        if h:
            _draw_letter(logo, base if base in _COLORS else "N", k, min(h, 0.0), abs(h))
    span = max(float(np.abs(importance).max()), 1e-6)
    logo.set_ylim(min(importance.min(), 0) - 0.05 * span, max(importance.max(), 0) + 0.05 * span)
    logo.axhline(0, color="black", lw=0.5)
    logo.set_ylabel("-mean LLR\n(nats)")
    logo.set_title(title or f"ISM {result.chrom}:{result.start:,}-{result.end:,} (W={result.window})")
    limit = max(float(np.nanmax(np.abs(result.llr))) if np.isfinite(result.llr).any() else 0.0, 1e-6)
    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="#dddddd")  # NaN: the reference base
    image = heat.imshow(result.llr.T, aspect="auto", cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest",
                        extent=(-0.5, n - 0.5, 3.5, -0.5))
    ref_rows = [BASES.find(b) for b in result.ref.upper()]
    cols = [k for k, r in enumerate(ref_rows) if r >= 0]
    heat.scatter(cols, [ref_rows[k] for k in cols], s=min(12.0, 400.0 / max(n, 1)), c="black", marker="o")
    heat.set_yticks(range(4), list(BASES))
    heat.set_ylabel("ALT base")
    ticks = np.linspace(0, n - 1, min(n, 10)).round().astype(int)
    heat.set_xticks(ticks, [f"{result.start + t:,}" for t in ticks])
    heat.set_xlabel(f"position on {result.chrom} (1-based)")
    heat.set_xlim(-0.5, n - 0.5)
    fig.colorbar(image, ax=[logo, heat], shrink=0.6, label="LLR (nats)", pad=0.01)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return Path(path)

"""Data preparation for a pretraining config: the genome and the per-split windows.

``prepare_genome_from_config`` and ``prepare_intervals`` are what ``hyenadna
download-genome`` and ``hyenadna intervals`` run, and what ``hyenadna pretrain`` runs
when their outputs are missing or were made from different settings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..data.genome import Genome, read_bed
from ..data.intervals import format_summary, make_windows, read_summary, summarize, write_windows
from ..data.reference import fetch_file, prepare_genome
from ..io import atomic_open

SPLITS_FILE = "params.json"


def prepare_genome_from_config(config: dict[str, Any], progress: bool = True) -> Path:
    """Download/verify/decompress/index the configured genome (and fetch the regions BED); the FASTA path."""
    g = config["genome"]
    path = prepare_genome(g["fasta"], url=g["url"], sha256=g["sha256"], md5=g["md5"], size=g["size"],
                          prepared=g["prepared"], progress=progress)
    regions = config["intervals"]["regions"]
    if regions:
        fetch_file(regions["path"], url=regions["url"], sha256=regions["sha256"], md5=regions["md5"], progress=progress)
    return path


def _params(config: dict[str, Any], fasta: Path) -> dict[str, Any]:
    return {"fasta": str(fasta), "seed": config["seed"],
            **{k: v for k, v in config["intervals"].items() if k != "out"}}


def intervals_ready(config: dict[str, Any], fasta: Path) -> bool:
    """True when the intervals folder holds BEDs made from exactly these settings."""
    out = Path(config["intervals"]["out"])
    params = out / SPLITS_FILE
    if not (params.exists() and (out / "train.bed").exists() and (out / "valid.bed").exists()):
        return False
    with open(params) as handle:
        return json.load(handle) == json.loads(json.dumps(_params(config, fasta)))


def prepare_intervals(config: dict[str, Any], fasta: Path, progress: bool = True, force: bool = False) -> str:
    """Write ``{split}.bed``, ``summary.tsv`` (and ``params.json``) to ``intervals.out``; the summary table."""
    iv, out = config["intervals"], Path(config["intervals"]["out"])
    if not force and intervals_ready(config, fasta):
        return format_summary(read_summary(out / "summary.tsv"))
    with Genome(fasta) as genome:
        windows = make_windows(genome, iv["window"], stride=iv["stride"], chroms=iv["chroms"],
                               regions=iv["regions"]["path"] if iv["regions"] else None,
                               exclude_gaps=iv["exclude_gaps"], min_gap=iv["min_gap"], blacklist=iv["blacklist"],
                               skip_invalid=iv["skip_invalid"], max_windows=iv["max_windows"], seed=config["seed"],
                               progress=progress)
        summary = summarize(genome, windows.windows, progress=progress)
    write_windows(windows, out, summary)
    with atomic_open(out / SPLITS_FILE) as handle:
        json.dump(_params(config, fasta), handle, indent=2)
    return format_summary(summary)


def read_split(config: dict[str, Any], split: str) -> list:
    """The windows of ``split`` written by :func:`prepare_intervals`."""
    return list(read_bed(Path(config["intervals"]["out"]) / f"{split}.bed"))

"""Checks the workflow runs before a stage: a VCF's contigs against the genome, a pretraining run's checkpoints."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from ..errors import InputError


def check_vcf(vcf: str | os.PathLike, fasta: str | os.PathLike, *, key: str = "VCF",
              allow_missing: bool = False) -> dict[str, int]:
    """Raise InputError naming ``key`` and the contigs when records lie on contigs the genome lacks (or none match).

    The VCF is read by the reader of ``hyenadna score-variants`` (so a malformed record is
    named here too). With ``allow_missing`` only a VCF none of whose contigs are in the
    genome is an error. Returns contig -> record count, in file order.
    """
    from ..data.genome import Genome
    from ..score.vcf_io import read_vcf

    counts = dict(Counter(record.chrom for record in read_vcf(vcf)))
    if not counts:
        raise InputError(f"{key}: {vcf}: no records")
    with Genome(fasta) as genome:
        absent = sorted(c for c in counts if genome.resolve(c) is None)
        known = list(genome.contigs)
    if absent and (not allow_missing or len(absent) == len(counts)):
        n = sum(counts[c] for c in absent)
        raise InputError(f"{key}: {vcf}: {n} record(s) on contig(s) not in {fasta}: {', '.join(absent[:10])}"
                         f" (the genome has {', '.join(known[:10])}{' ...' if len(known) > 10 else ''}); "
                         "is this VCF for another assembly?")
    return counts


def reset_run(config_path: str | os.PathLike) -> bool:
    """Remove a pretraining run's checkpoints when they were made with other settings, so ``--resume`` is safe.

    Compares the resolved config with ``OUT_DIR/config.resolved.yaml``; returns True when checkpoints were removed.
    """
    import shutil

    from ..train.config import dump_config, load_config

    config = load_config(config_path)
    out = Path(config["out_dir"])
    previous = out / "config.resolved.yaml"
    checkpoints = out / "checkpoints"
    if not checkpoints.exists():
        return False
    if previous.exists() and previous.read_text() == dump_config(config):
        return False
    shutil.rmtree(checkpoints)
    return True

"""Genome and sequence-file access."""

from .fasta import read_fasta
from .genome import Genome, Interval, read_bed

__all__ = ["Genome", "Interval", "read_bed", "read_fasta"]

"""Genome and sequence-file access, training windows and datasets."""

from .fasta import read_fasta
from .genome import Genome, Interval, check_intervals, contig_aliases, fasta_compression, read_bed
from .reference import prepare_genome

__all__ = ["Genome", "Interval", "check_intervals", "contig_aliases", "fasta_compression", "prepare_genome",
           "read_bed", "read_fasta"]

"""Scoring with a loaded model: embeddings, sequence likelihoods, variant effects, in-silico mutagenesis."""

from .embeddings import embed_sequences
from .ism import IsmResult, in_silico_mutagenesis, parse_region, plot_ism, write_ism_npz, write_ism_tsv
from .likelihood import SequenceLikelihood, sequence_loglik
from .regions import (
    STATUSES,
    AlleleScore,
    WindowScores,
    allele_statuses,
    auto_batch_size,
    default_window,
    variant_windows,
    window_llrs,
)
from .variants import VcfScores, score_variants, score_vcf, status_counts
from .vcf_io import Variant, iter_vcf, read_vcf, vcf_lines, write_annotated_vcf

__all__ = [
    "STATUSES", "AlleleScore", "IsmResult", "SequenceLikelihood", "Variant", "VcfScores", "WindowScores",
    "allele_statuses", "auto_batch_size", "default_window", "embed_sequences", "in_silico_mutagenesis", "iter_vcf",
    "parse_region", "plot_ism", "read_vcf", "score_variants", "score_vcf", "sequence_loglik", "status_counts",
    "variant_windows", "vcf_lines", "window_llrs", "write_annotated_vcf", "write_ism_npz", "write_ism_tsv",
]

"""Scoring with a loaded model: embeddings, sequence likelihoods (variant scoring and ISM to come)."""

from .embeddings import embed_sequences
from .likelihood import SequenceLikelihood, sequence_loglik

__all__ = ["SequenceLikelihood", "embed_sequences", "sequence_loglik"]

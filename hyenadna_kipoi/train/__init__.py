"""Training: next-nucleotide pretraining on a genome (and, later, fine-tuning).

``pretrain(config)`` runs a pretraining config end to end; ``load_config`` validates one.
"""

from .config import load_config, validate_config
from .pretrain import PretrainResult, pretrain

__all__ = ["PretrainResult", "load_config", "pretrain", "validate_config"]

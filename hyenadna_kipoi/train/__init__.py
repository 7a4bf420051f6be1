"""Training: next-nucleotide pretraining (and, later, fine-tuning)."""

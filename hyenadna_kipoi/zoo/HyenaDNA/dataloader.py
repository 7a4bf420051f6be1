"""The group's own dataloaders, as kipoi/models groups write them: a thin module beside the yaml.

The interval models use kipoiseq's ``SeqIntervalDl`` (the zoo's dataloader). kipoiseq has no
dataloader that turns a VCF into REF/ALT windows with the scoring rule of ``hyenadna
score-variants`` (one row per ALT allele, statuses for alleles that cannot be scored), so the
``variant-effect`` models keep the project's ``VariantDataset``; ``IntervalDataset`` (token ids,
intervals of any length) serves exported models. Both live in the pinned package
``hyenadna-kipoi`` (:mod:`hyenadna_kipoi.kipoi.dataloaders`).
"""

from hyenadna_kipoi.kipoi.dataloaders import IntervalDataset, VariantDataset

__all__ = ["IntervalDataset", "VariantDataset"]

"""The HyenaDNA Kipoi model class, as kipoi/models groups write it: a thin module beside the yaml.

kipoi loads ``defined_as: model.HyenaDNAModel`` from this file (the group folder is its working
directory); the class itself is in the pinned package ``hyenadna-kipoi``
(:mod:`hyenadna_kipoi.kipoi.model`), listed in every model's ``dependencies``.
"""

from hyenadna_kipoi.kipoi.model import HyenaDNAModel

__all__ = ["HyenaDNAModel"]

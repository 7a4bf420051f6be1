"""The HyenaDNA Kipoi model group: model and dataloader classes, source registration, export.

The group itself (``model-template.yaml``, ``models.tsv``, the dataloader descriptions and a
small example) lives in ``hyenadna_kipoi/zoo/HyenaDNA/`` and is registered once as the local
Kipoi source ``hyenadna`` (``hyenadna kipoi-setup``)::

    kipoi predict HyenaDNA/tiny-1k --source hyenadna --dataloader_args '{...}' -o out.tsv
    kipoi.get_model("HyenaDNA/tiny-1k", source="hyenadna")

Modules (importing this package does not import kipoi; ``model`` and ``dataloaders`` do):

``source``       register the packaged group in ``~/.kipoi/config.yaml`` (idempotent)
``weights``      resolve a model's ``weights``/``preset``/``md5`` arguments to a loaded model
``samples``      the dataloaders' samples as plain functions (BED/VCF + FASTA -> token ids)
``predict``      the numbers a Kipoi model returns, computed with the project's scoring code
``model``        ``HyenaDNAModel(kipoi.model.BaseModel)``
``dataloaders``  ``IntervalDataset`` and ``VariantDataset`` (``kipoi.data.Dataset``)
``compat``       kipoi 0.8.6 on NumPy 2 (``np.string_``/``np.unicode_`` for its HDF5 writer)
``onehot``       the zoo's one-hot DNA (kipoiseq) to token ids and back
``render``       the model template rendered for one row (group rows and exports share it)
``expect``       a group row's ``test.expect`` (expected predictions for its weights; ``hyenadna kipoi-expect``)
``export``       ``export_model``: a self-contained Kipoi model directory (fine-tuned models' heads:
                 :mod:`hyenadna_kipoi.heads`)
``commands``     ``hyenadna kipoi-setup``, ``hyenadna kipoi-expect`` and ``hyenadna export-kipoi``
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..resources import ZOO_DIR  # hyenadna_kipoi/zoo: the registered source's local_path (package data)

GROUP = "HyenaDNA"
GROUP_DIR = ZOO_DIR / GROUP
DATALOADER_DIR = GROUP_DIR / "dataloaders"
EXAMPLE_DIR = GROUP_DIR / "example"
SOURCE_NAME = "hyenadna"

_LAZY = ("model", "dataloaders")


def __getattr__(name: str) -> ModuleType:
    """``model`` and ``dataloaders`` on first attribute access (they import kipoi).

    kipoi resolves ``defined_as: hyenadna_kipoi.kipoi.model.HyenaDNAModel`` by importing
    ``hyenadna_kipoi`` and then *getting attributes*, never importing the submodules itself.
    """
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DATALOADER_DIR", "EXAMPLE_DIR", "GROUP", "GROUP_DIR", "SOURCE_NAME", "ZOO_DIR"]

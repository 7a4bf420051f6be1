"""Files the package reads at run time, found with :mod:`importlib.resources`.

They are package data, shipped in the wheel (``[tool.setuptools.package-data]`` in
pyproject.toml), so an installed ``hyenadna_kipoi`` never reads the repository:

``schemas/``      the JSON schemas (draft 2020-12) of the pretraining, fine-tuning and
                  workflow configs; the Snakefile validates its config against the same files
``zoo/HyenaDNA/`` the Kipoi model group (template, models.tsv, dataloaders, example)
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from .errors import HyenaDNAError


def package_path(*parts: str) -> Path:
    """The file or folder ``parts`` inside the installed package, as a filesystem path.

    Kipoi and Snakemake need real paths, so the package must be installed as files (a
    wheel or an editable install; not a zip on sys.path).
    """
    node = files(__package__).joinpath(*parts)
    if not isinstance(node, Path):
        raise HyenaDNAError(f"{__package__} is imported from {node!r}, not from files on disk: install the "
                            f"wheel with pip (its data files {'/'.join(parts)} must be readable as files)")
    return node


SCHEMA_DIR = package_path("schemas")
ZOO_DIR = package_path("zoo")


def schema_path(name: str) -> Path:
    """``schemas/{name}.schema.yaml``: ``pretrain``, ``finetune`` or ``config`` (the workflow's)."""
    return SCHEMA_DIR / f"{name}.schema.yaml"


__all__ = ["SCHEMA_DIR", "ZOO_DIR", "package_path", "schema_path"]

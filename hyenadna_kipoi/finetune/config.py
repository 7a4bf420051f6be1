"""Fine-tuning configuration: YAML validated against ``hyenadna_kipoi/schemas/finetune.schema.yaml``.

The validator, its defaults and its error messages are every config's
(:mod:`hyenadna_kipoi.config_schema`); this module adds the checks that relate keys:

* ``model.init: null`` builds a new model from ``model.architecture``; an empty
  architecture becomes ``{d_model: 128, n_layer: 2, max_seq_len: 1026}`` (the tiny-1k
  shape), other fields keep :class:`~hyenadna_kipoi.model.HyenaConfig`'s defaults.
  An architecture next to an ``init`` is an error (it would be ignored).
* ``soft_prompt.label_mode: token`` needs a classification task with at most 4 labels
  (when ``task.labels`` is declared; the trainer checks the labels found in the data).
* ``train.early_stopping.metric: auto`` is resolved to the kind's default metric
  (:func:`hyenadna_kipoi.finetune.evaluate.default_metric`); a metric the kind does not
  have is an error.
* ``task.labels`` are strings (YAML integers such as ``[0, 1]`` are converted).
* ``train.micro_batch_size`` larger than ``train.batch_size`` is lowered to it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..config_schema import check_config, dump_config, read_yaml
from .evaluate import default_metric

__all__ = ["DEFAULT_ARCHITECTURE", "KIND_METRICS", "dump_config", "load_finetune_config", "validate_finetune_config"]

# a new model when model.init is null and no architecture is given: the tiny-1k shape
DEFAULT_ARCHITECTURE: dict[str, Any] = {"d_model": 128, "n_layer": 2, "max_seq_len": 1026}

# validation metrics each task kind reports (besides "loss")
KIND_METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("mcc", "accuracy", "macro_f1", "auroc", "auprc"),
    "multilabel": ("auroc", "auprc"),
    "regression": ("pearson", "spearman", "r2", "mse"),
}

# layouts that can hold each kind of task
_FORMAT_KINDS = {
    "fasta_per_class": ("classification",),
    "genomic_benchmarks": ("classification",),
    "nucleotide_transformer": ("classification", "regression"),
    "bed": ("classification", "multilabel", "regression"),
    "species": ("classification",),
}


def validate_finetune_config(raw: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """A validated copy of ``raw`` with every default filled in; :class:`ConfigError` naming ``source`` otherwise."""
    config = check_config(raw, source, "finetune", "fine-tuning")
    _derive(config, source)
    return config


def _derive(config: dict[str, Any], source: str) -> None:
    task, model, prompt = config["task"], config["model"], config["soft_prompt"]
    kind, fmt = task["kind"], task["input"]["format"]
    if kind not in _FORMAT_KINDS[fmt]:
        raise ConfigError(f"{source}: config key task.kind: input format {fmt!r} holds "
                          f"{' or '.join(_FORMAT_KINDS[fmt])} tasks, not {kind!r}")
    if task["labels"] is not None:
        task["labels"] = [str(label) for label in task["labels"]]
        if len(set(task["labels"])) != len(task["labels"]):
            raise ConfigError(f"{source}: config key task.labels: names must be unique, got {task['labels']}")
        if kind == "classification" and len(task["labels"]) < 2:
            raise ConfigError(f"{source}: config key task.labels: a classification task needs at least 2 classes")
    if task["valid_fraction"] + task["test_fraction"] >= 1:
        raise ConfigError(f"{source}: config key task.valid_fraction + task.test_fraction must be < 1, got "
                          f"{task['valid_fraction']} + {task['test_fraction']}")

    if model["init"] is None:
        model["architecture"] = {**DEFAULT_ARCHITECTURE, **model["architecture"]}
    elif model["architecture"]:
        raise ConfigError(f"{source}: config key model.architecture applies only to a new model (model.init: null); "
                          f"model.init is {model['init']!r}, whose architecture is fixed")

    if prompt["label_mode"] == "token":
        if kind != "classification":
            raise ConfigError(f"{source}: config key soft_prompt.label_mode: 'token' needs a classification task, "
                              f"task.kind is {kind!r}")
        if task["labels"] is not None and len(task["labels"]) > 4:
            raise ConfigError(f"{source}: config key soft_prompt.label_mode: 'token' predicts one of the 4 nucleotides, "
                              f"but task.labels has {len(task['labels'])} classes; use label_mode: head")

    stopping = config["train"]["early_stopping"]
    if stopping["metric"] == "auto":
        stopping["metric"] = default_metric(kind)
    elif stopping["metric"] != "loss" and stopping["metric"] not in KIND_METRICS[kind]:
        raise ConfigError(f"{source}: config key train.early_stopping.metric: {stopping['metric']!r} is not a "
                          f"{kind} metric; choose loss, {', '.join(KIND_METRICS[kind])} or auto")
    # a small batch_size with the default micro batch: no accumulation rather than an error
    config["train"]["micro_batch_size"] = min(config["train"]["micro_batch_size"], config["train"]["batch_size"])


def load_finetune_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read, validate and complete a fine-tuning config YAML."""
    return validate_finetune_config(read_yaml(path), str(Path(path)))

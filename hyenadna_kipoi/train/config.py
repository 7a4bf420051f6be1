"""Pretraining configuration: YAML, validated against a JSON schema (draft 2020-12) with defaults.

The schema is ``hyenadna_kipoi/schemas/pretrain.schema.yaml`` (package data, in the wheel).
Unknown keys are errors that name the key and list the allowed ones; missing keys get the
schema's defaults.
Reading and validation are :mod:`hyenadna_kipoi.config_schema`'s, shared with the
fine-tuning and workflow configs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..config_schema import check_config, dump_config, load_schema, read_yaml
from ..errors import ConfigError
from ..resources import schema_path

__all__ = ["SCHEMA_PATH", "check_config", "dump_config", "load_config", "load_schema", "read_yaml",
           "validate_config"]

SCHEMA_PATH = schema_path("pretrain")


def validate_config(raw: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """A validated copy of ``raw`` with every default filled in; :class:`ConfigError` otherwise."""
    config = check_config(raw, source, "pretrain", "pretraining")
    iv = config["intervals"]
    if (iv["chroms"] is None) == (iv["regions"] is None):
        raise ConfigError(f"{source}: config key intervals: give exactly one of intervals.chroms "
                          "(split -> contig list) or intervals.regions (a BED with a split column)")
    _derive(config, source)
    return config


def _derive(config: dict[str, Any], source: str) -> None:
    """Fill the defaults that depend on other keys."""
    train, out = config["train"], Path(config["out_dir"])
    config["intervals"]["window"] = config["intervals"]["window"] or train["seq_len"]
    config["intervals"]["out"] = config["intervals"]["out"] or str(out / "intervals")
    if config["model"]["init_from"] is None:
        config["model"]["max_seq_len"] = config["model"]["max_seq_len"] or train["seq_len"]
        if config["model"]["max_seq_len"] < train["seq_len"]:
            raise ConfigError(f"{source}: config key model.max_seq_len ({config['model']['max_seq_len']}) is shorter "
                              f"than train.seq_len ({train['seq_len']})")
    if config["intervals"]["window"] < train["seq_len"]:
        raise ConfigError(f"{source}: config key intervals.window ({config['intervals']['window']}) is shorter than "
                          f"train.seq_len ({train['seq_len']}); windows must hold a whole training sequence")


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read, validate and complete a pretraining config YAML."""
    return validate_config(read_yaml(path), str(path))

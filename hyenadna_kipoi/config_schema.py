"""Config files: YAML reading and validation against the package's JSON schemas (draft 2020-12).

One validator for every config the package reads (pretraining, fine-tuning, the workflow):
missing keys get the schema's defaults, and every problem becomes one line naming the file,
the key and the reason (``FILE: unknown config key a.b; allowed keys under a: ...`` or
``FILE: config key a.b: REASON``). The schemas are package data (``hyenadna_kipoi/schemas/``).
"""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .errors import ConfigError
from .resources import schema_path

# PyYAML (YAML 1.1) reads 6e-4 as a string; accept the exponent forms people write
_FLOAT = re.compile(r"^[-+]?(?:\d[\d_]*)?(?:\.\d*)?(?:[eE][-+]?\d+)$|^[-+]?\d[\d_]*\.\d*$|^[-+]?\.\d+$")


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def _with_defaults(cls):
    validate_properties = cls.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(cls, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def load_schema(name: str = "pretrain") -> dict[str, Any]:
    """The schema ``hyenadna_kipoi/schemas/{name}.schema.yaml`` as a dict."""
    path = schema_path(name)
    if not path.exists():
        raise ConfigError(f"the {name} config schema is missing: {path}")
    with open(path) as handle:
        return yaml.safe_load(handle)


def _schema_at(schema: dict[str, Any], path: list) -> dict[str, Any]:
    node = schema
    for part in path:
        if isinstance(part, int):
            node = node.get("items", {})
        else:
            node = node.get("properties", {}).get(part, {})
    return node


def _message(error: jsonschema.ValidationError, schema: dict[str, Any], source: str) -> str:
    path = [p for p in error.absolute_path]
    where = ".".join(str(p) for p in path) or "(top level)"
    if error.validator == "additionalProperties":
        # error.schema is the (sub)schema that rejected the key, also inside if/then branches
        allowed = sorted(error.schema.get("properties") or _schema_at(schema, path).get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        keys = ", ".join(".".join(str(p) for p in [*path, k]) for k in unknown)
        return (f"{source}: unknown config key {keys}; allowed keys{' under ' + where if path else ''}: "
                f"{', '.join(allowed)}")
    if error.validator == "required":
        return f"{source}: {where}: {error.message}"
    return f"{source}: config key {where}: {error.message}"


def check_config(raw: dict[str, Any], source: str, schema_name: str, what: str) -> dict[str, Any]:
    """A copy of ``raw`` validated against the schema ``schema_name`` with its defaults filled in.

    ``what`` names the kind of config in the error for a non-mapping (e.g. "pretraining").
    Every problem becomes one line of the :class:`ConfigError`, naming ``source`` and the key.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a {what} config must be a mapping of keys, got {type(raw).__name__}")
    schema = load_schema(schema_name)
    config = copy.deepcopy(raw)
    errors = sorted(_Validator(schema).iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        raise ConfigError("\n".join(dict.fromkeys(_message(e, schema, source) for e in errors)))
    return config


def read_yaml(path: str | os.PathLike) -> Any:
    """A config file's YAML (floats like ``6e-4`` read as numbers); an empty file is ``{}``."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such config file")
    try:
        with open(path) as handle:
            raw = yaml.load(handle, Loader=_Loader)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    return raw or {}


def json_object(text: str, where: str) -> dict[str, Any]:
    """``text`` parsed as a JSON object; :class:`ConfigError` naming ``where`` (a file or an option)
    when it is not valid JSON or not an object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{where}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


def dump_config(config: dict[str, Any]) -> str:
    """The completed config as YAML (what a run actually used)."""
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=None)

"""Register the packaged model group as the local Kipoi source ``hyenadna`` (idempotent).

Kipoi reads its model sources from ``~/.kipoi/config.yaml`` (``/tmp/.kipoi`` when the home
folder is not writable). Registration adds, or corrects, one entry::

    model_sources:
      hyenadna:
        type: local
        local_path: <site-packages or checkout>/hyenadna_kipoi/zoo

and leaves every other source untouched. A source of ``type: local`` is read in place: no
git, no network, nothing copied, so the group always matches the installed package. When
the file does not exist yet it is created with kipoi's own two default sources plus ours,
exactly as kipoi would have written it on first use. Nothing here imports kipoi.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from ..io import atomic_open
from . import SOURCE_NAME, ZOO_DIR


def kipoi_dir() -> Path:
    """``~/.kipoi``, or ``/tmp/.kipoi`` when the home folder is not writable (kipoi's own rule)."""
    home = os.path.expanduser("~")
    return Path(home if os.access(home, os.W_OK) else "/tmp") / ".kipoi"


def kipoi_config_path() -> Path:
    """The file kipoi reads its model sources from."""
    return kipoi_dir() / "config.yaml"


def default_sources(base: Path) -> dict[str, dict[str, Any]]:
    """The sources kipoi 0.8.6 writes into a new config (``kipoi.config.model_sources_dict``)."""
    return {
        "kipoi": {"type": "git", "remote_url": "https://github.com/kipoi/models.git",
                  "local_path": os.path.join(os.path.realpath(base / "models"), ""),
                  "auto_update": True, "use_lfs": False},
        "github-permalink": {"type": "github-permalink",
                             "local_path": os.path.join(os.path.realpath(base / "github-permalink"), "")},
    }


def source_entry(zoo_dir: Path = ZOO_DIR) -> dict[str, str]:
    """The ``model_sources`` entry of the packaged group."""
    return {"type": "local", "local_path": str(Path(zoo_dir).resolve())}


@dataclass(frozen=True)
class Registration:
    """What :func:`register_source` found or did."""

    config_path: Path
    name: str
    local_path: str
    changed: bool  # False: the entry was already there, the file was not rewritten
    previous: dict[str, Any] | None  # the entry it replaced, if any

    def describe(self) -> str:
        if not self.changed:
            return f"kipoi source {self.name!r} already registered in {self.config_path} -> {self.local_path}"
        verb = "updated" if self.previous else "registered"
        return f"{verb} kipoi source {self.name!r} in {self.config_path} -> {self.local_path}"


def _read_config(path: Path) -> dict[str, Any]:
    try:
        with open(path) as handle:
            data = yaml.safe_load(handle) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err}); fix or delete it, then run `hyenadna kipoi-setup` again") from None
    if not isinstance(data, dict) or not isinstance(data.get("model_sources", {}), dict):
        raise ConfigError(f"{path}: expected a mapping with a 'model_sources' mapping (kipoi's config format)")
    return data


def register_source(config_path: str | os.PathLike | None = None, *, name: str = SOURCE_NAME,
                    zoo_dir: Path = ZOO_DIR) -> Registration:
    """Add (or correct) the ``name`` entry in kipoi's config; rewrite the file only if it changes.

    ``config_path`` defaults to :func:`kipoi_config_path`. The file is written atomically.
    """
    path = Path(config_path) if config_path is not None else kipoi_config_path()
    if name == "dir":
        raise ConfigError("'dir' is reserved by kipoi for model directories; choose another source name")
    if not (Path(zoo_dir) / "HyenaDNA" / "model-template.yaml").exists():
        raise ConfigError(f"{zoo_dir}: the HyenaDNA model group is missing (no HyenaDNA/model-template.yaml); "
                          "reinstall hyenadna-kipoi")
    config = _read_config(path) if path.exists() else {"model_sources": default_sources(path.parent)}
    sources = config.setdefault("model_sources", {})
    entry = source_entry(zoo_dir)
    previous = sources.get(name)
    if previous == entry and path.exists():
        return Registration(path, name, entry["local_path"], False, previous)
    sources[name] = entry
    with atomic_open(path) as handle:
        yaml.safe_dump(config, handle, default_flow_style=False, sort_keys=False)
    return Registration(path, name, entry["local_path"], True, previous)

"""Turn a Kipoi model's ``weights`` / ``preset`` / ``md5`` arguments into a loaded model.

Why not kipoi's own ``weights: {url: ..., md5: ...}``: kipoi turns every mapping with a
``url`` key into a download of its own, into the source folder (inside the installed
package: maybe read-only, and not shared with ``hyenadna fetch``), without resuming, and
ignoring ``HYENADNA_OFFLINE``. So the model yaml names the same two facts as plain values,
``weights: <url or path>`` and ``md5: <hex or empty>``, and this module resolves them:

* the hub URL of a preset's file (``https://huggingface.co/LongSafari/...``): the preset is
  fetched with :func:`~hyenadna_kipoi.checkpoints.fetch_preset`, i.e. from the project cache
  (``$HYENADNA_CACHE``), from a ``file://`` mirror (``$HYENADNA_HUB_URL``) or, unless
  ``$HYENADNA_OFFLINE`` is set, downloaded once (resumable, size-checked);
* any other URL: downloaded once into ``$HYENADNA_CACHE/kipoi/`` with the same downloader,
  with the ``config.json`` beside it unless ``preset`` gives the shapes (``file://`` URLs
  are read in place): how a model this project trained is published;
* a path (relative to the model yaml's folder): a model directory in any layout, or a
  weights file (its directory when a ``config.json`` is beside it, else ``preset``'s shapes).

``md5``, when not empty, is checked against the weights file before it is loaded.
"""

from __future__ import annotations

import hashlib
import os
import urllib.parse
import urllib.request
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ..checkpoints import (HUB_URL, PRESETS, Preset, cache_dir, fetch_preset, load_model, load_state_into,
                           resolve_preset, to_canonical)
from ..download import download, verify_file
from ..errors import CheckpointError, ConfigError
from ..model import HyenaDNA

WEIGHT_FILES = ("model.safetensors", "weights.ckpt", "pytorch_model.bin")
_URL_SCHEMES = ("http://", "https://", "ftp://", "file:")


def is_url(value: str) -> bool:
    return value.startswith(_URL_SCHEMES)


def preset_or_none(name: str) -> Preset | None:
    """The preset called ``name``, None for an empty name, an error for an unknown one."""
    if not name:
        return None
    preset = resolve_preset(name)
    if preset is None:
        raise ConfigError(f"unknown preset {name!r} in the Kipoi model arguments; presets are {', '.join(PRESETS)}")
    return preset


def hub_layout(preset: Preset, url: str) -> str | None:
    """``hf`` or ``original`` when ``url`` is one of ``preset``'s files on the default hub, else None."""
    for layout in ("hf", "original"):
        repo = preset.repo + ("-hf" if layout == "hf" else "")
        if url.startswith(f"{HUB_URL}/{repo}/resolve/"):
            return layout
    return None


def weights_file(path: Path) -> Path:
    """The weights file of a model directory (or ``path`` itself when it is a file)."""
    if path.is_file():
        return path
    for name in WEIGHT_FILES:
        if (path / name).exists():
            return path / name
    raise CheckpointError(f"{path}: no weights file ({', '.join(WEIGHT_FILES)}) in this model directory")


def _download_url(url: str, companions: tuple[str, ...]) -> Path:
    """The weights file at ``url`` in the project cache, with ``companions`` fetched from beside it.

    ``file://`` URLs are read in place. Companions are the files a model directory needs
    besides its weights (``config.json``, a classifier's ``head.json`` ...), fetched from the
    same URL folder: a project model can be published as plain files anywhere.
    """
    if url.startswith("file:"):
        path = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
        if not path.exists():
            raise CheckpointError(f"{url}: no such file")
        return path
    folder = cache_dir() / "kipoi" / hashlib.sha256(url.encode()).hexdigest()[:16]
    name = Path(urllib.parse.urlparse(url).path).name or "model.safetensors"
    for companion in companions:
        download(url.rsplit("/", 1)[0] + "/" + companion, folder / companion, progress=False)
    return download(url, folder / name, progress=False)


def locate(weights: str, preset: Preset | None, *, base: Path, companions: tuple[str, ...] = ()) -> Path:
    """The local model directory or weights file that ``weights`` names (downloading if needed).

    A weights file with a ``config.json`` beside it stands for its directory.
    """
    if not weights:
        if preset is None:
            raise ConfigError("the Kipoi model arguments name neither weights nor a preset")
        return fetch_preset(preset, "hf", progress=False)
    if is_url(weights):
        layout = hub_layout(preset, weights) if preset is not None else None
        if layout is not None:
            return fetch_preset(preset, layout, progress=False)
        path = _download_url(weights, () if preset is not None else ("config.json", *companions))
    else:
        path = Path(weights).expanduser()
        path = path if path.is_absolute() else base / path
        if not path.exists():
            raise CheckpointError(f"{path}: no such model directory or weights file (from the Kipoi model argument "
                                  f"weights: {weights!r})")
    return path.parent if path.is_file() and preset is None and (path.parent / "config.json").exists() else path


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        try:
            return load_file(path)
        except (SafetensorError, OSError) as err:
            raise CheckpointError(f"{path}: cannot read the safetensors file ({err}); it may be truncated") from None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for bad pickles
        raise CheckpointError(f"{path}: cannot read the checkpoint ({err}); give a model directory instead") from None
    data = data.get("state_dict", data) if isinstance(data, dict) else data
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a dictionary of tensors")
    return {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}


def load_weights_file(path: Path, preset: Preset) -> HyenaDNA:
    """A lone weights file (any layout's key names) loaded into a model of ``preset``'s shape."""
    state = _read_tensors(path)
    layout = "hf" if any(k.startswith("hyena.") for k in state) else (
        "original" if any(k.startswith("model.") for k in state) else "own")
    model = HyenaDNA(preset.config())
    load_state_into(model, to_canonical(state, layout), path, path)
    return model.eval()


def resolve_model(weights: str = "", preset: str = "", md5: str = "", *, base: str | os.PathLike = ".",
                  device: str | torch.device = "cpu", companions: tuple[str, ...] = ()) -> tuple[HyenaDNA, Path]:
    """Load the model the Kipoi arguments describe; return it with its local directory or file.

    ``base``: the folder relative ``weights`` paths are resolved against (the model yaml's);
    ``companions``: files besides ``config.json`` to fetch with weights given by URL.
    """
    spec = preset_or_none(preset)
    path = locate(str(weights or ""), spec, base=Path(base), companions=companions)
    if md5:
        verify_file(weights_file(path), md5=md5)
    if path.is_dir():
        model = load_model(path, device=device, progress=False)
    elif spec is None:
        raise ConfigError(f"{path} is a lone weights file; give `preset` so its shapes are known, "
                          "or point `weights` at the model directory")
    else:
        model = load_weights_file(path, spec).to(device)
    return model, path

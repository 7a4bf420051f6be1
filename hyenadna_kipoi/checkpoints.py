"""Released presets, the three checkpoint layouts, loading, saving and conversion.

Layouts of a model directory:

``original``
    the original release: ``config.json`` (``layer: {...}`` block) + ``weights.ckpt``,
    a Lightning checkpoint with ``state_dict`` keys ``model.backbone.*`` and
    ``model.lm_head.weight`` (``.mixer.layer.``/``.mlp.layer.`` when the model was
    trained with ``checkpoint_mixer``/``checkpoint_mlp``).
``hf``
    the transformers port: ``config.json`` with ``model_type: hyenadna`` +
    ``model.safetensors`` or ``pytorch_model.bin``, keys ``hyena.backbone.*`` and
    ``lm_head.weight``; the sine frequency shared by a filter MLP is stored once.
``own``
    this project's: ``config.json`` (``format: hyenadna-kipoi``) + ``model.safetensors``
    with keys ``backbone.*`` (tied LM head and shared frequencies stored once).

Nothing here unpickles arbitrary code: safetensors, or ``torch.load(weights_only=True)``
with a fallback unpickler that builds tensors and replaces every other object
(Lightning's hyper-parameters, callbacks) by an inert placeholder.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config_schema import json_object
from .download import download, offline
from .errors import CheckpointError, ConfigError
from .heads import has_head, load_head
from .io import atomic_open, atomic_path
from .model import HyenaConfig, HyenaDNA

LAYOUTS = ("original", "hf", "own")
OWN_FORMAT = "hyenadna-kipoi"
HUB_URL = "https://huggingface.co"


@dataclass(frozen=True)
class Preset:
    """A released model: its shape and where its weights live on the model hub."""

    name: str
    d_model: int
    n_layer: int
    max_seq_len: int
    repo: str  # original layout; the transformers layout is ``repo + "-hf"``

    def config(self) -> HyenaConfig:
        return HyenaConfig(d_model=self.d_model, n_layer=self.n_layer, max_seq_len=self.max_seq_len)

    def files(self, layout: str) -> dict[str, str]:
        """File name -> download URL for ``layout`` (``original`` or ``hf``)."""
        base = os.environ.get("HYENADNA_HUB_URL", HUB_URL).rstrip("/")
        repo, names = {"original": (self.repo, ("config.json", "weights.ckpt")),
                       "hf": (self.repo + "-hf", ("config.json", "model.safetensors"))}[layout]
        return {name: f"{base}/{repo}/resolve/main/{name}" for name in names}


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("tiny-1k", 128, 2, 1026, "LongSafari/hyenadna-tiny-1k-seqlen"),
        Preset("tiny-1k-d256", 256, 2, 1026, "LongSafari/hyenadna-tiny-1k-seqlen-d256"),
        Preset("tiny-16k-d128", 128, 2, 16386, "LongSafari/hyenadna-tiny-16k-seqlen-d128"),
        Preset("small-32k", 256, 4, 32770, "LongSafari/hyenadna-small-32k-seqlen"),
        Preset("medium-160k", 256, 8, 160002, "LongSafari/hyenadna-medium-160k-seqlen"),
        Preset("medium-450k", 256, 8, 450002, "LongSafari/hyenadna-medium-450k-seqlen"),
        Preset("large-1m", 256, 8, 1000002, "LongSafari/hyenadna-large-1m-seqlen"),
    )
}


def resolve_preset(name: str) -> Preset | None:
    """The preset called ``name`` (also accepts hub names such as ``LongSafari/hyenadna-tiny-1k-seqlen-hf``)."""
    key = name.split("/")[-1].removesuffix("-hf")
    if key in PRESETS:
        return PRESETS[key]
    return next((p for p in PRESETS.values() if p.repo.split("/")[-1] == key), None)


def cache_dir() -> Path:
    """Where downloaded weights live: ``$HYENADNA_CACHE`` or ``~/.cache/hyenadna_kipoi``."""
    return Path(os.environ.get("HYENADNA_CACHE", Path.home() / ".cache" / "hyenadna_kipoi"))


def fetch_preset(preset: Preset, layout: str = "hf", *, progress: bool = True) -> Path:
    """Download (or find in the cache) a preset's files; return the model directory."""
    if layout not in ("original", "hf"):
        raise ConfigError(f"presets are published in the 'original' and 'hf' layouts, not {layout!r}")
    folder = cache_dir() / preset.name / layout
    for filename, url in preset.files(layout).items():
        target = folder / filename
        if not target.exists() and offline() and not url.startswith("file:"):
            raise CheckpointError(
                f"preset {preset.name!r} is not in the cache ({target} missing) and HYENADNA_OFFLINE is set; "
                f"download it once without HYENADNA_OFFLINE, or pass a local model directory"
            )
        download(url, target, progress=progress)
    return folder


# --------------------------------------------------------------------------- layouts


def detect_layout(folder: Path) -> str:
    """Which of :data:`LAYOUTS` the directory holds."""
    config_path = folder / "config.json"
    if not config_path.exists():
        raise CheckpointError(f"{folder}: no config.json; a model directory holds config.json and its weights")
    config = _read_json(config_path)
    if config.get("format") == OWN_FORMAT:
        return "own"
    if config.get("model_type") == "hyenadna":
        return "hf"
    if "layer" in config or (folder / "weights.ckpt").exists():
        return "original"
    raise CheckpointError(
        f"{config_path}: cannot tell the checkpoint layout (no 'format: {OWN_FORMAT}', no 'model_type: hyenadna', "
        "no 'layer' block); expected one of the original, transformers or hyenadna-kipoi layouts"
    )


def _read_json(path: Path) -> dict[str, Any]:
    return json_object(path.read_text(), str(path))


_ORIGINAL_LAYER_KEYS = {  # key in the original ``layer`` block -> HyenaConfig field
    "l_max": "max_seq_len", "emb_dim": "emb_dim", "filter_order": "filter_order",
    "local_order": "short_filter_order", "short_filter_order": "short_filter_order", "order": "hyena_order",
    "num_inner_mlps": "num_inner_mlps", "w": "activation_freq", "modulate": "modulate",
    "dropout": "hyena_dropout", "filter_dropout": "hyena_filter_dropout", "bias": "use_bias",
    "train_freq": "train_freq", "shift": "modulation_shift",
}
_ORIGINAL_TOP_KEYS = ("d_model", "n_layer", "d_inner", "vocab_size", "resid_dropout", "embed_dropout",
                      "residual_in_fp32", "pad_vocab_size_multiple", "layer_norm_epsilon")
_HF_KEYS = ("d_model", "n_layer", "d_inner", "vocab_size", "max_seq_len", "emb_dim", "hyena_order", "filter_order",
            "short_filter_order", "activation_freq", "num_inner_mlps", "embed_dropout", "hyena_dropout",
            "hyena_filter_dropout", "layer_norm_epsilon", "pad_vocab_size_multiple", "use_bias", "train_freq")


def read_config(folder: Path, layout: str) -> HyenaConfig:
    """The model configuration stored in ``folder/config.json`` of the given layout."""
    path = folder / "config.json"
    raw = _read_json(path)
    if layout == "own":
        values = {k: v for k, v in raw.items() if k not in ("format", "format_version")}
    elif layout == "hf":
        values = {k: raw[k] for k in _HF_KEYS if k in raw}
    else:
        layer = raw.get("layer")
        if not isinstance(layer, dict):
            raise ConfigError(f"{path}: the original layout needs a 'layer' block with the Hyena settings")
        if layer.get("_name_", "hyena") != "hyena":
            raise ConfigError(f"{path}: layer._name_ is {layer['_name_']!r}; only 'hyena' models are supported")
        values = {k: raw[k] for k in _ORIGINAL_TOP_KEYS if k in raw}
        values.update({field: layer[key] for key, field in _ORIGINAL_LAYER_KEYS.items() if key in layer})
    for required in ("d_model", "n_layer", "max_seq_len"):
        if required not in values:
            key = {"max_seq_len": "layer.l_max" if layout == "original" else "max_seq_len"}.get(required, required)
            raise ConfigError(f"{path}: missing required key {key!r}")
    try:
        return HyenaConfig.from_dict(values)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    except TypeError as err:
        raise ConfigError(f"{path}: {err}") from None


def _weights_file(folder: Path, layout: str) -> Path:
    candidates = {"original": ["weights.ckpt"], "hf": ["model.safetensors", "pytorch_model.bin"],
                  "own": ["model.safetensors"]}[layout]
    for name in candidates:
        if (folder / name).exists():
            return folder / name
    raise CheckpointError(f"{folder}: no weights file; the {layout} layout expects {' or '.join(candidates)}")


class _Inert:
    """Placeholder for any non-tensor object in a pickle: accepts everything, runs nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> _Inert:
        return _Inert()

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass


class _TensorOnlyUnpickler(pickle.Unpickler):
    _ALLOWED = {
        ("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_parameter"),
        ("torch._utils", "_rebuild_parameter_with_state"), ("torch", "Size"), ("torch", "device"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        return _Inert


_tensor_only_pickle = types.SimpleNamespace(Unpickler=_TensorOnlyUnpickler, load=pickle.load, __name__="tensor_only")


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # Lightning checkpoints may carry hyper-parameter objects; build only the tensors.
        return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_tensor_only_pickle)
    except (RuntimeError, EOFError, OSError) as err:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({err}); the file may be truncated or corrupt") from None


def read_state_dict(folder: Path, layout: str) -> tuple[dict[str, torch.Tensor], Path]:
    """Raw tensors of the directory's weights file, with the file's path."""
    path = _weights_file(folder, layout)
    if path.suffix == ".safetensors":
        try:
            return load_file(path), path
        except (SafetensorError, OSError) as err:
            raise CheckpointError(f"{path}: cannot read the safetensors file ({err}); it may be truncated or corrupt") from None
    data = _torch_load(path)
    if layout == "original":
        if not isinstance(data, dict) or not isinstance(data.get("state_dict"), dict):
            raise CheckpointError(f"{path}: a Lightning checkpoint with a 'state_dict' was expected")
        data = data["state_dict"]
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a dictionary of tensors")
    return {k: v for k, v in data.items() if isinstance(v, torch.Tensor)}, path


_CHECKPOINTED = re.compile(r"\.(mixer|mlp)\.layer\.")


def to_canonical(state: dict[str, torch.Tensor], layout: str) -> dict[str, torch.Tensor]:
    """Rename a layout's keys to this package's module names (``backbone.*``, ``lm_head.weight``)."""
    prefix = {"original": "model.", "hf": "hyena.", "own": ""}[layout]
    out = {}
    for key, value in state.items():
        if prefix and key.startswith(prefix):
            key = key[len(prefix):]
        out[_CHECKPOINTED.sub(r".\1.", key)] = value
    return out


# Buffers that are a pure function of the config: computed when a checkpoint omits them.
_DERIVED_BUFFERS = re.compile(r"\.filter_fn\.(pos_emb\.[zt]|modulation\.deltas)$")
_SHARED_FREQ = re.compile(r"^(.*\.implicit_filter\.)(\d+)\.freq$")
_EMBEDDING = "backbone.embeddings.word_embeddings.weight"


def _fill_aliases(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], source: Path) -> None:
    """Fill keys that share storage in the model (tied LM head, shared sine frequency) from their twin."""
    groups: dict[str, list[str]] = {"lm_head.weight": [_EMBEDDING, "lm_head.weight"]}
    for key in expected:
        m = _SHARED_FREQ.match(key)
        if m:
            groups.setdefault(m.group(1), []).append(key)
    for members in groups.values():
        present = [k for k in members if k in state]
        if not present:
            continue
        first = state[present[0]]
        for other in present[1:]:
            if state[other].shape != first.shape or not torch.equal(state[other], first):
                raise CheckpointError(
                    f"{source}: {other} differs from {present[0]}, but the HyenaDNA model shares them; "
                    "this checkpoint cannot be represented exactly"
                )
        for k in members:
            state.setdefault(k, first)


def load_state_into(model: HyenaDNA, state: dict[str, torch.Tensor], source: Path, config_path: Path) -> None:
    """Copy canonical tensors into ``model``, checking names and shapes against its config."""
    expected = model.state_dict()
    state = dict(state)
    _fill_aliases(state, expected, source)
    unexpected = sorted(set(state) - set(expected))
    if unexpected:
        raise CheckpointError(
            f"{source}: {len(unexpected)} tensor(s) that a HyenaDNA model of this config does not have, e.g. "
            f"{', '.join(unexpected[:4])}; is the layout right, or is this a different architecture?"
        )
    missing = sorted(k for k in set(expected) - set(state) if not _DERIVED_BUFFERS.search(k))
    if missing:
        raise CheckpointError(
            f"{source}: {len(missing)} tensor(s) missing, e.g. {', '.join(missing[:4])}; "
            f"the weights do not match the config in {config_path} (n_layer, hyena_order, num_inner_mlps?)"
        )
    for key, value in state.items():
        if value.shape != expected[key].shape:
            raise CheckpointError(
                f"{source}: tensor {key} has shape {tuple(value.shape)} but the config in {config_path} implies "
                f"{tuple(expected[key].shape)}; the config and the weights do not belong together"
            )
    with torch.no_grad():
        for key, value in state.items():
            expected[key].copy_(value)


def load_model(source: str | os.PathLike, device: str | torch.device | None = None,
               dtype: torch.dtype | None = None, *, layout: str | None = None, progress: bool = True) -> HyenaDNA:
    """Load a HyenaDNA model in eval mode from a directory (any layout) or a preset name.

    ``source``: a model directory, a weights file inside one, or a preset
    (``tiny-1k`` ... ``large-1m``, or its hub name), which is downloaded to the cache
    unless already there. ``device`` defaults to CPU, ``dtype`` to float32.

    ``model.head`` is the fine-tuned task head (:class:`~hyenadna_kipoi.heads.Head`, float32)
    when the directory holds ``head.json``, else None.
    """
    folder = Path(source)
    if folder.is_file():
        folder = folder.parent
    if not folder.exists():
        preset = resolve_preset(str(source))
        if preset is None:
            raise CheckpointError(
                f"{source}: no such model directory or preset; presets are {', '.join(PRESETS)}"
            )
        folder = fetch_preset(preset, "original" if layout == "original" else "hf", progress=progress)
    layout = layout or detect_layout(folder)
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown checkpoint layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    _weights_file(folder, layout)  # a missing weights file is the error to report first
    config = read_config(folder, layout)
    state, path = read_state_dict(folder, layout)
    model = HyenaDNA(config)
    load_state_into(model, to_canonical(state, layout), path, folder / "config.json")
    model.eval()
    model = model.to(device=device or "cpu", dtype=dtype)
    # a plain attribute, not a submodule: the state_dict keys stay those of the backbone + LM head
    model.head = load_head(folder, config.d_model).to(device or "cpu") if has_head(folder) else None
    return model


# --------------------------------------------------------------------------- writing


def _unique_tensors(model: HyenaDNA) -> dict[str, torch.Tensor]:
    """Canonical state dict with tied/shared tensors stored once (the first name wins)."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, value in model.state_dict(keep_vars=False).items():
        ident = value.data_ptr()
        if ident in seen:
            continue
        seen.add(ident)
        out[key] = value.detach().contiguous().cpu().clone()
    return out


def _original_config(cfg: HyenaConfig) -> dict[str, Any]:
    layer = {"_name_": "hyena", **{key: getattr(cfg, field) for key, field in _ORIGINAL_LAYER_KEYS.items()
                                   if key not in ("short_filter_order",)}}
    top = {key: getattr(cfg, key) for key in _ORIGINAL_TOP_KEYS}
    return {**top, "fused_mlp": False, "fused_dropout_add_ln": True, "checkpoint_mixer": False,
            "checkpoint_mlp": False, "return_hidden_state": True, "layer": layer}


def _hf_config(cfg: HyenaConfig) -> dict[str, Any]:
    return {"model_type": "hyenadna", "architectures": ["HyenaDNAForCausalLM"], "pad_token_id": 4,
            "initializer_range": 0.02, **{key: getattr(cfg, key) for key in _HF_KEYS}}


def save_model(model: HyenaDNA, folder: str | os.PathLike, layout: str = "own") -> Path:
    """Write ``model`` to ``folder`` in ``layout``; every file appears atomically."""
    if layout not in LAYOUTS:
        raise ConfigError(f"unknown checkpoint layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = model.config
    tensors = _unique_tensors(model)
    if layout == "own":
        config = {"format": OWN_FORMAT, "format_version": 1, **cfg.to_dict()}
        with atomic_path(folder / "model.safetensors") as tmp:
            save_file(tensors, tmp, metadata={"format": OWN_FORMAT})
    elif layout == "hf":
        config = _hf_config(cfg)
        tensors = {("lm_head.weight" if k == "lm_head.weight" else "hyena." + k): v for k, v in tensors.items()}
        tensors["lm_head.weight"] = tensors["hyena." + _EMBEDDING].clone()
        with atomic_path(folder / "model.safetensors") as tmp:
            save_file(tensors, tmp, metadata={"format": "pt"})
    else:
        config = _original_config(cfg)
        state = {"model." + k: v for k, v in model.state_dict().items()}
        with atomic_path(folder / "weights.ckpt") as tmp:
            torch.save({"state_dict": state, "epoch": 0, "global_step": 0, "pytorch-lightning_version": "1.8.6"}, tmp)
    with atomic_open(folder / "config.json") as handle:
        json.dump(config, handle, indent=2)
        handle.write("\n")
    return folder


def convert(source: str | os.PathLike, dest: str | os.PathLike, layout: str = "own") -> Path:
    """Read a model in any layout (or a preset) and write it to ``dest`` in ``layout``."""
    return save_model(load_model(source, progress=True), dest, layout)

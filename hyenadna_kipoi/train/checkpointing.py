"""Training checkpoints: the model in the project's layout + ``trainer_state.pt``, written atomically.

A checkpoint is a folder ``checkpoints/step-0000100/`` holding ``config.json`` and
``model.safetensors`` (``load_model`` reads it like any model directory) and
``trainer_state.pt`` (optimizer, scheduler, gradient scaler, RNG states of every rank,
data position, step, tokens seen). It is written into a hidden temporary folder and
renamed into place, so a killed run never leaves a half-written checkpoint behind.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoints import save_model
from ..errors import CheckpointError
from ..io import atomic_dir
from ..model import HyenaDNA

STATE_FILE = "trainer_state.pt"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def rng_state() -> dict[str, Any]:
    """This process's RNG states (torch CPU and CUDA, numpy, python) in a weights-only-loadable form."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                  "cached": float(cached)},
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))


def save_model_dir(model: HyenaDNA, target: str | os.PathLike, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (own layout) and, when given, ``extra`` as ``trainer_state.pt`` into ``target`` atomically."""
    target = Path(target)
    with atomic_dir(target) as tmp:  # replaces the same step written again by a resumed run
        save_model(model, tmp)
        if extra is not None:
            torch.save(extra, tmp / STATE_FILE)
    return target


def checkpoint_dirs(root: str | os.PathLike) -> list[tuple[int, Path]]:
    """Complete checkpoints under ``root`` as ``(step, folder)``, oldest first."""
    root = Path(root)
    found = []
    if root.is_dir():
        for child in root.iterdir():
            match = _STEP_DIR.match(child.name)
            if match and (child / STATE_FILE).exists() and (child / "model.safetensors").exists():
                found.append((int(match.group(1)), child))
    return sorted(found)


def latest_checkpoint(root: str | os.PathLike) -> Path | None:
    found = checkpoint_dirs(root)
    return found[-1][1] if found else None


def save_checkpoint(root: str | os.PathLike, step: int, model: HyenaDNA, state: dict[str, Any], keep_last: int) -> Path:
    """Write checkpoint ``step`` under ``root`` and delete all but the newest ``keep_last``."""
    root = Path(root)
    for stale in root.glob(".step-*.tmp"):  # left by a run killed while writing
        shutil.rmtree(stale, ignore_errors=True)
    folder = save_model_dir(model, root / f"step-{step:07d}", state)
    for _, old in checkpoint_dirs(root)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def load_trainer_state(folder: str | os.PathLike) -> dict[str, Any]:
    """``trainer_state.pt`` of a checkpoint folder (tensors and plain values only: nothing is unpickled)."""
    path = Path(folder) / STATE_FILE
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as err:
        raise CheckpointError(f"{path}: cannot read the trainer state ({err}); the checkpoint is damaged: "
                              "delete this folder to resume from the one before") from None

"""Which torch device ``auto`` means."""

from __future__ import annotations

import os


def resolve_device(name: str = "auto") -> str:
    """``auto`` -> ``$HYENADNA_DEVICE`` when set, else ``cuda`` when available, else ``cpu``.

    Any other name (``cpu``, ``cuda``, ``cuda:1``) is returned unchanged.
    """
    if name != "auto":
        return name
    override = os.environ.get("HYENADNA_DEVICE", "").strip()
    if override and override != "auto":
        return override
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"

"""Which torch device ``auto`` means (and a comma-separated list of devices)."""

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


def resolve_devices(spec: str) -> list[str]:
    """A comma-separated list (``cuda:0,cuda:1``), each name resolved by :func:`resolve_device`."""
    return [resolve_device(name.strip()) for name in spec.split(",") if name.strip()]

"""The package version (the same as pyproject.toml's), importable without the public API."""

__version__ = "0.1.0"

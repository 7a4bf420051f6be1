"""Exceptions raised by hyenadna-kipoi.

Every error a user can cause derives from :class:`HyenaDNAError`; the CLI prints
its message (no traceback) and exits non-zero. Messages say what is wrong, where
(file, line, record, position) and what to do about it.
"""

from __future__ import annotations


class HyenaDNAError(Exception):
    """Base class of every error this package raises on purpose."""

    exit_code: int = 2


class InputError(HyenaDNAError, ValueError):
    """Bad user input: a sequence, FASTA, BED or VCF that cannot be used as given."""


class ConfigError(HyenaDNAError, ValueError):
    """A model or workflow configuration that is missing keys or holds bad values."""


class CheckpointError(HyenaDNAError, RuntimeError):
    """A checkpoint that is missing, truncated, of an unknown layout or inconsistent with its config."""


class DownloadError(CheckpointError):
    """A download that failed, was truncated or does not match its checksum."""

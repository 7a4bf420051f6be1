"""What the Kipoi models return, computed with the project's own scoring functions.

Inputs are token ids as the dataloaders produce them (``A=7 C=8 G=9 T=10 N=11``, left-padded
with ``[PAD]=4``). Each row's padding is dropped and rows run in groups of equal length, so
a value never depends on the batch it came in, and equals what ``hyenadna embed``,
``hyenadna loglik`` and ``hyenadna score-variants`` give for the same sequence.
Nothing here imports kipoi.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..errors import InputError
from ..model import HyenaDNA
from ..score import window_llrs
from ..score.batching import run_by_length
from ..tokenizer import PAD, decode_batch
from ..heads import Head

INTERVAL_OUTPUTS = ("embedding", "loglik")
VARIANT_OUTPUTS = ("llr", "llr_fwd", "llr_rc")


def unpad(ids: np.ndarray) -> list[str]:
    """DNA strings of left-padded token ids ``[B, L]`` (special tokens dropped)."""
    ids = np.asarray(ids)
    if ids.ndim != 2:
        raise InputError(f"expected token ids of shape [batch, length], got {ids.shape}")
    return decode_batch(ids)


def _nonempty(seqs: Sequence[str]) -> Sequence[str]:
    for i, s in enumerate(seqs):
        if not s:
            raise InputError(f"row {i} of the batch holds no bases (only padding)")
    return seqs


def interval_outputs(model: HyenaDNA, ids: np.ndarray, *, batch_size: int = 8) -> dict[str, np.ndarray]:
    """``embedding`` [B, d] float32 (mean over positions) and ``loglik`` [B] float64 (nats).

    The same numbers as ``hyenadna embed --pooling mean`` and ``hyenadna loglik`` (no window),
    from one forward pass per batch.
    """
    seqs = _nonempty(unpad(ids))

    def run(m: HyenaDNA, batch: torch.Tensor) -> list[tuple[np.ndarray, float]]:
        hidden = m.embed(batch)
        loglik = m.log_likelihood_of_hidden(hidden, batch).double().sum(dim=1).tolist()
        return list(zip(hidden.float().mean(dim=1).cpu().numpy(), loglik))

    rows = run_by_length(model, seqs, run, batch_size=batch_size, progress=False, desc="intervals")
    return {"embedding": np.stack([e for e, _ in rows]).astype(np.float32), "loglik": np.array([ll for _, ll in rows], np.float64)}


def single_target(outputs: dict[str, np.ndarray], task: str) -> np.ndarray:
    """The one array target of the ``embedding`` ([B, d] float32) or ``loglik`` ([B, 1] float64) models.

    Both come from :func:`interval_outputs`, so they are its numbers, in the zoo's layout (one
    array per model, its columns named by ``column_labels`` in the model yaml).
    """
    if task == "embedding":
        return outputs["embedding"]
    if task == "loglik":
        return outputs["loglik"][:, None]
    raise InputError(f"task {task!r} has no single array target (embedding or loglik)")


def variant_outputs(model: HyenaDNA, ref: np.ndarray, alt: np.ndarray, *, batch_size: int = 8) -> dict[str, np.ndarray]:
    """``llr``, ``llr_fwd``, ``llr_rc`` [B] float64 of REF/ALT windows ``[B, W]``.

    Rows whose REF window is all ``[PAD]`` are alleles the dataloader could not score
    (unknown contig, REF mismatch, symbolic ALT): their values are NaN.
    """
    ref, alt = np.asarray(ref), np.asarray(alt)
    if ref.shape != alt.shape or ref.ndim != 2:
        raise InputError(f"REF and ALT windows must both be [batch, window], got {ref.shape} and {alt.shape}")
    scored = ~(ref == PAD).all(axis=1)
    out = {name: np.full(len(ref), np.nan) for name in VARIANT_OUTPUTS}
    if scored.any():
        refs, alts = unpad(ref[scored]), unpad(alt[scored])
        scores = window_llrs(model, refs, alts, batch_size=batch_size)
        for name in VARIANT_OUTPUTS:
            out[name][scored] = getattr(scores, name)
    return out


def classifier_outputs(model: HyenaDNA, head: Head, ids: np.ndarray, *,
                       batch_size: int = 8) -> dict[str, np.ndarray]:
    """The head's outputs, one ``[B]`` float32 array per label, named by :attr:`Head.columns`.

    Class probabilities (classification), per-target probabilities (multilabel) or values (regression).
    """
    seqs = _nonempty(unpad(ids))

    def run(m: HyenaDNA, batch: torch.Tensor) -> list[np.ndarray]:
        return list(head.predict(m, batch).cpu().numpy())

    probs = np.stack(run_by_length(model, seqs, run, batch_size=batch_size, progress=False, desc="classify"))
    return {label: probs[:, j].astype(np.float32) for j, label in enumerate(head.columns)}

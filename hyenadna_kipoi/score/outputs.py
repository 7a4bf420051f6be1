"""Writers for embeddings and likelihood tables; every file is written atomically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError
from ..io import atomic_open, atomic_path
from .likelihood import SequenceLikelihood

EMBEDDING_FORMATS = (".npy", ".npz", ".parquet", ".tsv")


def write_embeddings(path: str | os.PathLike, names: Sequence[str], emb: np.ndarray | list[np.ndarray]) -> Path:
    """Write embeddings in the format given by the extension.

    ``.npy``: the [N, d] array; ``.npz``: ``names`` + ``embeddings`` [N, d] (or, per token,
    ``names`` + ``emb_0`` ... ``emb_{N-1}`` of shape [L_i, d]); ``.parquet``/``.tsv``: a
    ``name`` column and ``emb_0..emb_{d-1}``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EMBEDDING_FORMATS:
        raise InputError(f"{path}: unknown output format {suffix!r}; use one of {', '.join(EMBEDDING_FORMATS)}")
    per_token = isinstance(emb, list)
    if per_token and suffix != ".npz":
        raise InputError(f"{path}: per-token embeddings (--pooling none) can only be written as .npz")
    with atomic_path(path) as tmp:
        if suffix == ".npy":
            with open(tmp, "wb") as handle:
                np.save(handle, emb)
        elif suffix == ".npz":
            arrays = {f"emb_{i}": e for i, e in enumerate(emb)} if per_token else {"embeddings": emb}
            with open(tmp, "wb") as handle:
                np.savez_compressed(handle, names=np.array(names), **arrays)
        else:
            import pandas as pd

            table = pd.DataFrame(emb, columns=[f"emb_{j}" for j in range(emb.shape[1])])
            table.insert(0, "name", list(names))
            if suffix == ".parquet":
                table.to_parquet(tmp, index=False)
            else:
                table.to_csv(tmp, sep="\t", index=False, float_format="%.6g")
    return path


def write_loglik(path: str | os.PathLike, names: Sequence[str], seqs: Sequence[str],
                 scores: Sequence[SequenceLikelihood]) -> Path:
    """TSV with one row per sequence: name, length, n_scored, loglik_nats, bits_per_base, perplexity."""
    with atomic_open(path) as out:
        out.write("name\tlength\tn_scored\tloglik_nats\tbits_per_base\tperplexity\n")
        for name, seq, s in zip(names, seqs, scores):
            out.write(f"{name}\t{len(seq)}\t{s.n_predicted}\t{s.loglik:.6f}\t{s.bits_per_base:.6f}\t{s.perplexity:.6f}\n")
    return Path(path)

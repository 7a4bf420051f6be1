"""One-hot DNA (the zoo's ``DNASeq`` inputs) to HyenaDNA token ids, and back. No kipoi import.

kipoiseq's ``SeqIntervalDl`` and ``VariantSeqExtractor`` + ``one_hot_dna`` give sequences as
``[B, L, 4]`` arrays in the order ``ACGT``: a base is a row with one 1, ``N`` a row of 0.25
(kipoiseq's neutral value) and any other letter (IUPAC codes) a row of zeros. HyenaDNA reads
token ids, so a row that is exactly one-hot becomes A/C/G/T (7..10) and every other row
(all-zero, uniform, anything else) becomes N (11): the ids the project's tokenizer gives the
same letters (it maps IUPAC codes to N too), hence the same predictions.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..tokenizer import A, N

ALPHABET = "ACGT"  # kipoiseq's default alphabet (the column order of the one-hot arrays)


def is_one_hot(x: np.ndarray) -> bool:
    """True for a ``[B, L, 4]`` array (the zoo's one-hot ``DNASeq`` layout)."""
    return np.ndim(x) == 3 and np.shape(x)[-1] == len(ALPHABET)


def onehot_to_ids(x: np.ndarray) -> np.ndarray:
    """Token ids ``[B, L]`` int64 of one-hot sequences ``[B, L, 4]`` (ACGT); non-one-hot rows are N."""
    x = np.asarray(x)
    if not is_one_hot(x):
        raise InputError(f"expected one-hot DNA of shape [batch, length, 4] (alphabet ACGT), got {x.shape}")
    base = x == 1
    exact = base.sum(axis=-1) == 1
    exact &= (x == 0).sum(axis=-1) == len(ALPHABET) - 1
    return np.where(exact, A + base.argmax(axis=-1), N).astype(np.int64)


def ids_to_onehot(ids: np.ndarray) -> np.ndarray:
    """One-hot ``[B, L, 4]`` float32 of unpadded token ids ``[B, L]`` (N and any other id: all 0.25, as kipoiseq)."""
    ids = np.asarray(ids)
    if ids.ndim != 2:
        raise InputError(f"expected token ids of shape [batch, length], got {ids.shape}")
    out = np.full((*ids.shape, len(ALPHABET)), 0.25, dtype=np.float32)
    base = (ids >= A) & (ids < A + len(ALPHABET))
    out[base] = np.eye(len(ALPHABET), dtype=np.float32)[ids[base] - A]
    return out

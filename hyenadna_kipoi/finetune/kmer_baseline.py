"""The k-mer baseline every fine-tuned model is compared with.

Features: for each k in ``ks`` the frequencies of the 4^k k-mers of the sequence (counts
of the k-mers made of A/C/G/T only, divided by their number, so each k's block sums to 1
and sequence length does not matter), standardised over the training split. Model:
logistic regression (multinomial softmax) for classification, one logistic regression per
target for multilabel, ridge regression (``alpha = 1/C``) for regression, all fitted on the
task's train split only. Scores follow :mod:`hyenadna_kipoi.finetune.evaluate`'s convention.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from .task import TaskData

__all__ = ["KmerBaseline", "fit_kmer_baseline", "kmer_features"]

_CODE = np.full(256, 255, dtype=np.uint8)
for _i, _b in enumerate("ACGT"):
    _CODE[ord(_b)] = _CODE[ord(_b.lower())] = _i
_CHUNK_BASES = 1 << 20  # bases per feature block: bounds the int64 [chunk, L] index arrays (~8 MB each)


def kmer_features(sequences: Sequence[str], ks: Sequence[int]) -> np.ndarray:
    """k-mer frequencies, float32 [N, sum(4^k for k in ks)], blocks in the order of ``ks``.

    A k-mer that contains a non-ACGT base is not counted; a sequence with no counted
    k-mer of some k has zeros in that block.
    """
    width = sum(4**k for k in ks)
    out = np.zeros((len(sequences), width), dtype=np.float32)
    by_length: dict[int, list[int]] = {}
    for i, seq in enumerate(sequences):
        by_length.setdefault(len(seq), []).append(i)
    for length, rows in by_length.items():
        chunk = max(1, _CHUNK_BASES // max(1, length))
        for lo in range(0, len(rows), chunk):
            index = rows[lo:lo + chunk]
            codes = _CODE[np.frombuffer("".join(sequences[i] for i in index).encode("ascii", "replace"),
                                        dtype=np.uint8)].reshape(len(index), length)
            out[index] = _block(codes, ks, width)
    return out


def _block(codes: np.ndarray, ks: Sequence[int], width: int) -> np.ndarray:
    """Features of equal-length sequences given as base codes [n, L] (255 = not ACGT)."""
    n, length = codes.shape
    out = np.zeros((n, width), dtype=np.float32)
    bad = codes == 255
    digits = np.where(bad, 0, codes).astype(np.int64)
    offset = 0
    for k in ks:
        size = 4**k
        if length >= k:
            span = length - k + 1
            index = np.zeros((n, span), dtype=np.int64)
            invalid = np.zeros((n, span), dtype=bool)
            for j in range(k):
                index = index * 4 + digits[:, j:j + span]
                invalid |= bad[:, j:j + span]
            flat = (index + np.arange(n)[:, None] * size)[~invalid]
            counts = np.bincount(flat, minlength=n * size).reshape(n, size).astype(np.float32)
            total = counts.sum(1, keepdims=True)
            out[:, offset:offset + size] = counts / np.maximum(total, 1)
        offset += size
    return out


class KmerBaseline:
    """k-mer frequencies + a linear model; :meth:`fit` on sequences and targets, :meth:`scores` on new ones."""

    def __init__(self, kind: str, labels: Sequence[str], ks: Sequence[int] = (1, 2, 3, 4, 5, 6), C: float = 1.0,
                 max_iter: int = 2000, seed: int = 0):
        self.kind, self.labels, self.ks = kind, list(labels), list(ks)
        self.C, self.max_iter, self.seed = C, max_iter, seed
        self.models: list = []
        self.classes_: np.ndarray | None = None
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def _standardise(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean_) / self.scale_

    def fit(self, sequences: Sequence[str], targets: np.ndarray) -> KmerBaseline:
        """Fit on ``sequences`` with targets int [N] (classification) or float [N, T]."""
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression, Ridge

        x = kmer_features(sequences, self.ks)
        self.mean_ = x.mean(0)
        self.scale_ = x.std(0)
        self.scale_[self.scale_ == 0] = 1.0
        x = self._standardise(x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if self.kind == "classification":
                y = np.asarray(targets).astype(int).reshape(-1)
                self.classes_ = np.unique(y)
                if len(self.classes_) < 2:
                    self.models = []
                else:
                    model = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.seed)
                    self.models = [model.fit(x, y)]
            elif self.kind == "multilabel":
                y = np.asarray(targets).reshape(len(x), -1) > 0.5
                self.models = []
                for t in range(y.shape[1]):
                    if y[:, t].all() or not y[:, t].any():  # one class only: predict its frequency
                        self.models.append(float(y[:, t].mean()))
                    else:
                        model = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.seed)
                        self.models.append(model.fit(x, y[:, t]))
            elif self.kind == "regression":
                y = np.asarray(targets, dtype=np.float64).reshape(len(x), -1)
                self.models = [Ridge(alpha=1.0 / self.C).fit(x, y)]
            else:
                raise ValueError(f"unknown task kind {self.kind!r}")
        return self

    def scores(self, sequences: Sequence[str]) -> np.ndarray:
        """Probabilities [N, C] (classification), [N, T] (multilabel) or values [N, T] (regression)."""
        x = self._standardise(kmer_features(sequences, self.ks))
        n, width = len(sequences), len(self.labels)
        if self.kind == "classification":
            out = np.zeros((n, width))
            if not self.models:  # a single training class
                out[:, int(self.classes_[0])] = 1.0
            else:
                out[:, self.classes_] = self.models[0].predict_proba(x)
            return out
        if self.kind == "multilabel":
            return np.stack([np.full(n, m) if isinstance(m, float) else m.predict_proba(x)[:, 1] for m in self.models], 1)
        return np.asarray(self.models[0].predict(x), dtype=np.float64).reshape(n, -1)


def fit_kmer_baseline(task: TaskData, ks: Sequence[int] = (1, 2, 3, 4, 5, 6), C: float = 1.0, max_iter: int = 2000,
                      seed: int = 0) -> KmerBaseline:
    """A :class:`KmerBaseline` fitted on ``task``'s train split."""
    train = task.splits["train"]
    return KmerBaseline(task.kind, task.labels, ks, C, max_iter, seed).fit(train.sequences, train.targets)

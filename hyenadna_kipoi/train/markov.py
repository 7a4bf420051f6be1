"""k-mer Markov baselines (orders 0..K) with add-one smoothing, in numpy.

Order k predicts a base from the k bases before it: p(b | ctx) = (n(ctx, b) + 1) /
(n(ctx) + 4), counted on the training windows. A base is scored on exactly the
positions the language model is scored on: every A/C/G/T base of a window except its
first. Where fewer than k A/C/G/T bases precede it within the window (window start, or
an N), the longest available context is used, as a model reading the same window
could.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

_CODE = np.full(256, 4, dtype=np.int64)  # A C G T -> 0 1 2 3, anything else -> 4
for _i, _c in enumerate("ACGT"):
    _CODE[ord(_c)] = _CODE[ord(_c.lower())] = _i
_COMPLEMENT = np.array([3, 2, 1, 0, 4], dtype=np.int64)

CHUNK = 1 << 22  # bases per numpy pass (bounds memory on large training sets)


def to_codes(seq: str) -> np.ndarray:
    """A/C/G/T -> 0..3, anything else -> 4: ``[L]`` int64."""
    return _CODE[np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)]


def reverse_complement_codes(codes: np.ndarray) -> np.ndarray:
    return _COMPLEMENT[codes[::-1]]


def _join(windows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Windows joined with a separator (code 4) before each; and the mask of each window's first base."""
    lengths = np.array([len(w) + 1 for w in windows])
    joined = np.full(int(lengths.sum()), 4, dtype=np.int64)
    first = np.zeros(len(joined), dtype=bool)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) + 1
    for start, w in zip(starts, windows):
        joined[start: start + len(w)] = w
    first[starts] = True
    return joined, first


def _context_run(codes: np.ndarray) -> np.ndarray:
    """For each position, how many A/C/G/T bases directly precede it."""
    idx = np.arange(len(codes))
    last_bad = np.where(codes >= 4, idx, -1)
    last_bad = np.maximum.accumulate(last_bad)
    before = np.concatenate([[-1], last_bad[:-1]])  # last non-ACGT strictly before t
    return idx - before - 1


def _contexts(codes: np.ndarray, order: int) -> np.ndarray:
    """Base-4 index of the ``order`` bases before each position (garbage where the run is shorter)."""
    ctx = np.zeros(len(codes), dtype=np.int64)
    clean = np.minimum(codes, 3)
    for j in range(1, order + 1):
        shifted = np.concatenate([np.zeros(j, dtype=np.int64), clean[:-j]]) if j < len(codes) else np.zeros_like(clean)
        ctx += shifted * 4 ** (j - 1)
    return ctx


class MarkovBaselines:
    """Count tables for orders ``0..max_order``; ``counts[k]`` is ``[4**k, 4]``."""

    def __init__(self, max_order: int = 5):
        self.max_order = max_order
        self.counts = [np.zeros((4 ** k, 4), dtype=np.int64) for k in range(max_order + 1)]

    def fit(self, windows: Iterable[np.ndarray]) -> MarkovBaselines:
        """Add the k-mer counts of ``windows`` (arrays of codes, see :func:`to_codes`)."""
        for chunk in _chunks(windows):
            codes, _ = _join(chunk)
            run = _context_run(codes)
            target_ok = codes < 4
            for k in range(self.max_order + 1):
                ok = target_ok & (run >= k)
                index = _contexts(codes, k)[ok] * 4 + codes[ok]
                self.counts[k] += np.bincount(index, minlength=4 ** (k + 1)).reshape(4 ** k, 4)
        return self

    def log2_probs(self, k: int) -> np.ndarray:
        """``[4**k, 4]`` log2 p(base | context) with add-one smoothing."""
        c = self.counts[k].astype(np.float64) + 1.0
        return np.log2(c / c.sum(axis=1, keepdims=True))

    def score(self, windows: Iterable[np.ndarray]) -> tuple[np.ndarray, int]:
        """Total bits for every order, ``[max_order + 1]``, and the number of bases scored."""
        tables = [self.log2_probs(k) for k in range(self.max_order + 1)]
        bits = np.zeros(self.max_order + 1)
        scored = 0
        for chunk in _chunks(windows):
            codes, first = _join(chunk)
            run = _context_run(codes)
            mask = (codes < 4) & ~first
            scored += int(mask.sum())
            per_order = np.stack([-tables[j][_contexts(codes, j)[mask], codes[mask]] for j in range(self.max_order + 1)])
            eff = run[mask]
            for k in range(self.max_order + 1):
                use = np.minimum(eff, k)
                bits[k] += per_order[use, np.arange(len(use))].sum()
        return bits, scored

    def bits_per_base(self, windows: Iterable[np.ndarray]) -> dict[int, float]:
        """Order -> mean bits per scored base on ``windows``."""
        bits, scored = self.score(windows)
        return {k: float(bits[k] / scored) if scored else float("nan") for k in range(self.max_order + 1)}


def _chunks(windows: Iterable[np.ndarray]) -> Iterable[list[np.ndarray]]:
    chunk, size = [], 0
    for w in windows:
        chunk.append(w)
        size += len(w) + 1
        if size >= CHUNK:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk

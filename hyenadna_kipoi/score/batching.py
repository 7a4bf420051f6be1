"""Run a model over many sequences in batches of equal length.

HyenaDNA is causal and the release pads on the left, so padding tokens would
change every real token's hidden state. Batching only sequences of the same
length avoids padding altogether: a sequence's result never depends on its batch.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable, Sequence, TypeVar

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import InputError
from ..model import HyenaDNA
from ..tokenizer import encode

T = TypeVar("T")


def run_by_length(
    model: HyenaDNA,
    seqs: Sequence[str],
    fn: Callable[[HyenaDNA, torch.Tensor], Sequence[T]],
    *,
    names: Sequence[str] | None = None,
    batch_size: int = 8,
    progress: bool = True,
    desc: str = "sequences",
) -> list[T]:
    """``fn(model, ids [b, L])`` on batches of same-length sequences; results in input order."""
    device = next(model.parameters()).device
    by_length: dict[int, list[int]] = defaultdict(list)
    for i, seq in enumerate(seqs):
        if len(seq) > model.l_max:
            label = names[i] if names else f"sequence #{i + 1}"
            raise InputError(
                f"{label} has {len(seq)} bases, more than the model's l_max of {model.l_max}; "
                "use a longer-context model or split it (e.g. `hyenadna loglik --window`)"
            )
        if len(seq) == 0:
            raise InputError(f"{names[i] if names else f'sequence #{i + 1}'} is empty")
        by_length[len(seq)].append(i)
    results: list[T | None] = [None] * len(seqs)
    with torch.inference_mode(), tqdm(total=len(seqs), desc=desc, unit="seq", disable=not progress) as bar:
        for indices in by_length.values():
            for start in range(0, len(indices), batch_size):
                chunk = indices[start:start + batch_size]
                ids = np.stack([encode(seqs[i], name=names[i] if names else None) for i in chunk])
                out = fn(model, torch.from_numpy(ids).to(device))
                for i, value in zip(chunk, out):
                    results[i] = value
                bar.update(len(chunk))
    return results  # type: ignore[return-value]

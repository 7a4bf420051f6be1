"""Bits per base of the pretrained model by context length, beside Markov baselines, on the test windows.

The paper's "longer context, better perplexity" claim, measured on held-out blocks: every test window
(``results/pretrain/intervals/test.bed``) is cut into non-overlapping pieces of ``L`` bases for each
context length ``L``, and the model's log-likelihood of every base but each piece's first is summed
(:func:`hyenadna_kipoi.score.likelihood.sequence_loglik`), so a longer ``L`` gives the same bases more
context. Markov models of order 0..K, fitted on the training windows (a seeded sample of at most
``max_train_bases``), score the same windows (:class:`hyenadna_kipoi.train.markov.MarkovBaselines`).
"""

from __future__ import annotations

import math
import os

import numpy as np

from ..data.genome import Genome, read_bed
from ..errors import InputError
from ..io import atomic_open


def _windows(genome: Genome, bed: str | os.PathLike) -> list[str]:
    return [genome.fetch(iv.chrom, iv.start, iv.end).upper() for iv in read_bed(bed)]


def context_bits(model: str | os.PathLike, fasta: str | os.PathLike, test_bed: str | os.PathLike,
                 train_bed: str | os.PathLike, lengths: list[int], *, max_order: int = 8,
                 max_train_bases: int = 4_000_000, device: str = "cpu", batch_size: int = 4,
                 seed: int = 0) -> list[tuple[str, int, float]]:
    """Rows ``(method, context, bits per base)``: ``hyenadna`` at each length (bases), ``markov`` at each
    order (context = order). Lengths above the model's ``l_max`` or the test windows' length are errors."""
    from ..checkpoints import load_model
    from ..device import resolve_device
    from ..score.likelihood import sequence_loglik
    from ..train.markov import MarkovBaselines, to_codes

    with Genome(fasta) as genome:
        test = _windows(genome, test_bed)
        train = _windows(genome, train_bed)
    if not test or not train:
        raise InputError(f"{test_bed if not test else train_bed}: no windows")
    net = load_model(model, device=resolve_device(device))
    shortest = min(len(s) for s in test)
    bad = [n for n in lengths if not 2 <= n <= min(net.l_max, shortest)]
    if bad:
        raise InputError(f"context length(s) {bad} outside 2..{min(net.l_max, shortest)} (the model's l_max "
                         f"{net.l_max}, the test windows' {shortest} bases)")
    rows = []
    for n in sorted(lengths):
        scores = sequence_loglik(net, test, window=n, batch_size=batch_size, progress=False)
        nats = sum(s.loglik for s in scores)
        rows.append(("hyenadna", n, -nats / math.log(2) / sum(s.n_predicted for s in scores)))
    order = np.random.default_rng(seed).permutation(len(train))
    picked, total = [], 0
    for i in order:
        if total >= max_train_bases:
            break
        picked.append(to_codes(train[i]))
        total += len(train[i])
    markov = MarkovBaselines(max_order).fit(picked).bits_per_base(to_codes(s) for s in test)
    rows += [("markov", k, bits) for k, bits in sorted(markov.items())]
    return rows


def write_context_bits(rows: list[tuple[str, int, float]], table: str | os.PathLike, png: str | os.PathLike) -> None:
    """``method context bits_per_base`` TSV and a figure: the model's bits per base against its context length
    (log scale), the best Markov order as a dashed line."""
    from .plots import _pyplot, _save

    with atomic_open(table) as handle:
        handle.write("method\tcontext\tbits_per_base\n")
        handle.writelines(f"{m}\t{c}\t{b:.6f}\n" for m, c, b in rows)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    model = [(c, b) for m, c, b in rows if m == "hyenadna"]
    ax.plot(*zip(*model), marker="o", label="HyenaDNA")
    best = min(((b, c) for m, c, b in rows if m == "markov"), default=None)
    if best:
        ax.axhline(best[0], ls="--", color="k", lw=1, label=f"best Markov (order {best[1]})")
    ax.set_xscale("log", base=2)
    ax.set(xlabel="context length (bases)", ylabel="test bits per base", title="Bits per base by context length")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    _save(fig, png)
    plt.close(fig)

"""A 2-D map of embeddings: their first two principal components, one colour per label."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from ..io import atomic_path


def pca_2d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of x [N, d] on their first two principal components: coordinates [N, 2], explained fractions [2]."""
    centred = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T, (s[:2] ** 2) / max((s**2).sum(), 1e-30)


def plot_embedding_map(embeddings: np.ndarray, labels: Sequence[str], out: str | os.PathLike, *,
                       title: str = "Mean-pooled HyenaDNA embeddings") -> np.ndarray:
    """Write a PNG of the PCA map of ``embeddings`` [N, d] coloured by ``labels`` [N].

    Returns the fractions of variance the two plotted components explain [2].
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if len(labels) != len(embeddings):
        raise ValueError(f"{len(labels)} labels for {len(embeddings)} embeddings")
    coords, explained = pca_2d(np.asarray(embeddings, dtype=np.float64))
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=120)
    labels = np.asarray(labels)
    for label in sorted(set(labels.tolist())):
        mask = labels == label
        ax.scatter(coords[mask, 0], coords[mask, 1], s=10, alpha=0.7, label=f"{label} (n={mask.sum()})")
    ax.set_xlabel(f"PC1 ({explained[0]:.0%} of variance)")
    ax.set_ylabel(f"PC2 ({explained[1]:.0%} of variance)")
    ax.set_title(title)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return explained

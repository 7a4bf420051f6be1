"""A linear probe of gene biotype on mean-pooled embeddings, beside the same probe on k-mer frequencies.

Reads the ``biotype`` task of ``hyenadna workflow derive-tasks`` (``DIR/{train,test}/{class}.fa``; empty
class files are skipped), embeds every sequence with the model (mean over positions, [N, d_model]),
and fits a standardised multinomial logistic regression on the training split; the same probe on
k-mer frequencies (k = 1..6, :func:`hyenadna_kipoi.finetune.kmer_baseline.kmer_features`) is the
baseline. Rows: ``method``, macro F1 and accuracy on the test split, training and test sizes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import atomic_open


def _read_split(folder: Path) -> tuple[list[str], list[str]]:
    from ..data.fasta import read_fasta

    seqs, labels = [], []
    for path in sorted(folder.glob("*.fa")):
        if path.stat().st_size == 0:
            continue
        for _, seq in read_fasta(path):
            seqs.append(seq.upper())
            labels.append(path.stem)
    if not seqs:
        raise InputError(f"{folder}: no sequences (expected CLASS.fa files)")
    return seqs, labels


def biotype_probe(model: str | os.PathLike, folder: str | os.PathLike, *, device: str = "cpu", batch_size: int = 8,
                  ks: tuple[int, ...] = (1, 2, 3, 4, 5, 6)) -> list[tuple[str, float, float, int, int]]:
    """``(method, macro F1, accuracy, n_train, n_test)`` for ``hyenadna`` and ``kmer`` probes."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ..checkpoints import load_model
    from ..device import resolve_device
    from ..finetune.kmer_baseline import kmer_features
    from ..score.embeddings import embed_sequences

    train, y_train = _read_split(Path(folder) / "train")
    test, y_test = _read_split(Path(folder) / "test")
    if len(set(y_train)) < 2:
        raise InputError(f"{folder}/train: the probe needs at least two classes, found {sorted(set(y_train))}")
    net = load_model(model, device=resolve_device(device))
    too_long = [len(s) for s in train + test if len(s) > net.l_max]
    if too_long:
        raise InputError(f"{folder}: {len(too_long)} sequence(s) longer than the model's l_max {net.l_max}")
    features = {
        "hyenadna": (embed_sequences(net, train, batch_size=batch_size, progress=False),
                     embed_sequences(net, test, batch_size=batch_size, progress=False)),
        "kmer": (kmer_features(train, ks), kmer_features(test, ks)),
    }
    rows = []
    for method, (x_train, x_test) in features.items():
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        probe.fit(np.asarray(x_train, dtype=np.float64), y_train)
        predicted = probe.predict(np.asarray(x_test, dtype=np.float64))
        rows.append((method, float(f1_score(y_test, predicted, average="macro")),
                     float(accuracy_score(y_test, predicted)), len(train), len(test)))
    return rows


def write_probe(rows: list[tuple[str, float, float, int, int]], out: str | os.PathLike) -> None:
    with atomic_open(out) as handle:
        handle.write("method\tmacro_f1\taccuracy\tn_train\tn_test\n")
        handle.writelines(f"{m}\t{f:.4f}\t{a:.4f}\t{n}\t{t}\n" for m, f, a, n, t in rows)

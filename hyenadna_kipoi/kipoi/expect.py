"""``test.expect`` of a row of the group: the expected predictions for that row's weights.

``kipoi test HyenaDNA/<model>`` compares the model's predictions on the stored inputs with the
stored predictions when the row names ``test_expect`` (a URL) and ``test_expect_md5`` in
``models.tsv``. kipoi looks for the file, before downloading it, at

    <group>/downloaded/model_files/<model>/test.expect.h5

and takes it when its md5 matches, so the file is placed there (and published at the URL for
users of the git zoo). Inputs are the packaged ``example/regions.bed`` resized to the row's
window on ``example/genome.fa``, one-hot as ``SeqIntervalDl`` gives them (its default arguments:
no strand, upper case); predictions come from :mod:`.predict`, so nothing here imports kipoi.

To regenerate after the weights change (``hyenadna fetch <preset>`` first)::

    hyenadna kipoi-expect tiny-1k/loglik

and copy the printed ``md5``, ``test_expect`` and ``test_expect_md5`` into the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..data import Genome, read_bed
from ..download import file_digest
from ..errors import ConfigError
from ..tokenizer import encode_batch
from . import EXAMPLE_DIR, GROUP_DIR
from .onehot import ids_to_onehot, onehot_to_ids
from .predict import interval_outputs, single_target
from .weights import resolve_model, weights_file

EXPECT_TASKS = ("embedding", "loglik")  # the rows whose inputs are the example regions, one-hot


@dataclass(frozen=True)
class RowExpectation:
    """What :func:`write_row_expectation` wrote."""

    model: str
    path: Path
    md5: str  # of the test.expect file: the row's test_expect_md5
    weights_md5: str  # of the weights file: the row's md5

    def describe(self) -> str:
        return (f"wrote {self.path}\nset in models.tsv, row {self.model}: md5 = {self.weights_md5}, "
                f"test_expect = <the URL the file is published at>, test_expect_md5 = {self.md5}")


def expect_path(model: str, group_dir: Path = GROUP_DIR) -> Path:
    """Where kipoi looks for the row's ``test.expect`` file before downloading it."""
    return group_dir / "downloaded" / "model_files" / model / "test.expect.h5"


def example_onehot(window: int, example_dir: Path = EXAMPLE_DIR) -> np.ndarray:
    """``example/regions.bed`` resized to ``window`` bases as kipoiseq's SeqIntervalDl gives it: [N, window, 4]."""
    genome = Genome(example_dir / "genome.fa")
    seqs = []
    for iv in read_bed(example_dir / "regions.bed"):
        centre = (iv.start + iv.end) // 2  # kipoiseq's resize_interval(anchor="center")
        start = centre - window // 2
        seqs.append(genome.fetch(iv.chrom, start, start + window).upper())
    genome.close()
    return ids_to_onehot(encode_batch(seqs, length=window))


def write_row_expectation(row: dict[str, Any], group_dir: Path = GROUP_DIR) -> RowExpectation:
    """Compute and place the ``test.expect`` file of one ``models.tsv`` row (weights from the project cache)."""
    if row["task"] not in EXPECT_TASKS:
        raise ConfigError(f"HyenaDNA/{row['model']}: expectations are written for the tasks {', '.join(EXPECT_TASKS)} "
                          f"(the variant-effect models' inputs come from a VCF), not {row['task']!r}")
    weights = row["weights"] if isinstance(row["weights"], str) else ""
    preset = row["preset"] if isinstance(row["preset"], str) else ""
    net, path = resolve_model(weights, preset, base=group_dir)
    inputs = example_onehot(int(row["window"]), group_dir / "example")
    preds = single_target(interval_outputs(net, onehot_to_ids(inputs)), row["task"])  # as the Kipoi model reads them
    out = expect_path(row["model"], group_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(out, "w") as f:
        f["inputs"] = inputs
        f["preds"] = preds
    return RowExpectation(row["model"], out, file_digest(out, "md5"), file_digest(weights_file(path), "md5"))


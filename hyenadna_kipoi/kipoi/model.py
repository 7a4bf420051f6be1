"""``HyenaDNAModel``: the Kipoi model class of every ``HyenaDNA/...`` model and every export.

One class, five tasks (the ``task`` argument in model.yaml):

``embedding``       inputs ``seq`` one-hot [B, W, 4] (kipoiseq's ``SeqIntervalDl``) -> one array [B, d]
``loglik``          inputs ``seq`` one-hot [B, W, 4] -> one array [B, 1] (nats)
``intervals``       inputs ``seq`` [B, L] token ids -> ``embedding`` [B, d], ``loglik`` [B]
``variant-effect``  inputs ``{ref, alt}`` [B, W] each -> ``llr``, ``llr_fwd``, ``llr_rc`` [B]
``classifier``      inputs ``seq`` [B, L] -> one output [B] per label of the fine-tuned head
                    (class / target probabilities, or regression values)

The arithmetic is in :mod:`hyenadna_kipoi.kipoi.predict` (the project's own scoring code);
this class only loads the weights and dispatches. Sequence inputs may be token ids [B, L] (the
project's ``IntervalDataset``) or one-hot [B, L, 4] (kipoiseq, the zoo's ``DNASeq``) for every task
but ``variant-effect``; one-hot rows are read by :func:`~hyenadna_kipoi.kipoi.onehot.onehot_to_ids`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from kipoi.model import BaseModel

from ..errors import ConfigError, InputError
from .compat import restore_numpy_aliases
from ..heads import HEAD_JSON, HEAD_WEIGHTS, load_head
from .onehot import is_one_hot, onehot_to_ids
from .predict import classifier_outputs, interval_outputs, single_target, variant_outputs
from ..device import resolve_device
from ..fast_path import DTYPES, compute_dtype
from .weights import resolve_model

restore_numpy_aliases()

TASKS = ("embedding", "loglik", "intervals", "variant-effect", "classifier")


def pick_device(name: str) -> str:
    """``auto`` -> ``$HYENADNA_DEVICE``, else ``cuda`` when available, else ``cpu``."""
    return resolve_device(name)


class HyenaDNAModel(BaseModel):
    """A HyenaDNA model for Kipoi.

    Arguments (model.yaml ``args``): ``weights`` (a preset's hub URL, another URL, or a path
    relative to the model yaml: a model directory in any layout or a weights file; see
    :mod:`.weights`), ``preset`` (shapes of a weights file without config.json beside it; the
    preset's own weights when ``weights`` is empty),
    ``md5`` (checked when not empty), ``task`` (see the module docstring), ``device``
    (``auto``, ``cpu``, ``cuda``, ``cuda:1`` ...), ``batch_size`` (sequences per forward pass),
    ``dtype`` (``float32``, the default and exact; ``bfloat16``: the backbone's projections and MLP in
    bf16 as with ``hyenadna embed --dtype bfloat16``, the residual stream, log-softmax and heads in fp32).
    """

    def __init__(self, weights: str = "", preset: str = "", md5: str = "", task: str = "intervals",
                 device: str = "auto", batch_size: int = 8, dtype: str = "float32"):
        if task not in TASKS:
            raise ConfigError(f"unknown task {task!r} in the Kipoi model arguments; choose one of {', '.join(TASKS)}")
        if dtype not in DTYPES:
            raise ConfigError(f"unknown dtype {dtype!r} in the Kipoi model arguments; choose one of "
                              f"{', '.join(DTYPES)} (float32 is exact)")
        self.task = task
        self.dtype = dtype
        self.batch_size = int(batch_size)
        self.device = pick_device(device)
        # kipoi builds the model inside the folder of its model.yaml: relative paths start there
        companions = (HEAD_JSON, HEAD_WEIGHTS) if task == "classifier" else ()
        self.net, self.weights_path = resolve_model(weights, preset, md5, base=Path.cwd(), device=self.device,
                                                    companions=companions)
        self.head = None
        if task == "classifier":
            if not self.weights_path.is_dir():
                raise ConfigError(f"{self.weights_path}: a classifier needs its model directory (with head.json)")
            self.head = load_head(self.weights_path, self.net.config.d_model).to(self.device)

    def predict_on_batch(self, x: Any) -> np.ndarray | dict[str, np.ndarray]:
        """``x``: one-hot ``[B, L, 4]`` or token ids ``[B, L]``; ``{"ref": [B, W], "alt": [B, W]}`` for ``variant-effect``.

        Returns ``[B, d]`` (embedding), ``[B, 1]`` (loglik), ``{"embedding": [B, d], "loglik": [B]}``
        (intervals), ``{"llr", "llr_fwd", "llr_rc"}`` ([B] each, NaN for unscored alleles) or one
        ``[B]`` probability per class label (classifier). Runs inside ``fast_path.compute_dtype(dtype)``.
        """
        with compute_dtype(self.dtype):
            return self._predict(x)

    def _predict(self, x: Any) -> np.ndarray | dict[str, np.ndarray]:
        if self.task == "variant-effect":
            if not isinstance(x, dict) or not {"ref", "alt"} <= set(x):
                raise InputError("the variant-effect model takes inputs {'ref', 'alt'} (use the VariantDataset "
                                 "dataloader)")
            return variant_outputs(self.net, x["ref"], x["alt"], batch_size=self.batch_size)
        if isinstance(x, dict):
            raise InputError(f"the {self.task} model takes one array (one-hot DNA or token ids), got inputs {sorted(x)}")
        ids = onehot_to_ids(x) if is_one_hot(x) else x
        if self.task == "classifier":
            return classifier_outputs(self.net, self.head, ids, batch_size=self.batch_size)
        outputs = interval_outputs(self.net, ids, batch_size=self.batch_size)
        return outputs if self.task == "intervals" else single_target(outputs, self.task)

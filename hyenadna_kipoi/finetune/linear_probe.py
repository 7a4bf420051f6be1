"""``train.method: linear_probe``: the head fitted in closed form on the frozen backbone's pooled embeddings.

The pooled embeddings [N, d] of the training split (pooling as ``model.pooling``, sequences run in
equal-length groups without padding, as at test time) are standardised and fitted by an L2
multinomial logistic regression (scikit-learn, lbfgs) for each C of ``train.probe_c``; the C with
the best validation metric is kept. The standardisation is folded into the linear head,
``W' = W / sigma``, ``b' = b - W' mu``, so the saved model is an ordinary fine-tuned model
(``hyenadna predict``, Kipoi) whose logits equal the regression's decision function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import ConfigError

if TYPE_CHECKING:
    from .trainer import _Run


def check_probe(run: _Run) -> None:
    """Raise ConfigError unless the run can be a linear probe (a classification head, no soft prompt)."""
    if run.kind != "classification":
        raise ConfigError(f"train.method linear_probe fits a logistic regression: it needs a classification task; "
                          f"task {run.task.name!r} is {run.kind}")
    if run.head.linear is None or run.head.soft_prompt is not None:
        raise ConfigError("train.method linear_probe fits the linear head: set soft_prompt.length 0")


def pooled_embeddings(run: _Run, split: str, progress: bool) -> np.ndarray:
    """[N, d] float64 pooled last hidden states of one split (eval mode, no padding)."""
    from ..score.embeddings import embed_sequences

    data = run.task.splits[split]
    if len(data) == 0:
        return np.zeros((0, run.model.config.d_model))
    run.model.eval()
    emb = embed_sequences(run.model, data.sequences, pooling=run.head.pooling, names=data.ids,
                          batch_size=run.train_cfg["micro_batch_size"], progress=progress)
    return np.asarray(emb, dtype=np.float64)


def fit_linear_probe(run: _Run, progress: bool = False) -> dict[str, float]:
    """Fit the head of ``run`` as a linear probe; returns ``{"C": chosen, "valid_<metric>": value}``."""
    from sklearn.linear_model import LogisticRegression

    from .evaluate import compute_metrics

    check_probe(run)
    train, valid = run.task.splits["train"], run.task.splits["valid"]
    n_classes = len(run.labels)
    if len(set(np.asarray(train.targets).tolist())) < n_classes:
        raise ConfigError(f"train.method linear_probe: the training split of task {run.task.name!r} lacks a class "
                          f"(it has {sorted(set(np.asarray(train.targets).tolist()))} of {n_classes})")
    x_train = pooled_embeddings(run, "train", progress)
    x_valid = pooled_embeddings(run, "valid", progress)
    mu = x_train.mean(axis=0)
    sigma = x_train.std(axis=0)
    sigma = np.where(sigma > 0, sigma, 1.0)
    z_train, z_valid = (x_train - mu) / sigma, (x_valid - mu) / sigma
    metric = run.metric if run.metric != "loss" else "mcc"
    best: tuple[float, float, np.ndarray, np.ndarray] | None = None
    for c in run.train_cfg["probe_c"]:
        fit = LogisticRegression(C=c, max_iter=5000).fit(z_train, np.asarray(train.targets))
        weight, bias = _as_head(fit.coef_, fit.intercept_, n_classes)
        if len(valid) == 0:
            best = (float("nan"), c, weight, bias)
            break
        logits = z_valid @ weight.T + bias
        scores = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
        value = float(compute_metrics(run.kind, valid.targets, scores, run.labels).get(metric, float("nan")))
        if best is None or (not np.isnan(value) and (np.isnan(best[0]) or value > best[0])):
            best = (value, c, weight, bias)
    value, c, weight, bias = best
    head_weight = weight / sigma[None, :]
    head_bias = bias - head_weight @ mu
    with torch.no_grad():
        run.head.linear.weight.copy_(torch.as_tensor(head_weight, dtype=torch.float32))
        run.head.linear.bias.copy_(torch.as_tensor(head_bias, dtype=torch.float32))
    return {"C": c, f"valid_{metric}": value}


def _as_head(coef: np.ndarray, intercept: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """[C, d] weights and [C] biases whose softmax is the regression's probabilities (a binary fit has one row:
    class 0 gets zeros)."""
    if n_classes == 2 and coef.shape[0] == 1:
        return np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    return coef, intercept

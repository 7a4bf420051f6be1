"""Task heads of fine-tuned models: what ``head.json`` + ``head.safetensors`` hold and compute.

A fine-tuned model directory holds, besides ``config.json`` + ``model.safetensors``::

    head.json         {"task": "classification" | "multilabel" | "regression",
                       "labels": [...],            class names (classification) or target names
                       "pooling": "mean" | "last",
                       "label_mode": "head" | "token",   (optional, default head)
                       "prompt_length": k}               (optional, default 0)
    head.safetensors  weight [C, d_model], bias [C]   (label_mode head: a linear layer on the pooled
                                                       last hidden states)
                      prompt [k, d_model]              (k > 0: soft-prompt embeddings prepended to the input)

Outputs ([B, C] float32): classification -> softmax over the C labels; multilabel -> a sigmoid
per target; regression -> the linear values. ``label_mode: token`` (classification, C <= 4):
class c is the nucleotide ``"ACGT"[c]`` predicted at the last position by the LM head, and the
probabilities are the softmax over those C logits.

Pooling: ``mean`` averages the real (unmasked) positions, ``last`` takes the last real position
(position -1 under left padding). The trainer, ``hyenadna predict`` and the Kipoi layer all
compute outputs through :meth:`Head.predict`.

Two pieces are shared with fine-tuning and in-context learning, which build on this module:
:func:`prompted_hidden` (a model run with soft-prompt embeddings before the input) and
:func:`label_token_logits` (classes read as the next nucleotide, ``label_mode: token`` and ICL).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config_schema import json_object
from .errors import CheckpointError, ConfigError, InputError
from .io import atomic_open, atomic_path
from .tokenizer import A, C, G, PAD, T

if TYPE_CHECKING:
    from .model import HyenaDNA

HEAD_JSON = "head.json"
HEAD_WEIGHTS = "head.safetensors"
TASKS = ("classification", "multilabel", "regression")
POOLINGS = ("mean", "last")
LABEL_MODES = ("head", "token")
LABEL_TOKENS = (A, C, G, T)  # label_mode token and ICL: class c <-> nucleotide "ACGT"[c]


def label_token_ids(n_classes: int) -> list[int]:
    """Vocabulary ids of the label nucleotides of ``n_classes`` classes: A, C, G, T[:C]."""
    if not 1 <= n_classes <= len(LABEL_TOKENS):
        raise ConfigError(f"label-as-nucleotide needs 1 to 4 classes (A, C, G, T), got {n_classes}")
    return list(LABEL_TOKENS[:n_classes])


def label_token_logits(last: torch.Tensor, lm_head: torch.Tensor, n_classes: int) -> torch.Tensor:
    """LM-head logits of the label nucleotides: hidden states [B, d] at the last position -> [B, C] float32.

    ``lm_head``: the model's LM-head weight [V, d]. Class c is "the next nucleotide is
    ACGT[c]"; softmax over these C logits gives the class probabilities. Differentiable.
    """
    rows = lm_head[label_token_ids(n_classes)].float().to(last.device)
    return last.float() @ rows.T


def prompted_hidden(model: HyenaDNA, prompt: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """Hidden states of the input positions with ``prompt`` [k, d] run first: [B, L] -> [B, L, d].

    HyenaDNA is causal and has no attention mask, so [PAD] tokens between the prompt and a
    sequence would change its hidden states: each row of a left-padded batch runs as
    ``[prompt ; its real tokens]`` (pads stripped, rows grouped by pad count), and its pad
    positions come back as zeros. A row's result does not depend on its batch. Gradients
    reach the prompt (and the model where it requires them).
    """
    _check_prompt_fits(model, prompt, input_ids)
    B, L = input_ids.shape
    k = prompt.shape[0]
    n_pad = (input_ids != PAD).int().argmax(dim=1)  # leading pads (left padding); an all-pad row -> 0
    n_pad = torch.where((input_ids == PAD).all(dim=1), torch.full_like(n_pad, L), n_pad)
    counts = torch.unique(n_pad).tolist()
    if counts == [0]:  # no padding: one run
        return model.embed(input_ids, prefix=prompt)[:, k:]
    out: torch.Tensor | None = None
    for p in counts:
        rows = torch.nonzero(n_pad == p).squeeze(1)
        if p == L:
            continue  # nothing real in these rows
        h = model.embed(input_ids[rows, p:], prefix=prompt)[:, k:]
        if out is None:
            out = h.new_zeros(B, L, h.shape[-1])
        out = out.index_put((rows,), torch.cat([h.new_zeros(len(rows), p, h.shape[-1]), h], dim=1))
    if out is None:
        raise InputError("every row of the batch is [PAD]; nothing to run")
    return out


def check_prompt_shape(prompt: torch.Tensor) -> None:
    """Raise :class:`InputError` unless ``prompt`` is [k, d] with k > 0."""
    if prompt.dim() != 2 or prompt.shape[0] == 0:
        raise InputError(f"a soft prompt must be [k, d_model] with k > 0, got shape {tuple(prompt.shape)}")


def _check_prompt_fits(model: HyenaDNA, prompt: torch.Tensor, input_ids: torch.Tensor) -> None:
    check_prompt_shape(prompt)
    if input_ids.dim() != 2:
        raise InputError(f"input_ids must be [batch, length], got shape {tuple(input_ids.shape)}")
    if prompt.shape[1] != model.config.d_model:
        raise InputError(f"soft prompt width {prompt.shape[1]} differs from the model's d_model "
                         f"{model.config.d_model}")
    k = prompt.shape[0]
    total = k + input_ids.shape[1]
    if total > model.l_max:
        raise InputError(
            f"soft prompt of {k} positions + input of {input_ids.shape[1]} tokens = {total} "
            f"positions, more than the model's l_max of {model.l_max}; shorten the prompt "
            f"(soft_prompt.length <= {max(model.l_max - input_ids.shape[1], 0)}) or the sequences"
        )


@dataclass
class Head:
    """A task head: ``weight`` [C, d] + ``bias`` [C] on the pooled hidden states (label_mode head),
    or the LM head's logits of "ACGT"[:C] at the last position (label_mode token); ``prompt``
    [k, d] soft-prompt embeddings prepended to every input, or None.

    The tensors may be trainable parameters: :meth:`logits` is differentiable.
    """

    task: str
    labels: list[str]
    pooling: str = "mean"
    label_mode: str = "head"
    weight: torch.Tensor | None = None
    bias: torch.Tensor | None = None
    prompt: torch.Tensor | None = None

    def __post_init__(self) -> None:
        self.labels = list(self.labels)
        problem = check_description(self.task, self.labels, self.pooling, self.label_mode)
        if problem:
            raise ConfigError(f"head: {problem}")
        if self.label_mode == "head" and (self.weight is None or self.bias is None):
            raise ConfigError("head: label_mode 'head' needs a weight [C, d] and a bias [C]")
        if self.weight is not None and (self.weight.dim() != 2 or self.weight.shape[0] != len(self.labels)
                                        or self.bias is None or tuple(self.bias.shape) != (len(self.labels),)):
            raise ConfigError(f"head: expected weight [{len(self.labels)}, d] and bias [{len(self.labels)}] for "
                              f"{len(self.labels)} labels, got {_shape(self.weight)} and {_shape(self.bias)}")

    @property
    def n_outputs(self) -> int:
        return len(self.labels)

    @property
    def prompt_length(self) -> int:
        return 0 if self.prompt is None else int(self.prompt.shape[0])

    @property
    def columns(self) -> list[str]:
        """Output names: the labels, with bare integers as ``class_<n>``.

        (kipoi reads nested HDF5 keys that look like integers back as list positions.)
        """
        return [f"class_{x}" if x.isdigit() else x for x in self.labels]

    def pool(self, hidden: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Pooled hidden states: [B, L, d] (+ mask [B, L], True at real tokens) -> [B, d] float32.

        ``mean`` averages the masked-in positions; ``last`` takes the last masked-in position
        (position -1 without a mask, which is the last real token under left padding).
        """
        hidden = hidden.float()
        if mask is None:
            return hidden.mean(dim=1) if self.pooling == "mean" else hidden[:, -1]
        mask = mask.to(hidden.device, torch.bool)
        if self.pooling == "mean":
            weights = mask.unsqueeze(-1).float()
            return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)
        positions = torch.arange(hidden.shape[1], device=hidden.device).expand_as(mask)
        last = torch.where(mask, positions, torch.zeros_like(positions)).max(dim=1).values
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]

    def logits(self, hidden: torch.Tensor, mask: torch.Tensor | None = None,
               lm_head: torch.Tensor | None = None) -> torch.Tensor:
        """Pre-activation outputs: [B, L, d] -> [B, C] float32.

        ``lm_head``: the model's LM-head weight [V, d], needed by ``label_mode: token``.
        """
        if self.label_mode == "token":
            if lm_head is None:
                raise ConfigError("head: label_mode 'token' needs the model's LM head")
            last = self.pool(hidden, mask) if self.pooling == "last" else replace(self, pooling="last").pool(hidden, mask)
            return label_token_logits(last, lm_head, self.n_outputs)
        pooled = self.pool(hidden, mask)
        return pooled @ self.weight.float().to(pooled.device).T + self.bias.float().to(pooled.device)

    def activate(self, logits: torch.Tensor) -> torch.Tensor:
        """Outputs of logits [B, C]: softmax (classification), sigmoid (multilabel), identity (regression)."""
        if self.task == "classification":
            return torch.softmax(logits.float(), dim=-1)
        if self.task == "multilabel":
            return torch.sigmoid(logits.float())
        return logits.float()

    def outputs(self, hidden: torch.Tensor, mask: torch.Tensor | None = None,
                lm_head: torch.Tensor | None = None) -> torch.Tensor:
        """Probabilities (classification, multilabel) or values (regression): [B, L, d] -> [B, C] float32."""
        return self.activate(self.logits(hidden, mask, lm_head))

    def hidden(self, model: HyenaDNA, ids: torch.Tensor) -> torch.Tensor:
        """Last hidden states of the input positions [B, L, d] for token ids [B, L] (the prompt prepended when k > 0)."""
        if self.prompt is None:
            return model.embed(ids)
        return prompted_hidden(model, self.prompt.detach().to(ids.device), ids)

    def predict_logits(self, model: HyenaDNA, ids: torch.Tensor) -> torch.Tensor:
        """Logits [B, C] of left-padded token ids [B, L] under ``model`` ([PAD] positions masked out)."""
        mask = ids != PAD
        return self.logits(self.hidden(model, ids), mask, model.lm_head.weight)

    def predict(self, model: HyenaDNA, ids: torch.Tensor) -> torch.Tensor:
        """Outputs [B, C] float32 of left-padded token ids [B, L] under ``model``."""
        return self.activate(self.predict_logits(model, ids))

    def to(self, device: str | torch.device) -> Head:
        """A copy with every tensor on ``device`` (float32)."""
        def move(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.detach().to(device=device, dtype=torch.float32)

        return replace(self, weight=move(self.weight), bias=move(self.bias), prompt=move(self.prompt))

    def describe(self) -> dict[str, object]:
        """The ``head.json`` content."""
        return {"task": self.task, "labels": self.labels, "pooling": self.pooling, "label_mode": self.label_mode,
                "prompt_length": self.prompt_length}


def _shape(t: torch.Tensor | None) -> str:
    return "none" if t is None else str(list(t.shape))


def check_description(task: object, labels: object, pooling: object, label_mode: object) -> str | None:
    """What is wrong with a head description, or None."""
    if task not in TASKS:
        return f"task {task!r} is not one of {', '.join(TASKS)}"
    if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
        return "'labels' must list non-empty names"
    least = 2 if task == "classification" else 1
    if len(labels) < least:
        return f"'labels' must list at least {least} {'class' if least == 2 else 'target'} name(s) for {task}"
    if len(set(labels)) != len(labels) or any("/" in x for x in labels):
        return "labels must be unique and contain no '/' (they name output columns)"
    if pooling not in POOLINGS:
        return f"pooling {pooling!r} is not one of {', '.join(POOLINGS)}"
    if label_mode not in LABEL_MODES:
        return f"label_mode {label_mode!r} is not one of {', '.join(LABEL_MODES)}"
    if label_mode == "token" and (task != "classification" or len(labels) > len(LABEL_TOKENS)):
        return "label_mode 'token' needs a classification task with at most 4 classes (one per nucleotide)"
    return None


def has_head(folder: str | os.PathLike) -> bool:
    return (Path(folder) / HEAD_JSON).exists()


def load_head(folder: str | os.PathLike, d_model: int) -> Head:
    """Read ``head.json`` + ``head.safetensors`` of ``folder``; shapes are checked against ``d_model``."""
    folder = Path(folder)
    meta_path, weights_path = folder / HEAD_JSON, folder / HEAD_WEIGHTS
    try:
        text = meta_path.read_text()
    except OSError as err:
        raise ConfigError(f"{meta_path}: cannot read the head description ({err})") from None
    meta = json_object(text, str(meta_path))
    task, labels = meta.get("task"), meta.get("labels")
    pooling, label_mode = meta.get("pooling", "mean"), meta.get("label_mode", "head")
    k = meta.get("prompt_length", 0)
    problem = check_description(task, labels, pooling, label_mode)
    if problem:
        raise ConfigError(f"{meta_path}: {problem}")
    if not isinstance(k, int) or k < 0:
        raise ConfigError(f"{meta_path}: prompt_length must be a non-negative integer, got {k!r}")
    needs_weights = label_mode == "head" or k > 0
    tensors: dict[str, torch.Tensor] = {}
    if needs_weights:
        if not weights_path.exists():
            raise CheckpointError(f"{weights_path}: missing; a {task} head needs its weights beside head.json")
        try:
            tensors = load_file(weights_path)
        except (SafetensorError, OSError) as err:
            raise CheckpointError(f"{weights_path}: cannot read the safetensors file ({err})") from None
    n = len(labels)
    weight, bias, prompt = tensors.get("weight"), tensors.get("bias"), tensors.get("prompt")
    if label_mode == "head" and (weight is None or bias is None or tuple(weight.shape) != (n, d_model)
                                 or tuple(bias.shape) != (n,)):
        raise CheckpointError(f"{weights_path}: expected weight [{n}, {d_model}] and bias [{n}] "
                              f"for {n} labels and d_model={d_model}")
    if k > 0 and (prompt is None or tuple(prompt.shape) != (k, d_model)):
        raise CheckpointError(f"{weights_path}: expected prompt [{k}, {d_model}] for prompt_length {k} "
                              f"and d_model={d_model}, got {_shape(prompt)}")
    return Head(task, list(labels), pooling, label_mode, weight if label_mode == "head" else None,
                bias if label_mode == "head" else None, prompt if k > 0 else None)


def save_head(head: Head, folder: str | os.PathLike) -> Path:
    """Write ``head.json`` (+ ``head.safetensors`` when the head has tensors) into ``folder``, atomically."""
    folder = Path(folder)
    tensors = {name: t.detach().float().contiguous().cpu()
               for name, t in (("weight", head.weight), ("bias", head.bias), ("prompt", head.prompt)) if t is not None}
    if tensors:
        with atomic_path(folder / HEAD_WEIGHTS) as tmp:
            save_file(tensors, tmp)
    else:
        (folder / HEAD_WEIGHTS).unlink(missing_ok=True)
    with atomic_open(folder / HEAD_JSON) as handle:
        json.dump(head.describe(), handle, indent=2)
        handle.write("\n")
    return folder

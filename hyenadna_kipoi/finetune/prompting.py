"""Soft prompts: k learnable input embeddings placed before every sequence (prompt tuning).

The backbone stays frozen; only the prompt (and, with ``label_mode: head``, a linear head)
is trained. A prompted input is ``[prompt ; sequence]``: k + L positions, so k is bounded
only by the model's l_max (k of tens of thousands is fine for the long-context presets).

The prompted forward pass itself (which never lets padding sit between the prompt and a
sequence) is :func:`hyenadna_kipoi.heads.prompted_hidden`, shared with the loading of
fine-tuned models; this module adds what training needs: a learnable, initialised prompt.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..heads import LABEL_TOKENS, check_prompt_shape, label_token_logits, prompted_hidden
from ..model import HyenaDNA

PROMPT_INITS = ("vocab", "normal")


class SoftPrompt(nn.Module):
    """A learnable prompt ``prompt`` [k, d] run before every input.

    ``init``: ``vocab`` copies the embedding rows of k random nucleotides (A/C/G/T, seeded),
    so the prompt starts as a plausible DNA prefix; ``normal`` draws N(0, 0.02^2).
    ``embedding`` ([vocab, d], the model's token embedding) is needed for ``vocab``.
    """

    def __init__(self, length: int, d_model: int, *, init: str = "normal", embedding: Tensor | None = None,
                 seed: int = 0):
        super().__init__()
        if length <= 0:
            raise ConfigError(f"soft_prompt.length must be a positive integer, got {length}")
        if init not in PROMPT_INITS:
            raise ConfigError(f"soft_prompt.init must be one of {', '.join(PROMPT_INITS)}, got {init!r}")
        gen = torch.Generator().manual_seed(seed)
        if init == "vocab":
            if embedding is None:
                raise ConfigError("soft_prompt.init 'vocab' needs the model's token embedding")
            picks = torch.tensor(LABEL_TOKENS)[torch.randint(len(LABEL_TOKENS), (length,), generator=gen)]
            values = embedding.detach().float().cpu()[picks].clone()
        else:
            values = torch.randn(length, d_model, generator=gen) * 0.02
        if values.shape != (length, d_model):
            raise ConfigError(f"embedding width {values.shape[1]} differs from d_model {d_model}")
        device = embedding.device if embedding is not None else None
        self.prompt = nn.Parameter(values.to(device))

    @classmethod
    def for_model(cls, model: HyenaDNA, length: int, *, init: str = "vocab", seed: int = 0) -> SoftPrompt:
        """A prompt sized for ``model``, on its device (float32, whatever the model's dtype)."""
        emb = model.backbone.embeddings.word_embeddings.weight
        prompt = cls(length, model.config.d_model, init=init, embedding=emb, seed=seed)
        return prompt.to(emb.device)

    @classmethod
    def from_tensor(cls, prompt: Tensor) -> SoftPrompt:
        """A prompt holding a copy of ``prompt`` [k, d] (e.g. read from head.safetensors)."""
        check_prompt_shape(prompt)
        out = cls.__new__(cls)
        nn.Module.__init__(out)  # skip __init__'s random initialisation (k may be tens of thousands)
        out.prompt = nn.Parameter(prompt.detach().clone())
        return out

    @property
    def length(self) -> int:
        return self.prompt.shape[0]

    def hidden(self, model: HyenaDNA, input_ids: Tensor) -> Tensor:
        """Hidden states of the input positions with the prompt run first: [B, L] -> [B, L, d].

        ``input_ids`` may be left-padded (see :func:`~hyenadna_kipoi.heads.prompted_hidden`).
        Gradients reach the prompt (and the model where it requires them).
        """
        return prompted_hidden(model, self.prompt, input_ids)

    def label_token_logits(self, model: HyenaDNA, input_ids: Tensor, n_classes: int) -> Tensor:
        """LM-head logits of the label nucleotides after the last position: [B, L] -> [B, C] float32
        (:func:`~hyenadna_kipoi.heads.label_token_logits` of the prompted hidden states)."""
        return label_token_logits(self.hidden(model, input_ids)[:, -1], model.lm_head.weight, n_classes)

    def forward(self, model: HyenaDNA, input_ids: Tensor) -> Tensor:
        """Same as :meth:`hidden`."""
        return self.hidden(model, input_ids)

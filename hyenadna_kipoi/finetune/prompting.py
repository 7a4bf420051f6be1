"""Soft prompts: k learnable input embeddings placed before every sequence (prompt tuning).

The backbone stays frozen; only the prompt (and, with ``label_mode: head``, a linear head)
is trained. A prompted input is ``[prompt ; sequence]``: k + L positions, so k is bounded
only by the model's l_max (k of tens of thousands is fine for the long-context presets).

Padding: HyenaDNA is causal and has no attention mask, so [PAD] tokens between the prompt
and a sequence would change its hidden states. Prompted runs therefore never see padding:
rows of a left-padded batch are grouped by their number of leading [PAD]s, the pads are
stripped and each group runs unpadded as ``[prompt ; real tokens]``. A sequence's result
does not depend on its batch, and pad positions of the output are zeros.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import ConfigError, InputError
from ..heads import LABEL_TOKENS  # class c is predicted as the next nucleotide "ACGT"[c]
from ..model import HyenaDNA
from ..tokenizer import PAD

PROMPT_INITS = ("vocab", "normal")


def label_token_ids(n_classes: int) -> list[int]:
    """Vocabulary ids of the label nucleotides of ``n_classes`` classes: A, C, G, T[:C]."""
    if not 1 <= n_classes <= len(LABEL_TOKENS):
        raise ConfigError(f"label-as-nucleotide needs 1 to 4 classes (A, C, G, T), got {n_classes}")
    return list(LABEL_TOKENS[:n_classes])


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
        if prompt.dim() != 2 or prompt.shape[0] == 0:
            raise InputError(f"a soft prompt must be [k, d_model] with k > 0, got shape {tuple(prompt.shape)}")
        out = cls.__new__(cls)
        nn.Module.__init__(out)  # skip __init__'s random initialisation (k may be tens of thousands)
        out.prompt = nn.Parameter(prompt.detach().clone())
        return out

    @property
    def length(self) -> int:
        return self.prompt.shape[0]

    def _check_fits(self, model: HyenaDNA, input_ids: Tensor) -> None:
        if input_ids.dim() != 2:
            raise InputError(f"input_ids must be [batch, length], got shape {tuple(input_ids.shape)}")
        if self.prompt.shape[1] != model.config.d_model:
            raise InputError(f"soft prompt width {self.prompt.shape[1]} differs from the model's d_model "
                             f"{model.config.d_model}")
        total = self.length + input_ids.shape[1]
        if total > model.l_max:
            raise InputError(
                f"soft prompt of {self.length} positions + input of {input_ids.shape[1]} tokens = {total} "
                f"positions, more than the model's l_max of {model.l_max}; shorten the prompt "
                f"(soft_prompt.length <= {max(model.l_max - input_ids.shape[1], 0)}) or the sequences"
            )

    def hidden(self, model: HyenaDNA, input_ids: Tensor) -> Tensor:
        """Hidden states of the input positions with the prompt run first: [B, L] -> [B, L, d].

        ``input_ids`` may be left-padded: each row runs as ``[prompt ; its real tokens]``
        (pads stripped, rows grouped by pad count) and its pad positions come back as zeros.
        Gradients reach the prompt (and the model where it requires them).
        """
        self._check_fits(model, input_ids)
        B, L = input_ids.shape
        k = self.length
        n_pad = (input_ids != PAD).int().argmax(dim=1)  # leading pads (left padding); an all-pad row -> 0
        n_pad = torch.where((input_ids == PAD).all(dim=1), torch.full_like(n_pad, L), n_pad)
        counts = torch.unique(n_pad).tolist()
        if counts == [0]:  # no padding: one run
            return model.embed(input_ids, prefix=self.prompt)[:, k:]
        out: Tensor | None = None
        for p in counts:
            rows = torch.nonzero(n_pad == p).squeeze(1)
            if p == L:
                continue  # nothing real in these rows
            h = model.embed(input_ids[rows, p:], prefix=self.prompt)[:, k:]
            if out is None:
                out = h.new_zeros(B, L, h.shape[-1])
            out = out.index_put((rows,), torch.cat([h.new_zeros(len(rows), p, h.shape[-1]), h], dim=1))
        if out is None:
            raise InputError("every row of the batch is [PAD]; nothing to run")
        return out

    def label_token_logits(self, model: HyenaDNA, input_ids: Tensor, n_classes: int) -> Tensor:
        """LM-head logits of the label nucleotides at the last position: [B, L] -> [B, C].

        Class c is "the next nucleotide is ACGT[c]"; softmax over these C logits gives the
        class probabilities. Under left padding position -1 is every row's last real token.
        """
        last = self.hidden(model, input_ids)[:, -1]
        return model.lm_head(last)[:, label_token_ids(n_classes)]

    def forward(self, model: HyenaDNA, input_ids: Tensor) -> Tensor:
        """Same as :meth:`hidden`."""
        return self.hidden(model, input_ids)

"""Weight initialisation of a model trained from scratch, as in the released training code.

GPT-2 style: every ``nn.Linear`` (the implicit-filter MLP included) and the token
embedding ~ N(0, 0.02), linear biases zero; the two projections that write into the
residual stream (``mixer.out_proj``, ``mlp.fc2``) ~ N(0, 0.02 / sqrt(2 * n_layer)).
Convolutions, LayerNorms and the sine frequencies keep their PyTorch defaults. (PyTorch's
own defaults, e.g. N(0, 1) embeddings, start the tied LM head at a loss of ~6 nats.)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..model import HyenaDNA


@torch.no_grad()
def init_weights(model: HyenaDNA, initializer_range: float = 0.02) -> HyenaDNA:
    """Re-initialise ``model`` in place (draws from the global torch RNG) and return it."""
    residual_std = initializer_range / math.sqrt(2 * model.config.n_layer)
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=initializer_range)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=initializer_range)
    for name, param in model.named_parameters():
        if name.endswith(("mixer.out_proj.weight", "mlp.fc2.weight")):
            nn.init.normal_(param, std=residual_std)
    return model

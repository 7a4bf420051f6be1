"""The HyenaDNA backbone and LM head in plain PyTorch: the numerical reference.

Module and parameter names follow the released code so that weights load by name
(``backbone.layers.{i}.mixer.filter_fn.implicit_filter.{j}...``). Everything here
is written for reading; fast paths live in ``hyenadna_kipoi.kernels`` and are
tested against this file.

Shapes: B batch, L tokens, d ``d_model``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from . import fast_path, fast_train
from .errors import ConfigError, InputError
from .tokenizer import PAD, VOCAB_SIZE

if TYPE_CHECKING:
    from .heads import Head


@dataclass
class HyenaConfig:
    """Hyperparameters of a HyenaDNA model (names follow the transformers port)."""

    d_model: int = 128
    n_layer: int = 2
    d_inner: int | None = None  # MLP width, default 4 * d_model
    vocab_size: int = VOCAB_SIZE
    pad_vocab_size_multiple: int = 8
    max_seq_len: int = 1026  # l_max: longest input, in tokens
    hyena_order: int = 2
    filter_order: int = 64  # width of the implicit-filter MLP
    emb_dim: int = 5  # positional features of the implicit filter: t, then (emb_dim-1)/2 cos/sin bands
    short_filter_order: int = 3
    num_inner_mlps: int = 2
    activation_freq: float = 10.0  # initial frequency of the sine activations
    train_freq: bool = True
    use_bias: bool = True  # the long convolution's bias (D) term
    modulate: bool = True
    modulation_shift: float = 0.05  # released inference code; the training code defaults to 0.0
    fast_decay_pct: float = 0.3
    slow_decay_pct: float = 1.5
    modulation_target: float = 1e-2
    embed_dropout: float = 0.1
    resid_dropout: float = 0.0
    hyena_dropout: float = 0.0
    hyena_filter_dropout: float = 0.0
    layer_norm_epsilon: float = 1e-5
    residual_in_fp32: bool = True
    extra: dict[str, Any] = field(default_factory=dict)  # unknown keys, kept for round trips

    def __post_init__(self) -> None:
        if self.d_inner is None:
            self.d_inner = 4 * self.d_model
        for name in ("d_model", "n_layer", "d_inner", "max_seq_len", "filter_order"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"model config key {name!r} must be a positive integer, got {value!r}")
        if self.hyena_order < 2:
            raise ConfigError(f"model config key 'hyena_order' must be >= 2, got {self.hyena_order!r}")
        if self.emb_dim < 3 or self.emb_dim % 2 == 0:
            raise ConfigError(f"model config key 'emb_dim' must be odd and >= 3, got {self.emb_dim!r}")

    @property
    def padded_vocab_size(self) -> int:
        m = self.pad_vocab_size_multiple
        return self.vocab_size + (-self.vocab_size) % m if m > 1 else self.vocab_size

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(out.pop("extra"))
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> HyenaConfig:
        known = {f.name for f in fields(cls)} - {"extra"}
        extra = {k: v for k, v in values.items() if k not in known}
        return cls(**{k: v for k, v in values.items() if k in known}, extra=extra)


class Sin(nn.Module):
    """sin(freq * x); one instance is shared by every sine layer of a filter MLP."""

    def __init__(self, dim: int, w: float = 10.0, train_freq: bool = True):
        super().__init__()
        freq = w * torch.ones(1, dim)
        if train_freq:
            self.freq = nn.Parameter(freq)
        else:
            self.register_buffer("freq", freq)

    def forward(self, x: Tensor) -> Tensor:
        return torch.sin(self.freq * x)


class PositionalEmbedding(nn.Module):
    """Features of each filter position: z [1, l_max, emb_dim] = [t, cos bands, -sin bands], t in [0, 1]."""

    def __init__(self, emb_dim: int, seq_len: int):
        super().__init__()
        t = torch.linspace(0, 1, seq_len)[None, :, None]
        bands = (emb_dim - 1) // 2
        t_rescaled = torch.linspace(0, seq_len - 1, seq_len)[None, :, None]
        w = 2 * math.pi * t_rescaled / seq_len
        f = torch.linspace(1e-4, bands - 1, bands)[None, None]
        z = torch.exp(-1j * f * w)
        self.register_buffer("z", torch.cat([t, z.real, z.imag], dim=-1))
        self.register_buffer("t", t)

    def forward(self, L: int) -> tuple[Tensor, Tensor]:
        return self.z[:, :L], self.t[:, :L]


class ExponentialModulation(nn.Module):
    """Multiplies the filter by exp(-t |delta_c|) + shift: channel c decays at its own rate."""

    def __init__(self, d_model: int, fast_decay_pct: float, slow_decay_pct: float, target: float,
                 modulate: bool, shift: float):
        super().__init__()
        self.modulate = modulate
        self.shift = shift
        max_decay = math.log(target) / fast_decay_pct
        min_decay = math.log(target) / slow_decay_pct
        self.register_buffer("deltas", torch.linspace(min_decay, max_decay, d_model)[None, None])

    def forward(self, t: Tensor, x: Tensor) -> Tensor:
        if not self.modulate:
            return x
        return x * (torch.exp(-t * self.deltas.abs()) + self.shift)


def fft_long_conv(u: Tensor, k: Tensor, D: Tensor) -> Tensor:
    """Causal convolution of each channel with its own filter, plus the bias term D * u.

    u [B, d, L], k [d, L], D [d] -> [B, d, L]. Zero-padded FFT of length 2L, so the
    circular convolution equals the linear one on the first L outputs. Computed in
    float32 whatever the input dtype (torch.fft has no bf16 on CPU).
    """
    L = u.shape[-1]
    n = 2 * L
    k_f = torch.fft.rfft(k.float(), n=n) / n
    u_f = torch.fft.rfft(u.float(), n=n)
    y = torch.fft.irfft(u_f * k_f, n=n, norm="forward")[..., :L]
    return (y + u.float() * D.float().unsqueeze(-1)).to(u.dtype)


class HyenaFilter(nn.Module):
    """Implicit long filter: positional features -> sine MLP -> exponential modulation."""

    def __init__(self, cfg: HyenaConfig, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.randn(channels))  # D, used only when cfg.use_bias
        self.pos_emb = PositionalEmbedding(cfg.emb_dim, cfg.max_seq_len)
        act = Sin(cfg.filter_order, cfg.activation_freq, cfg.train_freq)
        layers: list[nn.Module] = [nn.Linear(cfg.emb_dim, cfg.filter_order), act]
        for _ in range(cfg.num_inner_mlps):
            layers += [nn.Linear(cfg.filter_order, cfg.filter_order), act]
        layers.append(nn.Linear(cfg.filter_order, channels, bias=False))
        self.implicit_filter = nn.Sequential(*layers)
        self.modulation = ExponentialModulation(
            channels, cfg.fast_decay_pct, cfg.slow_decay_pct, cfg.modulation_target, cfg.modulate, cfg.modulation_shift
        )
        self.dropout = nn.Dropout(cfg.hyena_filter_dropout)

    def filter(self, L: int) -> Tensor:
        """The filter for the first L positions: [L, channels]."""
        z, t = self.pos_emb(L)
        return self.modulation(t, self.implicit_filter(z))[0]


class HyenaOperator(nn.Module):
    """Order-N Hyena mixer: in-projection, short causal conv, N-1 gated long convolutions, out-projection.

    With ``fast_train`` set (see ``HyenaDNA.set_fast_training``) and gradients recorded, the
    forward runs ``fast_train.hyena_operator``: the same function with a leaner backward.
    """

    fast_train = False

    def __init__(self, cfg: HyenaConfig):
        super().__init__()
        d, order = cfg.d_model, cfg.hyena_order
        self.d_model, self.order, self.use_bias = d, order, cfg.use_bias
        self.l_max = cfg.max_seq_len
        width = d * (order + 1)
        self.in_proj = nn.Linear(d, width)
        self.out_proj = nn.Linear(d, d)
        k = cfg.short_filter_order
        self.short_filter = nn.Conv1d(width, width, k, padding=k - 1, groups=width)
        self.filter_fn = HyenaFilter(cfg, d * (order - 1))
        self.dropout = nn.Dropout(cfg.hyena_dropout)

    def forward(self, u: Tensor) -> Tensor:
        """u [B, L, d] -> [B, L, d]."""
        if self.fast_train and torch.is_grad_enabled() and fast_train.supports(self):
            return fast_train.hyena_operator(self, u)
        L = u.shape[1]
        uc = self.short_filter(self.in_proj(u).transpose(1, 2))[..., :L]  # causal: keep the first L outputs
        *x, v = uc.split(self.d_model, dim=1)  # each [B, d, L]
        k = self.filter_fn.filter(L).transpose(0, 1).reshape(self.order - 1, self.d_model, L)
        bias = self.filter_fn.bias.reshape(self.order - 1, self.d_model)
        if not self.use_bias:
            bias = torch.zeros_like(bias)
        for o, x_i in enumerate(reversed(x[1:])):
            v = self.dropout(v * x_i)
            v = fft_long_conv(v, k[o], bias[o])
        return self.out_proj((v * x[0]).transpose(1, 2))


class Mlp(nn.Module):
    def __init__(self, d_model: int, d_inner: int):
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_inner)
        self.fc2 = nn.Linear(d_inner, d_model)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class Block(nn.Module):
    """Pre-norm residual block: dropout, add, LayerNorm, mixer; dropout, add, LayerNorm, MLP."""

    def __init__(self, cfg: HyenaConfig, in_dropout: float):
        super().__init__()
        self.residual_in_fp32 = cfg.residual_in_fp32
        self.mixer = HyenaOperator(cfg)
        self.mlp = Mlp(cfg.d_model, cfg.d_inner)
        self.norm1 = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_epsilon)
        self.norm2 = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_epsilon)
        self.drop1 = nn.Dropout(in_dropout)
        self.drop2 = nn.Dropout(cfg.resid_dropout)

    def _add_norm(self, x: Tensor, residual: Tensor | None, drop: nn.Module, norm: nn.LayerNorm) -> tuple[Tensor, Tensor]:
        residual = drop(x) if residual is None else drop(x) + residual
        normed = norm(residual.to(norm.weight.dtype))
        return normed, residual.float() if self.residual_in_fp32 else residual

    def forward(self, hidden: Tensor, residual: Tensor | None) -> tuple[Tensor, Tensor]:
        hidden, residual = self._add_norm(hidden, residual, self.drop1, self.norm1)
        hidden = self.mixer(hidden)
        hidden, residual = self._add_norm(hidden, residual, self.drop2, self.norm2)
        return self.mlp(hidden), residual


class Embeddings(nn.Module):
    def __init__(self, vocab: int, d_model: int):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, d_model)

    def forward(self, input_ids: Tensor) -> Tensor:
        return self.word_embeddings(input_ids)


class Backbone(nn.Module):
    def __init__(self, cfg: HyenaConfig):
        super().__init__()
        self.embeddings = Embeddings(cfg.padded_vocab_size, cfg.d_model)
        self.layers = nn.ModuleList(
            Block(cfg, cfg.embed_dropout if i == 0 else cfg.resid_dropout) for i in range(cfg.n_layer)
        )
        self.drop_f = nn.Dropout(cfg.resid_dropout)
        self.ln_f = nn.LayerNorm(cfg.d_model, eps=cfg.layer_norm_epsilon)
        self.gradient_checkpointing = False

    def embed_inputs(self, input_ids: Tensor, prefix: Tensor | None = None) -> Tensor:
        """Token embeddings [B, L, d]; with ``prefix`` ([k, d] or [B, k, d]) prepended: [B, k + L, d]."""
        emb = self.embeddings(input_ids)
        if prefix is None:
            return emb
        prefix = prefix.to(emb.dtype)
        if prefix.dim() == 2:
            prefix = prefix.unsqueeze(0).expand(emb.shape[0], -1, -1)
        return torch.cat([prefix, emb], dim=1)

    def forward(self, input_ids: Tensor, prefix: Tensor | None = None) -> Tensor:
        """Last hidden states: [B, L] -> [B, L, d], or [B, k + L, d] with a prefix (see ``embed_inputs``)."""
        hidden, residual = self.embed_inputs(input_ids, prefix), None
        for layer in self.layers:
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                hidden, residual = checkpoint(layer, hidden, residual, use_reentrant=False)
            else:
                hidden, residual = layer(hidden, residual)
        residual = self.drop_f(hidden) + residual
        return self.ln_f(residual.to(self.ln_f.weight.dtype))


class HyenaDNA(nn.Module):
    """HyenaDNA language model: backbone + LM head tied to the token embedding.

    ``model(input_ids)`` -> logits [B, L, 16]; ``model.embed(input_ids)`` -> [B, L, d].
    In eval mode without gradients the backbone runs on the fast path (same numbers, less
    memory); set ``model.fast_path = False`` to run the plain reference path.

    ``model.head`` is the task head of a fine-tuned model (:class:`~hyenadna_kipoi.heads.Head`:
    ``head.json`` + ``head.safetensors``), attached by
    :func:`~hyenadna_kipoi.checkpoints.load_model`; None for a language model. The model itself
    never reads it (it is a plain attribute, not a submodule: its tensors are not in
    ``state_dict()``).
    """

    head: Head | None = None

    def __init__(self, config: HyenaConfig):
        super().__init__()
        self.config = config
        self.backbone = Backbone(config)
        self.lm_head = nn.Linear(config.d_model, config.padded_vocab_size, bias=False)
        self.lm_head.weight = self.backbone.embeddings.word_embeddings.weight
        self.fast_path = True  # inference (eval mode, no grad) goes through hyenadna_kipoi.fast_path

    @property
    def l_max(self) -> int:
        return self.config.max_seq_len

    def set_fast_training(self, enabled: bool = True) -> None:
        """Train through ``hyenadna_kipoi.fast_train`` (the Hyena operators' hand-written backward:
        same gradients, less memory and time) instead of recording the plain path; off by default,
        on in the pretraining and fine-tuning trainers unless their config says otherwise."""
        for layer in self.backbone.layers:
            layer.mixer.fast_train = enabled

    def set_gradient_checkpointing(self, enabled: bool = True) -> None:
        """Recompute each block in the backward pass instead of storing its activations."""
        self.backbone.gradient_checkpointing = enabled

    def _check_ids(self, input_ids: Tensor, prefix: Tensor | None = None) -> None:
        if input_ids.dim() != 2:
            raise InputError(f"input_ids must be [batch, length], got shape {tuple(input_ids.shape)}")
        k = 0
        if prefix is not None:
            batch_ok = prefix.dim() == 2 or (prefix.dim() == 3 and prefix.shape[0] == input_ids.shape[0])
            if not batch_ok or prefix.shape[-1] != self.config.d_model:
                raise InputError(f"prefix must be [k, {self.config.d_model}] or [{input_ids.shape[0]}, k, "
                                 f"{self.config.d_model}], got shape {tuple(prefix.shape)}")
            k = prefix.shape[-2]
        if k + input_ids.shape[1] > self.l_max:
            what = f"{k + input_ids.shape[1]} positions ({k} prefix positions + {input_ids.shape[1]} tokens)" if k \
                else f"{input_ids.shape[1]} tokens"
            raise InputError(
                f"input of {what} is longer than this model's l_max of {self.l_max}; "
                f"use a model with a longer context or {'a shorter prefix' if k else 'split the sequence'}"
            )
        if input_ids.numel() and (int(input_ids.min()) < 0 or int(input_ids.max()) >= self.config.padded_vocab_size):
            raise InputError(f"token ids must lie in 0..{self.config.padded_vocab_size - 1}")

    def embed(self, input_ids: Tensor, prefix: Tensor | None = None) -> Tensor:
        """Last hidden states (after the final LayerNorm): [B, L] int -> [B, L, d].

        ``prefix`` (optional, [k, d] shared by the batch or [B, k, d]) is a run of input
        embeddings placed before the tokens' embeddings (a soft prompt); the result then
        covers every position, prefix included: [B, k + L, d], and k + L must fit l_max.
        """
        self._check_ids(input_ids, prefix)
        if self.fast_path and not self.training and not torch.is_grad_enabled():
            if fast_path.supports(self.backbone):
                return fast_path.fast_backbone(self.backbone, input_ids, prefix=prefix)
        return self.backbone(input_ids, prefix)

    def forward(self, input_ids: Tensor, prefix: Tensor | None = None) -> Tensor:
        """Next-token logits: [B, L] int -> [B, L, padded_vocab] ([B, k + L, ...] with a prefix, see
        ``embed``); row t predicts token t+1."""
        return self.lm_head(self.embed(input_ids, prefix))

    def log_likelihood(self, input_ids: Tensor) -> Tensor:
        """log p(x_t | x_<t) for t = 1..L-1, in nats: [B, L] -> [B, L-1] float32.

        Softmax over the whole output row. Entries whose target x_t is [PAD] are 0,
        so a row's sum is the log-likelihood of its real tokens.
        """
        return self.log_likelihood_of_hidden(self.embed(input_ids), input_ids)

    def log_likelihood_of_hidden(self, hidden: Tensor, input_ids: Tensor) -> Tensor:
        """``log_likelihood`` from already computed last hidden states ``hidden`` [B, L, d] of
        ``input_ids`` [B, L] (one forward pass for callers that also need the embeddings)."""
        logp = torch.log_softmax(self.lm_head(hidden)[:, :-1].float(), dim=-1)
        target = input_ids[:, 1:]
        ll = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)
        return ll.masked_fill(target == PAD, 0.0)


def count_parameters(model: nn.Module, *, include_lm_head: bool = False) -> int:
    """Number of distinct trainable parameters (shared tensors once; the tied LM head is the embedding)."""
    seen: set[int] = set()
    total = 0
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen or (name.startswith("lm_head") and not include_lm_head):
            continue
        seen.add(id(p))
        total += p.numel()
    return total

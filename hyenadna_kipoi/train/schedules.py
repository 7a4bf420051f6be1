"""Learning-rate schedule and the sequence-length warmup (stages of doubling length).

Sequence-length warmup (HyenaDNA paper, sec. 3.2 / appendix): train first on short
sequences and double the length stage by stage; the number of sequences per step is
scaled so that tokens per optimizer step stay constant. The learning-rate schedule
runs over optimizer steps regardless of the stages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError


def lr_multiplier(step: int, *, total_steps: int, warmup_steps: int, min_ratio: float) -> float:
    """Factor on the peak lr at optimizer step ``step`` (0-based).

    Linear warmup over ``warmup_steps`` (from 1/warmup to 1), then a half cosine from 1
    down to ``min_ratio`` at ``total_steps``.
    """
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class Stage:
    """Optimizer steps ``[start, end)`` at ``seq_len`` tokens.

    ``global_batch``: sequences per step over all ranks; ``micro_batch``: per rank per
    forward pass; ``accumulation``: micro-batches per rank per step.
    """

    seq_len: int
    start: int
    end: int
    global_batch: int
    micro_batch: int
    accumulation: int

    @property
    def tokens_per_step(self) -> int:
        return self.seq_len * self.global_batch


def _stage_lengths(train: dict[str, Any]) -> list[tuple[int, int | None]]:
    """(seq_len, steps or None for 'the rest') of every stage."""
    warm, final = train["seq_len_warmup"], train["seq_len"]
    if not warm["enabled"]:
        return [(final, None)]
    if warm["stages"]:
        stages = [(s["seq_len"], s.get("steps")) for s in warm["stages"]]
        if stages[-1][0] != final:
            raise ConfigError(f"train.seq_len_warmup.stages must end at train.seq_len ({final}), "
                              f"not {stages[-1][0]}")
        missing = [i for i, (_, steps) in enumerate(stages[:-1]) if steps is None]
        if missing:
            raise ConfigError(f"train.seq_len_warmup.stages[{missing[0]}] needs 'steps' (only the last stage may omit it)")
        return [(length, steps) for length, steps in stages[:-1]] + [(final, None)]
    length, out = warm["start_len"], []
    if length > final:
        raise ConfigError(f"train.seq_len_warmup.start_len ({length}) is longer than train.seq_len ({final})")
    while length < final:
        out.append((length, warm["stage_steps"]))
        length *= 2
    return out + [(final, None)]


def build_stages(train: dict[str, Any], world_size: int = 1) -> list[Stage]:
    """The stages of a run from the ``train`` config section, checked for divisibility.

    At length ``l`` the global batch is ``global_batch_size * seq_len / l`` and the micro
    batch ``micro_batch_size * seq_len / l`` (capped at the per-rank batch), so both
    tokens per step and tokens per forward pass stay those of the final stage.
    """
    final, total = train["seq_len"], train["max_steps"]
    global_final = train["global_batch_size"]
    micro_final = train["micro_batch_size"] or max(1, global_final // world_size)
    stages, start = [], 0
    lengths = _stage_lengths(train)
    for i, (length, steps) in enumerate(lengths):
        if final % length:
            raise ConfigError(f"warmup stage length {length} does not divide train.seq_len {final}: "
                              "tokens per step could not stay constant; use lengths like seq_len / 2**k")
        scale = final // length
        global_batch = global_final * scale
        if global_batch % world_size:
            raise ConfigError(f"the global batch of {global_batch} at length {length} does not split over "
                              f"{world_size} ranks; make train.global_batch_size a multiple of {world_size}")
        per_rank = global_batch // world_size
        micro = min(micro_final * scale, per_rank)
        if per_rank % micro:
            raise ConfigError(f"at length {length} each rank gets {per_rank} sequences per step, not a multiple "
                              f"of the micro batch {micro}; adjust train.micro_batch_size")
        end = total if steps is None else min(total, start + steps)
        if end <= start and steps is None:
            raise ConfigError(f"train.max_steps ({total}) leaves no steps for the final stage at length {length}; "
                              "raise max_steps or shorten the warmup stages")
        if end > start:
            stages.append(Stage(length, start, end, global_batch, micro, per_rank // micro))
        start = end
        if i < len(lengths) - 1 and start >= total:
            raise ConfigError(f"train.max_steps ({total}) ends inside the warmup, before the final stage at "
                              f"length {final}; raise max_steps or shorten the warmup stages")
    return stages


def stage_at(stages: list[Stage], step: int) -> Stage:
    """The stage that optimizer step ``step`` belongs to."""
    for stage in stages:
        if stage.start <= step < stage.end:
            return stage
    return stages[-1]

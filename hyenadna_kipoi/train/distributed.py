"""The process's place in a (possibly) distributed run: rank, world size, device.

``torchrun`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; without them the run is a
single process. The backend is NCCL on GPUs and gloo on CPUs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..device import resolve_device


@dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device: str = "auto") -> DistContext:
    """Join the process group when launched by torchrun and pick this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = torch.device(resolve_device(device))
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return DistContext(rank, world, local, dev)


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


def all_mean(ctx: DistContext, value: torch.Tensor) -> torch.Tensor:
    """Mean of ``value`` over ranks (a no-op for one process)."""
    if ctx.distributed:
        value = value.clone()
        dist.all_reduce(value)
        value /= ctx.world_size
    return value


def all_sum(ctx: DistContext, value: torch.Tensor) -> torch.Tensor:
    if ctx.distributed:
        value = value.clone()
        dist.all_reduce(value)
    return value


def gather_objects(ctx: DistContext, obj):
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank."""
    if not ctx.distributed:
        return [obj]
    out = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_error(ctx: DistContext, message: str | None) -> str | None:
    """Rank 0's error message (or None) on every rank, so all ranks stop together."""
    if not ctx.distributed:
        return message
    box = [message]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def teardown(ctx: DistContext) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()

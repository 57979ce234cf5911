"""torch.distributed set-up for runs started by ``torchrun`` (or one plain process).

One process per device; gloo on CPU, NCCL on CUDA. Rank 0 writes logs and checkpoints. Multi-node
runs use torchrun's rendezvous (``--nnodes``, ``--rdzv-endpoint``); nothing here is home-made.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group torchrun describes in the environment; a no-op otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if rank == 0 and int(os.environ.get("TORCHELASTIC_MAX_RESTARTS", "0")) > 0 and \
            os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True":
        # Restarted workers can read the previous attempt's addresses from the shared store
        # and hang in init_process_group (pytorch/pytorch#135712).
        warnings.warn("torchrun --max-restarts with a shared rendezvous store: set "
                      "TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1 so that restarts do not hang "
                      "(docs/distributed.md)", stacklevel=2)
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return DistInfo(rank, world, local)


def all_reduce_mean(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Average a tensor over ranks (the reference divides by world size, then sums)."""
    if not info.enabled:
        return value
    value = value.detach().clone() / info.world_size
    dist.all_reduce(value)
    return value


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()

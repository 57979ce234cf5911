"""How a method's networks run over the processes of a job: DDP replicas or FSDP2 shards.

``distributed.strategy = "ddp"``: every process holds every weight; the trainable networks are
wrapped in ``DistributedDataParallel``, which all-reduces the gradients in backward.

``distributed.strategy = "fsdp"``: every network (the frozen ones too, e.g. I-JEPA's target
encoder) is sharded with FSDP2 (``torch.distributed.fsdp.fully_shard``): one unit per
transformer block (the modules in a network's ``blocks``) and one for the rest. Parameters
become ``DTensor`` shards, so weights, gradients and the optimizer's moments take 1/world of
the memory, and each block's weights are gathered only around its forward and backward.
``train.precision = "bf16"`` adds FSDP's mixed-precision policy on CUDA (weights gathered
and computed in bf16, gradients reduced in fp32) under the method's bf16 autocast.

Everything else the trainer needs to know about the strategy lives here too: pausing the
gradient reduction between micro-batches, clipping, the non-finite weight check, and a plain
(unsharded) copy of a network for evaluation. One process ignores the strategy: no wrapper.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from jepa_kit.errors import UserError
from jepa_kit.train.distributed import DistInfo


def _local(tensor: torch.Tensor) -> torch.Tensor:
    """The part of a (possibly sharded) tensor this process holds."""
    to_local = getattr(tensor, "to_local", None)
    return to_local() if callable(to_local) else tensor


def _blocks(network: nn.Module) -> list[nn.Module]:
    blocks = getattr(network, "blocks", None)
    return list(blocks) if isinstance(blocks, nn.ModuleList | nn.Sequential) else []


class Parallel:
    """The strategy of one run; ``fsdp`` is True only in a job of several processes."""

    def __init__(self, strategy: str, dist: DistInfo, device: torch.device) -> None:
        self.dist, self.device = dist, device
        self.fsdp = dist.enabled and strategy == "fsdp"
        self._ddp: list[DistributedDataParallel] = []
        self._sharded: list[nn.Module] = []
        self._shadows: dict[int, nn.Module] = {}

    # -- set-up ----------------------------------------------------------------------------
    def shard(self, networks: Mapping[str, nn.Module], *, precision: str,
              reshard_after_forward: bool, keep_plain: tuple[str, ...] = ()) -> None:
        """Shard every network in place (FSDP only; before the optimizer is built).

        ``keep_plain`` names networks of which an unsharded skeleton is kept (on the meta
        device, no memory) so that ``plain_copy`` can evaluate them without collectives."""
        if not self.fsdp:
            return
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        # CPU kernels (layer norm) refuse bf16 weights with the fp32 inputs autocast gives
        # them, so on CPU the weights stay fp32 and autocast alone lowers the matmuls.
        bf16 = precision == "bf16" and self.device.type == "cuda"
        policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16 if bf16 else None,
                                      reduce_dtype=torch.float32)
        for name, network in networks.items():
            if name in keep_plain:
                self._shadows[id(network)] = copy.deepcopy(network).to("meta")
            for block in _blocks(network):
                fully_shard(block, mp_policy=policy, reshard_after_forward=reshard_after_forward)
            fully_shard(network, mp_policy=policy, reshard_after_forward=reshard_after_forward)
            self._sharded.append(network)

    def wrap(self, network: nn.Module) -> nn.Module:
        """A trainable network as the step calls it (DDP wrapper; FSDP: already sharded)."""
        if not self.dist.enabled or self.fsdp:
            return network
        ids = [self.device.index] if self.device.type == "cuda" else None
        # Positional tables are fixed buffers: nothing to broadcast each step.
        wrapped = DistributedDataParallel(network, device_ids=ids, broadcast_buffers=False)
        self._ddp.append(wrapped)
        return wrapped

    # -- the step --------------------------------------------------------------------------
    @contextlib.contextmanager
    def no_grad_sync(self) -> Iterator[None]:
        """Accumulate gradients locally: the micro-batches before the last of a step."""
        with contextlib.ExitStack() as stack:
            for ddp in self._ddp:
                stack.enter_context(ddp.no_sync())
            for network in self._sharded:
                network.set_requires_gradient_sync(False)  # type: ignore[operator]
            try:
                yield
            finally:
                for network in self._sharded:
                    network.set_requires_gradient_sync(True)  # type: ignore[operator]

    @staticmethod
    def clip_grad_norm(params: list[torch.Tensor], max_norm: float) -> torch.Tensor:
        """Clip the global gradient norm; returns the norm before clipping (a plain tensor)."""
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        full = getattr(norm, "full_tensor", None)
        return full() if callable(full) else norm

    def nonfinite_weights(self, network: nn.Module) -> tuple[list[str], int]:
        """Names of the floating-point tensors of ``network`` holding NaN or inf on any
        process, and how many tensors it has; every process gets the same answer."""
        state = network.state_dict()
        names = list(state)
        flags = torch.tensor(
            [bool(v.is_floating_point() and not torch.isfinite(_local(v)).all())
             for v in state.values()], dtype=torch.int32, device=self.device)
        if self.fsdp and len(names):
            torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
        return [n for n, bad in zip(names, flags.tolist(), strict=True) if bad], len(names)

    # -- evaluation ------------------------------------------------------------------------
    def plain_copy(self, network: nn.Module) -> nn.Module:
        """``network`` as an ordinary module holding all its weights, for code that runs it
        a different number of times on each process (sharded feature extraction). Under
        FSDP every process must call this together (the weights are gathered)."""
        if not self.fsdp:
            return network
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_model_state_dict,
        )

        shadow = self._shadows.get(id(network))
        if shadow is None:
            raise RuntimeError("plain_copy of a network that shard() was not told to keep")
        full = get_model_state_dict(network, options=StateDictOptions(full_state_dict=True))
        plain = shadow.to_empty(device=self.device)
        plain.load_state_dict(full)
        return plain.train(network.training)

    def release(self, plain: nn.Module) -> None:
        """Give back the memory of a ``plain_copy``."""
        if self.fsdp:
            plain.to("meta")

    def describe(self) -> dict[str, Any]:
        return {"strategy": "fsdp" if self.fsdp else ("ddp" if self.dist.enabled else "single")}


def checkpoint_activations(networks: Mapping[str, nn.Module], names: Iterable[str]) -> None:
    """Turn on activation checkpointing (``train.activation_checkpointing``) in the ``names``
    networks: each must offer ``set_grad_checkpointing``."""
    for name in names:
        network = networks[name]
        if not hasattr(network, "set_grad_checkpointing"):
            raise UserError(
                f"train.activation_checkpointing: the {name} network "
                f"({type(network).__name__}) has no set_grad_checkpointing(); turn "
                f"the option off or use a component that supports it")
        network.set_grad_checkpointing(True)

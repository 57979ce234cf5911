"""The regularizer interface: one embedding of a step -> a scalar added to the method's loss.

A recipe lists them (``[[regularizers]]``: ``kind``, ``weight``, ``on``); each reads one of the
embeddings its method declares (``Method.embeddings``: I-JEPA's context tokens, LeJEPA's
projections, ...), so a term written once serves every method: I-JEPA + SIGReg, LeJEPA +
VICReg, a plug-in method + a plug-in regularizer. The engine adds ``weight * term`` to the
loss and logs the unweighted term as ``reg_<kind>_<on>``.

Embeddings arrive as (N, D) samples by features, or (V, N, D) for V independent batches (e.g.
the views of a multi-view method), always with their gradient.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from jepa_kit.config import ComponentConfig


class RegularizerConfig(ComponentConfig):
    """Base of regularizer configs: what every ``[[regularizers]]`` entry has."""

    component_kind: ClassVar[str] = "regularizer"

    weight: float = Field(..., ge=0, le=1e6,
                          description="Multiplies the term before it is added to the loss.")
    on: str = Field(..., min_length=1, description="The embedding it reads, one of the "
                    "method's (I-JEPA: context, pooled_context, predictions; V-JEPA: context, "
                    "pooled_context; LeJEPA: projections, pooled); validation lists them.")
    scope: Literal["global", "rank"] = Field(
        "global", description="Under several processes: the statistic of the global batch "
        "(through differentiable collectives, as the papers' code) or of each process's own "
        "share (no communication; noisier, and its strength changes with the process count).")


class Regularizer(nn.Module, ABC):
    """One term. Built as ``cls(config, seed=run seed)``.

    Not for: weighting or logging (the engine multiplies by ``config.weight`` and logs), nor
    choosing the embedding (the recipe's ``on``).
    """

    Config: ClassVar[type[RegularizerConfig]]

    def __init__(self, config: RegularizerConfig, *, seed: int = 0) -> None:
        super().__init__()
        self.config, self.seed = config, seed

    @abstractmethod
    def forward(self, embedding: torch.Tensor, *, step: int) -> torch.Tensor:
        """``embedding`` (N, D) or (V, N, D) -> scalar; ``step`` (1-based) seeds any sampling
        (the same on every rank)."""


def sync_ranks(scope: str) -> bool:
    """Whether a statistic should span processes: ``scope == "global"`` in a process group
    of more than one."""
    import torch.distributed as dist

    return scope == "global" and dist.is_available() and dist.is_initialized() and \
        dist.get_world_size() > 1

"""The projector interface: pooled encoder features -> the space a method's loss lives in."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import nn

from jepa_kit.config import ComponentConfig


class ProjectorConfig(ComponentConfig):
    """Base of projector configs."""

    component_kind: ClassVar[str] = "projector"


class Projector(nn.Module, ABC):
    """Maps (B, D) features to (B, K) embeddings (LeJEPA's, SimCLR's or VICReg's head).

    Built as ``cls(config, in_dim=D)``; ``out_dim`` is K. Not for: pooling tokens (the method
    pools) or normalising for a loss (the loss does).
    """

    Config: ClassVar[type[ProjectorConfig]]

    #: Width K of the embeddings.
    out_dim: int

    @abstractmethod
    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, D) -> (B, K)."""

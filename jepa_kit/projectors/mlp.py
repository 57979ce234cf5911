"""An MLP projector: (Linear -> norm -> ReLU) x (layers - 1) -> Linear.

LeJEPA's ImageNet runs put a 3-layer MLP of width 2048 with BatchNorm on the pooled backbone
features and apply the loss to its output (Balestriero & LeCun 2025, arXiv:2511.08544,
Sec. 5 and the authors' examples). BatchNorm statistics are per process (not synchronised
across ranks), as in those examples.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from jepa_kit.projectors.base import Projector, ProjectorConfig


class MLPProjector(Projector):
    """``forward(features (B, D)) -> (B, out_dim)``."""

    class Config(ProjectorConfig):
        kind: Literal["mlp"] = "mlp"
        hidden_dim: int = Field(
            2048, ge=1, le=65536, description="Width of the hidden layers."
        )
        out_dim: int = Field(
            128, ge=1, le=65536, description="Width K of the embeddings the loss sees."
        )
        num_layers: int = Field(3, ge=1, le=16, description="Linear layers (1: a linear map).")
        norm: Literal["batchnorm", "layernorm", "none"] = Field(
            "batchnorm", description="Normalisation after each hidden Linear."
        )

    def __init__(self, config: Config, *, in_dim: int) -> None:
        super().__init__()
        self.config = config
        self.out_dim = config.out_dim
        layers: list[nn.Module] = []
        width = in_dim
        for _ in range(config.num_layers - 1):
            layers.append(nn.Linear(width, config.hidden_dim))
            if config.norm == "batchnorm":
                layers.append(nn.BatchNorm1d(config.hidden_dim))
            elif config.norm == "layernorm":
                layers.append(nn.LayerNorm(config.hidden_dim))
            layers.append(nn.ReLU(inplace=True))
            width = config.hidden_dim
        layers.append(nn.Linear(width, config.out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)  # type: ignore[no-any-return]

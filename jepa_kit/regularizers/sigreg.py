"""SIGReg as a regularizer: LeJEPA's isotropic-Gaussian test on any method's embedding.

The statistic of ``jepa_kit.ops.sigreg`` (the one LeJEPA's loss uses, pinned to the authors'
package by fixtures): project the embedding onto random unit directions, redrawn each step,
and test each 1-D projection against N(0, 1) with the Epps-Pulley statistic ([0] Sec. 4).
With ``scope = "global"`` the empirical characteristic function is averaged over processes, as
the authors' DDP code does, so the term describes the global batch.

- [0]: LeJEPA, Balestriero & LeCun 2025, arXiv:2511.08544
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from jepa_kit.data.loader import mix_seed
from jepa_kit.ops.sigreg import NUM_POINTS, T_MAX, random_slices, rank_mean, sigreg
from jepa_kit.regularizers.base import Regularizer, RegularizerConfig

# Keeps this stream apart from the masks', the augmentations' and LeJEPA's own slices.
_SLICE_TAG = 0x5E6A


class SIGReg(Regularizer):
    """Sketched isotropic Gaussian regularization of one embedding."""

    class Config(RegularizerConfig):
        kind: Literal["sigreg"] = "sigreg"
        num_slices: int = Field(256, ge=1, le=65536,
                                description="Random 1-D directions tested per step.")
        num_points: int = Field(NUM_POINTS, ge=2, le=257,
                                description="Knots of the Epps-Pulley integral on [0, t_max].")
        t_max: float = Field(T_MAX, gt=0, le=100,
                             description="Upper end of the Epps-Pulley integral.")

    config: Config

    def slices(self, step: int, dim: int, device: torch.device) -> torch.Tensor:
        """(dim, S) unit directions of step ``step``: the same on every rank."""
        generator = torch.Generator().manual_seed(mix_seed(_SLICE_TAG, self.seed, step))
        return random_slices(dim, self.config.num_slices, generator).to(device)

    def forward(self, embedding: torch.Tensor, *, step: int) -> torch.Tensor:
        from jepa_kit.regularizers.base import sync_ranks

        reduce, world = rank_mean() if sync_ranks(self.config.scope) else (None, 1)
        x = embedding.float()
        return sigreg(x, self.slices(step, x.shape[-1], x.device),
                      num_points=self.config.num_points, t_max=self.config.t_max,
                      all_reduce=reduce, world_size=world)

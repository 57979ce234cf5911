"""LeJEPA: multi-view prediction plus SIGReg, with no teacher, no stop-gradient, no masker.

Every view's embedding is pulled toward the mean embedding of the global views of the same
image, and SIGReg pushes the embeddings of each view toward an isotropic Gaussian, which rules
out collapse without an EMA teacher: ``loss = (1 - lambd) * prediction + lambd * SIGReg``
([0], Sec. 5). Embeddings are the projector's output on the average-pooled encoder tokens; all
views go through the one encoder and projector, with gradients everywhere.

- [0]: LeJEPA, Balestriero & LeCun 2025, arXiv:2511.08544
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from jepa_kit.build import build_encoder, build_projector, build_views
from jepa_kit.config import ComponentConfig
from jepa_kit.data.loader import Batch
from jepa_kit.data.seeds import mix_seed
from jepa_kit.methods.base import Method, MethodConfig, StepOutput, autocast, check_networks
from jepa_kit.methods.checks import check_output
from jepa_kit.ops.sigreg import lejepa_loss, random_slices, rank_mean
from jepa_kit.optim.schedules import ScheduleLengths

# Keeps the slice stream apart from the augmentation and mask streams for equal integers.
_SLICE_TAG = 0x51C3


class LeJEPA(Method):
    """Networks: ``encoder`` and ``projector``, both trained."""

    class Config(MethodConfig):
        kind: Literal["lejepa"] = "lejepa"
        lambd: float = Field(
            0.05, ge=0.0, le=1.0,
            description="Weight of SIGReg against the prediction term (paper: 0.05).",
        )
        num_slices: int = Field(
            1024, ge=1, le=65536,
            description="Random 1-D directions SIGReg tests per step (authors' README: 1024).",
        )
        num_points: int = Field(
            17, ge=2, le=257, description="Knots of the Epps-Pulley integral on [0, t_max]."
        )
        t_max: float = Field(3.0, gt=0, description="Upper end of the Epps-Pulley integral.")

    slots: ClassVar[dict[str, str | None]] = {"encoder": "vit", "projector": "mlp",
                                              "views": "multicrop"}
    eval_encoders: ClassVar[dict[str, str]] = {"encoder": "encoder"}
    embeddings: ClassVar[dict[str, str]] = {
        "projections": "the projector's output per view, (V, B, K)",
        "pooled": "the encoder's tokens averaged per view and image, (V, B, D)",
    }

    @classmethod
    def check_sections(cls, sections: Mapping[str, ComponentConfig]) -> None:
        views = sections["views"]
        if getattr(views, "num_global", None) is None:
            raise ValueError(f"views.kind={views.kind!r} has no global views; LeJEPA needs a "
                             f"multi-view component such as views.kind='multicrop'")
        if views.num_global + getattr(views, "num_local", 0) < 2:  # type: ignore[attr-defined]
            raise ValueError("views: LeJEPA needs at least two views (views.num_global + "
                             "views.num_local >= 2)")

    def __init__(self, config: Config, *, sections: Mapping[str, ComponentConfig],
                 img_size: int, lengths: ScheduleLengths, precision: str = "fp32",
                 seed: int = 0) -> None:
        self.check_sections(sections)
        self.config = config
        self.precision = precision
        self.seed = seed
        encoder = build_encoder(sections["encoder"], img_size=img_size)
        projector = build_projector(sections["projector"], in_dim=encoder.embed_dim)
        self.networks = {"encoder": encoder, "projector": projector}
        self.trainable = ("encoder", "projector")
        self.views = build_views(sections["views"], img_size=img_size)
        self.num_global: int = sections["views"].num_global  # type: ignore[attr-defined]
        self.sections = dict(sections)
        self._checked = False
        check_networks(self)

    def slices(self, step: int, dim: int, device: torch.device) -> torch.Tensor:
        """(dim, S) unit directions of batch ``step``: the same on every rank."""
        generator = torch.Generator().manual_seed(mix_seed(_SLICE_TAG, self.seed, step))
        return random_slices(dim, self.config.num_slices, generator).to(device)

    def forward(self, batch: Batch, nets: Mapping[str, nn.Module]) -> StepOutput:
        encoder, projector = nets["encoder"], nets["projector"]
        g, b = self.num_global, len(batch)
        with autocast(batch.images.device.type, self.precision):
            # Views of one size go through the encoder together: globals, then locals.
            global_tokens = encoder(torch.cat(batch.views[:g]))  # (G*B, N, D)
            pooled = [global_tokens.mean(1)]
            if len(batch.views) > g:
                pooled.append(encoder(torch.cat(batch.views[g:])).mean(1))  # (L*B, D)
            emb = projector(torch.cat(pooled))  # (V*B, K), one projector batch as the authors
        if not self._checked:
            self._checked = True
            check_output("encoder", self.sections["encoder"], "forward(global views)",
                         global_tokens, (g * b, None, None))
            check_output("projector", self.sections["projector"], "forward(pooled features)",
                         emb, (len(batch.views) * b, None))
        emb = emb.float().view(len(batch.views), b, -1)  # (V, B, K), view-major
        mean_over_ranks, world = rank_mean()
        total, prediction, reg = lejepa_loss(
            emb[:g], emb, self.slices(batch.step, emb.shape[-1], emb.device), self.config.lambd,
            num_points=self.config.num_points, t_max=self.config.t_max,
            all_reduce=mean_over_ranks, world_size=world,
        )
        metrics = {"prediction": prediction.detach(), "sigreg": reg.detach()}
        embeddings = {"projections": emb, "pooled": torch.cat(pooled).float().view(
            len(batch.views), b, -1)}
        return StepOutput(total, metrics, features=global_tokens[:b].detach(),
                          embeddings=embeddings)

"""A component with a bad output fails at the first step as a user error that names it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
import torch

from jepa_kit.encoders.vit import ViTEncoder
from jepa_kit.losses.feature import L2Loss
from jepa_kit.methods.checks import ComponentOutputError
from jepa_kit.recipe import load_recipe
from jepa_kit.registry import registry
from jepa_kit.train.trainer import train

REPO = Path(__file__).resolve().parents[2]
TINY = ["data.train_size=32", "train.batch_size=8", "train.max_steps=1", "data.num_workers=0"]


class NarrowEncoder(ViTEncoder):
    """Declares the ViT's width but returns half of it."""

    class Config(ViTEncoder.Config):
        kind: Literal["narrow_vit"] = "narrow_vit"  # type: ignore[assignment]

    def forward(self, images: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        out = super().forward(images, keep)
        return out[..., : out.shape[-1] // 2]


class VectorLoss(L2Loss):
    """Forgets to reduce."""

    class Config(L2Loss.Config):
        kind: Literal["vector_l2"] = "vector_l2"  # type: ignore[assignment]

    def forward(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return (predictions - targets).square().mean(dim=(1, 2))


@pytest.fixture
def registered() -> Iterator[None]:
    registry("encoder").register("narrow_vit", NarrowEncoder)
    registry("loss").register("vector_l2", VectorLoss)
    yield
    registry("encoder").unregister("narrow_vit")
    registry("loss").unregister("vector_l2")


def test_wrong_width_names_the_encoder_not_the_predictor(registered: None,
                                                          tmp_path: Path) -> None:
    recipe = load_recipe(REPO / "recipes" / "quickstart.toml",
                         [*TINY, "encoder.kind=narrow_vit", "encoder.size=tiny",
                          "encoder.embed_dim=96", "encoder.depth=1", "encoder.num_heads=3",
                          "encoder.patch_size=4"])
    with pytest.raises(ComponentOutputError, match=r"encoder 'narrow_vit' \(entry point "
                       r"jepa_kit.encoders:narrow_vit = .*NarrowEncoder, from <in-process> -\): "
                       r"forward\(images, context indices\) has shape \(8, \d+, 48\), "
                       r"expected \(8, \d+, 96\)"):
        train(recipe, output_dir=tmp_path, quiet=True)


def test_a_loss_that_is_not_a_scalar_is_named(registered: None, tmp_path: Path) -> None:
    recipe = load_recipe(REPO / "recipes" / "quickstart.toml", [*TINY, "loss.kind=vector_l2"])
    with pytest.raises(ComponentOutputError, match=r"loss 'vector_l2' .*: forward\(predictions, "
                       r"targets\) has shape \(32,\), expected \(\)"):
        train(recipe, output_dir=tmp_path, quiet=True)

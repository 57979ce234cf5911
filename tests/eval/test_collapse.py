"""A collapsing encoder, driven through the real trainer, trips the collapse monitors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
import torch
from pydantic import Field
from torch import nn

from jepa_kit.encoders.base import Encoder, EncoderConfig
from jepa_kit.eval.monitors import image_share
from jepa_kit.recipe import load_recipe
from jepa_kit.registry import register, registry
from jepa_kit.train.trainer import CollapseWarning, train
from tests.eval.helpers import QUICKSTART, TINY_EVAL


class ConstantEncoder(Encoder):
    """Ignores the image: every patch token is the same trainable vector (total collapse)."""

    class Config(EncoderConfig):
        kind: Literal["constant_test"] = "constant_test"
        patch_size: int = Field(4, ge=1, description="Side of one patch, px.")
        embed_dim: int = Field(16, ge=1, description="Token width.")

        def resolved_patch_size(self) -> int:
            return self.patch_size

    def __init__(self, config: Config, *, img_size: int, in_chans: int = 3) -> None:
        super().__init__()
        side = img_size // config.patch_size
        self.grid = (side, side)
        self.embed_dim = config.embed_dim
        self.num_heads = 2
        self.value = nn.Parameter(torch.linspace(-1.0, 1.0, config.embed_dim))

    def forward(self, images: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        n = self.num_patches if keep is None else keep.shape[1]
        return self.value.expand(images.shape[0], n, -1)


@pytest.fixture
def constant_encoder() -> Iterator[str]:
    register("encoder")(ConstantEncoder)
    try:
        yield "constant_test"
    finally:
        registry("encoder").unregister("constant_test")


def test_collapse_warning_reaches_the_user_and_the_log(constant_encoder: str,
                                                       tmp_path: Path) -> None:
    recipe = load_recipe(QUICKSTART, [*TINY_EVAL, f"encoder.kind={constant_encoder}",
                                      "train.max_steps=3"])
    with pytest.warns(CollapseWarning, match="collapsed"):
        train(recipe, output_dir=tmp_path, quiet=True)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    assert all(row["collapse_warnings"] for row in rows)
    assert all(row["target_std"] < 1e-3 and row["rankme"] < 1.5 for row in rows)


def test_image_share_separates_per_image_tokens_from_independent_ones() -> None:
    g = torch.Generator().manual_seed(0)
    per_image = torch.randn(32, 1, 24, generator=g).expand(32, 16, 24)  # one vector per image
    assert image_share(per_image) == pytest.approx(1.0, abs=1e-6)
    independent = torch.randn(32, 16, 24, generator=g)
    assert image_share(independent) == pytest.approx(1 / 16, abs=0.03)
    mixed = per_image + independent  # equal variance from each
    assert 0.4 < image_share(mixed) < 0.65


def test_image_share_is_logged_by_the_trainer(tmp_path: Path) -> None:
    recipe = load_recipe(QUICKSTART, [*TINY_EVAL, "train.max_steps=2"])
    train(recipe, output_dir=tmp_path, quiet=True)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    shares = [row["target_image_share"] for row in rows if "target_image_share" in row]
    assert shares and all(0.0 < s < 1.0 for s in shares)

"""A few training steps with each bundled plugin component, and the versions a run records."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from jepa_kit.recipe import load_recipe
from jepa_kit.rundir.checkpoint import load_checkpoint
from jepa_kit.train.trainer import train
from tests.conftest import REPO

QUICKSTART = REPO / "recipes" / "quickstart.toml"
SMALL = ["train.max_steps=2", "train.batch_size=8", "train.log_every=1", "data.train_size=16",
         "data.num_workers=0"]


@pytest.mark.slow
@pytest.mark.parametrize(("overrides", "distribution"), [
    (["masker.kind=random"], "jepa-kit-maskers"),
    (["masker.kind=block"], "jepa-kit-maskers"),
    (["masker.kind=rasterized"], "jepa-kit-maskers"),
    # The losses run with a plugin masker too, so this test needs no built-in masker.
    (["masker.kind=block", "loss.kind=cosine"], "jepa-kit-losses"),
    (["masker.kind=block", "loss.kind=vicreg_l2"], "jepa-kit-losses"),
], ids=["random", "block", "rasterized", "cosine", "vicreg_l2"])
def test_trains_and_records_the_plugin_version(tmp_path: Path, overrides: list[str],
                                               distribution: str) -> None:
    recipe = load_recipe(QUICKSTART, [*SMALL, *overrides])
    result = train(recipe, output_dir=tmp_path / "run", quiet=True)
    assert result.step == 2 and result.losses and all(math.isfinite(x) for x in result.losses)
    versions = json.loads((tmp_path / "run" / "run.json").read_text())["versions"]
    assert versions[distribution] == "0.1.0"
    assert result.checkpoint is not None
    assert load_checkpoint(result.checkpoint)["versions"][distribution] == "0.1.0"

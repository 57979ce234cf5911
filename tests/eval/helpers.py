"""A tiny pre-training run whose checkpoint the evaluation tests read (seconds on a CPU)."""

from __future__ import annotations

from pathlib import Path

from jepa_kit.recipe import load_recipe
from jepa_kit.train.trainer import train
from tests.conftest import REPO

QUICKSTART = REPO / "recipes" / "quickstart.toml"

#: quickstart shrunk to two steps: one encoder block, 64 train and 32 val images, no workers.
TINY_EVAL = [
    "encoder.depth=1", "predictor.depth=1", "data.train_size=64", "data.val_size=32",
    "data.num_workers=0", "train.batch_size=16", "train.max_steps=2", "train.log_every=1",
    "train.checkpoint_every=2",
]


def make_checkpoint(run_dir: Path, *overrides: str) -> Path:
    """Train the tiny recipe into ``run_dir``; the path of its last checkpoint."""
    result = train(load_recipe(QUICKSTART, [*TINY_EVAL, *overrides]), output_dir=run_dir,
                   quiet=True)
    assert result.checkpoint is not None
    return result.checkpoint

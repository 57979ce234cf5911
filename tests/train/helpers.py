"""Tiny training settings shared by the trainer tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

QUICKSTART = REPO / "recipes" / "quickstart.toml"

#: The quickstart recipe shrunk to seconds: 32 px, 2 blocks, 16 images a batch, every step logged.
TINY = [
    "data.train_size=128", "data.num_workers=0", "encoder.depth=2", "predictor.depth=1",
    "train.batch_size=16", "train.log_every=1", "train.checkpoint_every=3", "train.keep_last=5",
]


def run_cli(*args: str, cwd: Path = REPO, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jepa_kit", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=timeout)


def sets(*overrides: str) -> list[str]:
    out: list[str] = []
    for item in overrides:
        out += ["--set", item]
    return out

"""Tiny sweep settings and an in-process CLI runner (no interpreter start-up per call)."""

from __future__ import annotations

import pytest

from jepa_kit.cli.app import main
from tests.train.helpers import QUICKSTART, sets

__all__ = ["QUICKSTART", "SMALL", "cli", "sets"]

#: The quickstart recipe shrunk to 4 steps a run: 32 images, batches of 16, 2 epochs,
#: 1-block encoder and predictor, every step logged, a checkpoint every 2 steps.
SMALL = [
    "data.train_size=32", "data.val_size=32", "data.num_workers=0", "encoder.depth=1",
    "predictor.depth=1", "train.batch_size=16", "train.epochs=2", "train.log_every=1",
    "train.checkpoint_every=2", "train.keep_last=5", "optim.warmup_epochs=0",
]


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``jepa-kit ARGS`` in this process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    else:  # pragma: no cover - main always exits
        code = 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err

"""``eval finetune`` under torchrun: two gloo processes share every batch and the val set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.eval.helpers import make_checkpoint

pytestmark = pytest.mark.slow


def test_two_process_finetuning_splits_batches_and_val(tmp_path: Path) -> None:
    checkpoint = make_checkpoint(tmp_path / "run")
    out = tmp_path / "ft"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "jepa_kit", "eval", "finetune", str(checkpoint), "--epochs", "1",
         "--batch-size", "8", "--lr", "2e-3", "--warmup-epochs", "0", "--num-workers", "0",
         "--device", "cpu", "-o", str(out), "-q"],
        cwd=REPO, env=env, text=True, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("fine-tuning:") == 1  # rank 0 reports
    result = json.loads((out / "finetune.json").read_text())
    s = result["settings"]
    # 64 train images: 32 per rank, 4 steps of 8 per rank, a global batch of 16.
    assert (s["world_size"], s["global_batch"], s["steps_per_epoch"]) == (2, 16, 4)
    assert result["steps_done"] == 4 and result["finished"]
    assert result["metrics"]["num_val"] == 32  # each rank's share of the val set, summed
    assert [p.name for p in (out / "checkpoints").glob("*.pt")] == ["step_00000004.pt"]

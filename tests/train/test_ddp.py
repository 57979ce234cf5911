"""Two CPU processes with gloo: identical weights on both ranks, and resume under DDP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jepa_kit.rundir.metrics import read_metrics
from tests.conftest import REPO
from tests.train.helpers import QUICKSTART, TINY, run_cli, sets

pytestmark = pytest.mark.slow


def test_two_process_ddp_trains_in_sync_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    first = run_cli("run", str(QUICKSTART), *sets(*TINY, "train.max_steps=4"), "-o", str(out),
                    "--nproc", "2", "--quiet")
    assert first.returncode == 0, first.stderr[-3000:]
    info = json.loads((out / "run.json").read_text())
    assert info["world_size"] == 2
    # 128 images, 16 per rank and step: 4 optimizer steps per epoch, each 32 images.
    assert info["iterations_per_epoch"] == 4

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    second = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(REPO / "tests" / "train" / "ddp_worker.py"), str(out), "1", *TINY,
         "train.max_steps=6"],
        cwd=REPO, env=env, text=True, capture_output=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    check = json.loads((out / "ddp_check.json").read_text())
    assert check == {"world_size": 2, "max_weight_diff": 0.0, "step": 6}
    rows = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert all(r["images_per_s"] > 0 for r in rows)

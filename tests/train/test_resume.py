"""Exact resume: an interrupted run continues with bit-identical losses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jepa_kit.checkpoint import list_checkpoints, load_checkpoint
from jepa_kit.rundir.metrics import read_metrics
from tests.conftest import REPO
from tests.train.helpers import QUICKSTART, TINY, run_cli, sets

pytestmark = pytest.mark.slow


def losses(run: Path) -> dict[int, float]:
    return {row["step"]: row["loss"] for row in read_metrics(run / "metrics.jsonl")}


def test_stop_and_resume_gives_identical_losses(tmp_path: Path) -> None:
    a, b = tmp_path / "A", tmp_path / "B"
    full = run_cli("run", str(QUICKSTART), *sets(*TINY, "train.max_steps=12"), "-o", str(a))
    assert full.returncode == 0, full.stderr
    half = run_cli("run", str(QUICKSTART), *sets(*TINY, "train.max_steps=6"), "-o", str(b))
    assert half.returncode == 0, half.stderr
    again = run_cli("run", str(QUICKSTART), *sets(*TINY, "train.max_steps=12"), "-o", str(b),
                    "--resume")
    assert again.returncode == 0, again.stderr
    assert "resumed from" in again.stdout
    la, lb = losses(a), losses(b)
    assert sorted(la) == sorted(lb) == list(range(1, 13))
    assert [la[s] for s in range(7, 13)] == [lb[s] for s in range(7, 13)]
    assert la[12] < la[1]
    # Both runs end with the same weights too.
    wa = load_checkpoint(list_checkpoints(a / "checkpoints")[-1])["target_encoder"]
    wb = load_checkpoint(list_checkpoints(b / "checkpoints")[-1])["target_encoder"]
    assert all((wa[k] == wb[k]).all() for k in wa)


def test_sigkill_then_resume_gives_identical_losses(tmp_path: Path) -> None:
    a, b = tmp_path / "A", tmp_path / "B"
    overrides = sets(*TINY, "train.max_steps=12", "train.checkpoint_every=2")
    full = run_cli("run", str(QUICKSTART), *overrides, "-o", str(a))
    assert full.returncode == 0, full.stderr
    proc = subprocess.Popen([sys.executable, "-m", "jepa_kit", "run", str(QUICKSTART),
                             *overrides, "-o", str(b)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        done = [int(p.stem.split("_")[1]) for p in list_checkpoints(b / "checkpoints")]
        if done and max(done) >= 4:
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    again = run_cli("run", str(QUICKSTART), *overrides, "-o", str(b), "--resume")
    assert again.returncode == 0, again.stderr
    la, lb = losses(a), losses(b)
    assert la == lb


def test_corrupt_newest_checkpoint_falls_back_with_warning(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = run_cli("run", str(QUICKSTART), *sets(*TINY, "train.max_steps=6"), "-o", str(out))
    assert first.returncode == 0, first.stderr
    newest = list_checkpoints(out / "checkpoints")[-1]
    newest.write_bytes(newest.read_bytes()[:1000])  # truncated, as by a full disk
    again = run_cli("run", str(QUICKSTART), *sets(*TINY, "train.max_steps=9"), "-o", str(out),
                    "--resume")
    assert again.returncode == 0, again.stderr
    assert "step_00000006.pt: unreadable checkpoint" in again.stderr
    assert "resumed from" in again.stdout and "step_00000003.pt" in again.stdout
    assert sorted(losses(out)) == list(range(1, 10))

"""Nothing lost, nothing silently wrong: the run directory under bad inputs and signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from jepa_kit.checkpoint import list_checkpoints, load_checkpoint
from jepa_kit.rundir.metrics import read_metrics
from tests.sweep.helpers import cli
from tests.train.helpers import QUICKSTART, REPO, TINY, sets

pytestmark = pytest.mark.slow


def run(capsys: pytest.CaptureFixture[str], out: Path, *overrides: str,
        flags: tuple[str, ...] = ()) -> tuple[int, str]:
    code, _, err = cli(capsys, "run", str(QUICKSTART), "-o", str(out), "-q",
                       *sets(*TINY, *overrides), *flags)
    return code, err


def test_resume_with_no_loadable_checkpoint_exits_2_and_changes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, tmp_path, "train.max_steps=6")
    assert code == 0, err
    for path in list_checkpoints(tmp_path / "checkpoints"):
        path.write_bytes(path.read_bytes()[:100])
    metrics = (tmp_path / "metrics.jsonl").read_bytes()
    files = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    code, err = run(capsys, tmp_path, "train.max_steps=7", flags=("--resume",))
    assert code == 2
    assert "step_00000003.pt" in err and "step_00000006.pt" in err and "nothing was changed" in err
    assert (tmp_path / "metrics.jsonl").read_bytes() == metrics
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == files


def test_exploding_weights_are_never_checkpointed(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, tmp_path, "optim.lr=1e6", "optim.start_lr=1e6",
                    "train.max_steps=2", "train.checkpoint_every=1")
    assert code == 1
    assert "non-finite" in err and "last checkpoint was left intact" in err
    for path in list_checkpoints(tmp_path / "checkpoints"):
        state = load_checkpoint(path)
        for name in state["networks"]:
            assert all(torch.isfinite(v).all() for v in state[name].values()
                       if v.is_floating_point())


def test_a_folder_with_other_files_is_refused_unless_allowed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    code, err = run(capsys, tmp_path, "train.max_steps=1")
    assert code == 2 and "is not empty and is not a jepa-kit run (notes.txt)" in err
    assert "--allow-nonempty" in err and not (tmp_path / "metrics.jsonl").exists()
    code, err = run(capsys, tmp_path, "train.max_steps=1", flags=("--allow-nonempty",))
    assert code == 0, err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_users_recipe_is_never_overwritten(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "recipe.toml").write_text("# my recipe\n")
    code, err = run(capsys, tmp_path, "train.max_steps=1", flags=("--allow-nonempty",))
    assert code == 2 and "holds recipe.toml but no jepa-kit run" in err
    assert (tmp_path / "recipe.toml").read_text() == "# my recipe\n"


def test_unwritable_output_fails_before_training(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "checkpoints").write_text("a file where the folder should be")
    code, err = run(capsys, tmp_path, "train.max_steps=1", flags=("--allow-nonempty",))
    assert code == 2 and "checkpoints is not writable" in err
    assert not (tmp_path / "metrics.jsonl").exists()
    target = tmp_path / "file"
    target.write_text("x")
    code, err = run(capsys, target, "train.max_steps=1")
    assert code == 2 and "is a file, not a folder" in err


def test_resume_refuses_changes_that_break_exactness(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, tmp_path, "train.max_steps=3")
    assert code == 0, err
    code, err = run(capsys, tmp_path, "train.max_steps=4", "train.batch_size=8", "run.seed=1",
                    flags=("--resume",))
    assert code == 2
    assert "run.seed: 0 -> 1" in err and "train.batch_size: 16 -> 8" in err
    assert "--allow-changes" in err and "train.max_steps" not in err
    assert len(read_metrics(tmp_path / "metrics.jsonl")) == 3
    code, err = run(capsys, tmp_path, "train.max_steps=4", flags=("--resume",))
    assert code == 0, err  # a longer run is not a change of the computation
    code, err = run(capsys, tmp_path, "train.max_steps=5", "run.seed=1",
                    flags=("--resume", "--allow-changes"))
    assert code == 0, err
    assert read_metrics(tmp_path / "metrics.jsonl")[-1]["step"] == 5


def _start(out: Path, *overrides: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "jepa_kit", "run", str(QUICKSTART), "-o", str(out), "-q",
         *sets(*TINY, *overrides)], cwd=REPO, text=True, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)


def _wait_for_step(out: Path, step: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        rows = read_metrics(out / "metrics.jsonl") if (out / "metrics.jsonl").exists() else []
        if any(r.get("step", 0) >= step for r in rows):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError("the run did not reach step {step}")


def test_a_second_run_into_a_live_run_dir_exits_2(tmp_path: Path) -> None:
    # 100 epochs of 8 steps: still running, however slow the machine, when the second starts.
    first = _start(tmp_path, "train.epochs=100", "train.checkpoint_every=1000")
    try:
        _wait_for_step(tmp_path, 1, first)
        second = subprocess.run(
            [sys.executable, "-m", "jepa_kit", "run", str(QUICKSTART), "-o", str(tmp_path),
             "-q", "--resume", *sets(*TINY, "train.epochs=100", "run.seed=1")],
            cwd=REPO, text=True, capture_output=True, timeout=300)
        assert second.returncode == 2
        assert f"in use by another jepa-kit run (pid {first.pid})" in second.stderr
    finally:
        first.kill()
        first.wait()


def test_sigterm_checkpoints_and_resume_finishes_exactly(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    done = subprocess.run([sys.executable, "-m", "jepa_kit", "run", str(QUICKSTART), "-o",
                           str(plain), "-q", *sets(*TINY, "train.max_steps=16",
                                                   "train.checkpoint_every=1000")],
                          cwd=REPO, text=True, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "stopped"
    proc = _start(out, "train.max_steps=16", "train.checkpoint_every=1000")
    _wait_for_step(out, 2, proc)
    os.kill(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "SIGTERM: stopped after step" in err and "--resume" in err
    saved = list_checkpoints(out / "checkpoints")
    assert len(saved) == 1 and load_checkpoint(saved[0])["step"] < 16
    resumed = subprocess.run([sys.executable, "-m", "jepa_kit", "run", str(QUICKSTART), "-o",
                              str(out), "-q", "--resume",
                              *sets(*TINY, "train.max_steps=16", "train.checkpoint_every=1000")],
                             cwd=REPO, text=True, capture_output=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    losses = [r["loss"] for r in read_metrics(out / "metrics.jsonl") if "loss" in r]
    assert losses == [r["loss"] for r in read_metrics(plain / "metrics.jsonl") if "loss" in r]

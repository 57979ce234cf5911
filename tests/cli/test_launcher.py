"""``run --nproc 2``: signals reach the workers once, no worker outlives the launcher, and the
exit code and message are the workers' own, once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jepa_kit.cli.launch import _summarize, without_nproc
from jepa_kit.rundir.checkpoint import list_checkpoints
from tests.conftest import REPO
from tests.train.helpers import QUICKSTART, TINY, sets
from tests.train.test_signals_workers import tagged, tagged_env, wait_for_step

#: Two ranks, each with a loader worker, long enough to be signalled mid-run.
LONG = (*TINY, "data.num_workers=1", "train.epochs=100", "train.checkpoint_every=1000")


def test_nproc_is_removed_from_the_workers_command_line() -> None:
    assert without_nproc(["run", "r.toml", "--nproc", "2", "-q", "--nproc=3", "--set", "a=1"]) \
        == ["run", "r.toml", "-q", "--set", "a=1"]


def _reports(tmp_path: Path, *reports: tuple[int, int, str, float]) -> Path:
    for rank, code, message, at in reports:
        (tmp_path / f"rank{rank}.json").write_text(json.dumps(
            {"rank": rank, "code": code, "message": message, "time": at}))
    return tmp_path


def test_the_first_failed_rank_gives_the_code_and_each_message_prints_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Rank 1 failed first (a user error); torchrun then stopped rank 0, which failed too.
    reports = _reports(tmp_path, (0, 1, "internal error: peer gone\n", 2.0),
                       (1, 2, "error: data.root missing\n", 1.0))
    assert _summarize(reports, 1, {0: 1, 1: 2}, 2) == 2
    assert capsys.readouterr().err == "error: data.root missing\ninternal error: peer gone\n"
    for path in tmp_path.iterdir():
        path.unlink()
    same = _reports(tmp_path, (0, 2, "error: x\n", 1.0), (1, 2, "error: x\n", 1.1))
    assert _summarize(same, 2, {0: 2, 1: 2}, 2) == 2
    assert capsys.readouterr().err == "error: x\n"


def test_a_rank_that_wrote_no_report_is_described_by_torchrun(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _summarize(tmp_path, 137, {1: 137}, 2) == 137
    assert "rank 1 was killed by SIGKILL" in capsys.readouterr().err
    _reports(tmp_path, (0, 0, "", 1.0), (1, 0, "", 1.0))
    assert _summarize(tmp_path, 143, {}, 2) == 0  # both had finished when the signal came


def _launch(out: Path, env: dict[str, str], *overrides: str) -> subprocess.Popen[str]:
    # A session of its own, as a job or a shell gives it: its group is the launcher's.
    return subprocess.Popen(
        [sys.executable, "-m", "jepa_kit", "run", str(QUICKSTART), "-o", str(out), "-q",
         "--nproc", "2", *sets(*overrides)], cwd=REPO, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _stop(proc: subprocess.Popen[str], tag: str) -> None:
    """Clean up after a failed test: no process of the run may outlive it."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    for pid in tagged(tag):
        os.kill(pid, signal.SIGKILL)



@pytest.mark.slow
@pytest.mark.parametrize("to_group", [False, True], ids=["launcher", "group"])
def test_sigterm_stops_both_ranks_at_a_checkpoint_and_exits_143(tmp_path: Path,
                                                                 to_group: bool) -> None:
    tag, env = tagged_env()
    out = tmp_path / "run"
    proc = _launch(out, env, *LONG)
    try:
        wait_for_step(out, 1, proc)
        assert len(tagged(tag)) == 5  # the launcher, 2 ranks, a loader worker each
        if to_group:
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        # The launcher returns only once every process of the run is gone.
        assert tagged(tag) == []
    finally:
        _stop(proc, tag)
    assert proc.returncode == 143, err
    assert err.count("run stopped: SIGTERM: stopped after step") == 1, err
    assert "Traceback" not in err and "internal error" not in err
    assert len(list_checkpoints(out / "checkpoints")) == 1


@pytest.mark.slow
def test_kill_9_of_the_launchers_group_leaves_no_worker(tmp_path: Path) -> None:
    tag, env = tagged_env()
    out = tmp_path / "run"
    proc = _launch(out, env, *LONG)
    try:
        wait_for_step(out, 1, proc)
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun's workers have sessions of their own
        proc.wait()
        deadline = time.monotonic() + 30
        while tagged(tag) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert tagged(tag) == []
    finally:
        _stop(proc, tag)


@pytest.mark.slow
def test_a_double_ctrl_c_returns_only_after_the_workers(tmp_path: Path) -> None:
    tag, env = tagged_env()
    out = tmp_path / "run"
    proc = _launch(out, env, *LONG)
    try:
        wait_for_step(out, 1, proc)
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert tagged(tag) == []
    finally:
        _stop(proc, tag)
    assert proc.returncode == 130, err
    assert "Traceback" not in err


@pytest.mark.slow
def test_a_user_error_on_the_workers_exits_2_with_one_message(tmp_path: Path) -> None:
    tag, env = tagged_env()
    proc = _launch(tmp_path / "run", env, *TINY, "data.kind=image_folder",
                   f"data.root={tmp_path / 'nowhere'}")
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        _stop(proc, tag)
    assert proc.returncode == 2, err
    assert err.count(f"error: data.root = '{tmp_path / 'nowhere'}' does not exist") == 1, err
    assert "Traceback" not in err and "ChildFailedError" not in err

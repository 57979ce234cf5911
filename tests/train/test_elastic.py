"""torchrun --max-restarts: a worker killed mid-run, the job restarts and resumes from the last
checkpoint (docs/distributed.md, "Restarts"); the SLURM example is the script the docs show.

The command is the one the docs give: ``--resume`` on the first start (no checkpoint yet: a
fresh start) makes every restart continue from the newest checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jepa_kit.rundir.checkpoint import checkpoint_step, list_checkpoints
from jepa_kit.rundir.metrics import read_metrics
from tests.docs.snippets import extract
from tests.train.helpers import QUICKSTART, REPO, TINY, sets

SLURM_EXAMPLE = REPO / "examples" / "slurm" / "ijepa_vith14_in1k.sbatch"

#: 128 images, 16 per rank and step on 2 ranks: 4 steps an epoch, 40 in all, a checkpoint
#: every 5, so the kill lands well before the end.
STEPS, EVERY = 40, 5
SETTINGS = [*TINY, "train.epochs=10", f"train.max_steps={STEPS}",
            f"train.checkpoint_every={EVERY}", "train.keep_last=2"]


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:  # the task exited meanwhile
            pass
    return found


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = _children(todo.pop())
        out += kids
        todo += kids
    return out


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def _workers(agent: int) -> dict[int, int]:
    """rank -> pid of the agent's workers of the first attempt."""
    workers = {}
    for pid in _children(agent):
        env = _environ(pid)
        if env.get("TORCHELASTIC_RESTART_COUNT") == "0" and "RANK" in env:
            workers[int(env["RANK"])] = pid
    return workers


def _log_tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


def _start_and_wait_for_a_checkpoint(cmd: list[str], env: dict[str, str], out: Path,
                                     log: Path) -> tuple[subprocess.Popen[bytes], dict[int, int]]:
    """Start torchrun, wait (90 s at most) for the run's first checkpoint; the agent and its
    workers by rank."""
    with log.open("w") as sink:
        agent = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while not list_checkpoints(out / "checkpoints"):
        if agent.poll() is not None or time.monotonic() > deadline:
            _end(agent)
            pytest.fail(f"no checkpoint (torchrun: {agent.returncode}):\n{_log_tail(log)}")
        time.sleep(0.02)
    workers = _workers(agent.pid)
    assert sorted(workers) == [0, 1], workers
    return agent, workers


def _end(agent: subprocess.Popen[bytes]) -> None:
    """Kill torchrun and every worker (they run in their own sessions)."""
    if agent.poll() is None:
        for pid in [*_descendants(agent.pid), agent.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        agent.wait()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds workers in /proc")
@pytest.mark.parametrize("victim", [0, 1], ids=["rank0", "rank1"])
def test_max_restarts_resumes_from_the_last_checkpoint(tmp_path: Path, victim: int) -> None:
    out, log = tmp_path / "run", tmp_path / "torchrun.log"
    # Restarted gloo workers can read the previous attempt's addresses from the TCP store
    # torchrun shares with them and fail or hang while connecting (pytorch/pytorch#135712);
    # the docs tell users to set this for --max-restarts.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TORCH_DISABLE_SHARE_RDZV_TCP_STORE": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "--max-restarts=1", "-m", "jepa_kit", "run", str(QUICKSTART), "-o", str(out), "-q",
           "--resume", *sets(*SETTINGS)]
    agent, workers = _start_and_wait_for_a_checkpoint(cmd, env, out, log)
    try:
        saved = max(checkpoint_step(p) or 0 for p in list_checkpoints(out / "checkpoints"))
        os.kill(workers[victim], signal.SIGKILL)
        try:
            code = agent.wait(timeout=120)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the restarted job did not finish in 120 s:\n{_log_tail(log)}")
    finally:
        _end(agent)

    assert code == 0, _log_tail(log)
    assert "exitcode: -9" in log.read_text(), "torchrun saw no killed worker"
    finished = json.loads((out / "finished.json").read_text())
    assert finished["step"] == finished["total_steps"] == STEPS
    # The restart continued from a checkpoint at least as new as the one seen before the kill
    # (a newer one may have been written in between), never from scratch.
    resumed = finished["resumed_from_step"]
    assert saved <= resumed < STEPS and resumed % EVERY == 0, (saved, resumed)
    # Rows after the resumed step were rewritten: every step is logged exactly once.
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl")] == list(range(1, STEPS + 1))


def test_the_docs_show_the_slurm_example_as_it_is() -> None:
    """docs/distributed.md shows the script whole; its tests check the commands in it."""
    script = SLURM_EXAMPLE.read_text()
    shown = [b.code for b in extract(REPO / "docs" / "distributed.md")
             if b.code.startswith("#!/bin/bash")]
    assert shown == [script], "copy examples/slurm/ijepa_vith14_in1k.sbatch into the docs again"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_the_slurm_example_is_valid_bash() -> None:
    checked = subprocess.run(["bash", "-n", str(SLURM_EXAMPLE)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds workers in /proc")
def test_a_dead_rank_ends_the_job_in_bounded_time_naming_it(tmp_path: Path) -> None:
    """Without restarts, the rank that dies is reported and the other one does not hang."""
    out, log = tmp_path / "run", tmp_path / "torchrun.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "jepa_kit", "run", str(QUICKSTART), "-o", str(out), "-q", *sets(*SETTINGS)]
    agent, workers = _start_and_wait_for_a_checkpoint(cmd, env, out, log)
    try:
        killed = time.monotonic()
        os.kill(workers[1], signal.SIGKILL)
        try:
            code = agent.wait(timeout=120)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the job hung after rank 1 died:\n{_log_tail(log)}")
        took = time.monotonic() - killed
    finally:
        _end(agent)
    text = log.read_text(errors="replace")
    assert code != 0 and took < 60, (code, took)
    assert "rank      : 1" in text and "exitcode  : -9" in text, _log_tail(log)
    assert list_checkpoints(out / "checkpoints")  # the last good checkpoint is still there

"""Stop signals with DataLoader workers: the workers ignore them, the run stops at a
checkpoint, and the workers still end with the run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
import torch

from jepa_kit.data.workers import WorkerInit
from jepa_kit.rundir.checkpoint import list_checkpoints
from jepa_kit.rundir.metrics import read_metrics
from tests.conftest import REPO
from tests.train.helpers import QUICKSTART, TINY, sets


class _Pids(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 1000

    def __getitem__(self, index: int) -> int:
        time.sleep(0.01)
        return os.getpid()


def test_workers_ignore_stop_signals_from_others_and_their_owners_sigterm_ends_them() -> None:
    loader = torch.utils.data.DataLoader(_Pids(), batch_size=None, num_workers=1,
                                         worker_init_fn=WorkerInit())
    batches = iter(loader)
    worker = next(batches)
    assert worker != os.getpid()
    # Sent by another process (kill(1)), as a scheduler or a terminal would.
    for name in ("TERM", "INT"):
        subprocess.run(["kill", f"-{name}", str(worker)], check=True)
    time.sleep(0.5)
    assert [next(batches) for _ in range(20)] == [worker] * 20
    # The DataLoader's own SIGTERM (Process.terminate) still ends the worker.
    os.kill(worker, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker)
    del batches


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_process_exits_with_its_persistent_workers_still_up() -> None:
    # At exit multiprocessing terminates its daemonic children and waits for them without a
    # timeout: a worker that ignored every SIGTERM would hang this process forever.
    script = textwrap.dedent("""
        import torch
        from jepa_kit.data.workers import WorkerInit
        loader = torch.utils.data.DataLoader(list(range(100)), num_workers=2,
                                             persistent_workers=True,
                                             worker_init_fn=WorkerInit())
        for _ in loader:
            pass
        it = iter(loader)
        next(it)
        print("done", flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, text=True,
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "done\n" and "Traceback" not in done.stderr


def tagged(tag: str) -> list[int]:
    """Processes whose environment carries ``JEPA_KIT_TEST_TAG=tag`` (a run and its
    workers, however they were reparented)."""
    needle = f"JEPA_KIT_TEST_TAG={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0") and \
                        _alive(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def wait_for_step(out: Path, step: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        log = out / "metrics.jsonl"
        if log.exists() and any(r.get("step", 0) >= step for r in read_metrics(log)):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError(f"the run did not reach step {step}")


def tagged_env() -> tuple[str, dict[str, str]]:
    tag = uuid.uuid4().hex
    return tag, {**os.environ, "JEPA_KIT_TEST_TAG": tag, "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_sigterm_to_the_process_group_with_loader_workers_checkpoints(tmp_path: Path) -> None:
    tag, env = tagged_env()
    out = tmp_path / "run"
    # What `timeout -s TERM`, SLURM and a terminal do: the signal reaches the loader workers
    # too, in the middle of a step.
    proc = subprocess.Popen(
        [sys.executable, "-m", "jepa_kit", "run", str(QUICKSTART), "-o", str(out), "-q",
         *sets(*TINY, "data.num_workers=1", "train.epochs=100", "train.checkpoint_every=1000")],
        cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True)
    try:
        wait_for_step(out, 1, proc)
        assert len(tagged(tag)) == 2  # the run and its loader worker
        os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "run stopped: SIGTERM: stopped after step" in err and "internal error" not in err
    assert len(list_checkpoints(out / "checkpoints")) == 1
    assert tagged(tag) == []  # the loader worker ended with the run

"""Training from tar shards through the real trainer: mid-epoch resume reads every sample
exactly once, and two gloo processes read disjoint samples."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jepa_kit.data import stream
from jepa_kit.recipe import load_recipe
from jepa_kit.rundir.metrics import read_metrics
from jepa_kit.train.trainer import train
from tests.conftest import REPO
from tests.data.shard_helpers import shards
from tests.train.helpers import QUICKSTART

pytestmark = pytest.mark.slow

#: Quickstart shrunk to a few seconds, reading the shards in the main process.
TINY = ["data.img_size=32", "data.num_workers=0", "data.streams=2", "encoder.depth=1",
        "predictor.depth=1", "train.batch_size=4", "train.log_every=1", "train.epochs=2",
        "eval.monitors=false", "train.checkpoint_every=100"]


def _recipe(root: Path, *extra: str) -> object:
    return load_recipe(QUICKSTART, ["data.kind=\"webdataset\"", f"data.root=\"{root}\"",
                                    *TINY, *extra])


_DECODED_STREAM = stream.decoded_stream


def _recorded(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The manifest index of every sample the loader hands on, in order."""
    consumed: list[int] = []
    real = _DECODED_STREAM

    def decoded_stream(*args: object, **kwargs: object) -> Iterator[tuple]:
        for item in real(*args, **kwargs):  # type: ignore[arg-type]
            consumed.append(item[0])
            yield item

    monkeypatch.setattr(stream, "decoded_stream", decoded_stream)
    return consumed


def test_mid_epoch_resume_reads_every_sample_exactly_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = shards(tmp_path, broken=1)  # 36 samples, 4 shards: 9 steps of 4 an epoch
    extra = ("data.skip_corrupt=true", "train.max_steps=11")
    whole = _recorded(monkeypatch)
    train(_recipe(root, *extra), output_dir=tmp_path / "A", quiet=True)
    assert len(whole) == 44
    assert sorted(whole[:36]) == list(range(36))
    assert whole[36:] != whole[:8]  # the next epoch has another order

    parts = _recorded(monkeypatch)
    train(_recipe(root, *extra, "train.max_steps=5"), output_dir=tmp_path / "B", quiet=True)
    assert parts == whole[:20]
    train(_recipe(root, *extra), output_dir=tmp_path / "B", resume=True, quiet=True)
    # Stopped after 5 of 9 steps and resumed: nothing repeated, nothing skipped, same order.
    assert parts == whole
    losses = [{r["step"]: r["loss"] for r in read_metrics(run / "metrics.jsonl") if "loss" in r}
              for run in (tmp_path / "A", tmp_path / "B")]
    assert sorted(losses[1]) == list(range(1, 12))
    assert losses[0] == losses[1]
    # The unreadable sample was replaced in both epochs, and listed once.
    listed = (tmp_path / "A" / "skipped_files.txt").read_text().splitlines()
    assert len(listed) == 1 and ".tar:" in listed[0]
    assert (tmp_path / "B" / "skipped_files.txt").read_text().splitlines() == listed


def test_two_processes_read_disjoint_samples(tmp_path: Path) -> None:
    root = shards(tmp_path)
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(REPO / "tests" / "data" / "shard_rank_worker.py"), str(out), str(root), *TINY,
         "train.epochs=1"],
        cwd=REPO, env=env, text=True, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = json.loads((out / "consumed.json").read_text())
    # 4 shards over 2 ranks x 2 streams: 36 samples an epoch, 18 per rank, 4 steps of 4.
    assert [r["len"] for r in ranks] == [36, 36]
    assert [r["step"] for r in ranks] == [4, 4]
    first, second = (r["consumed"] for r in ranks)
    assert len(first) == len(second) == 16
    assert not set(first) & set(second)

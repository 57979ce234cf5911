"""``jepa-kit eval`` under torchrun: every rank extracts its share, rank 0 scores and writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jepa_kit.cli.app import main
from tests.conftest import REPO
from tests.eval.helpers import make_checkpoint

pytestmark = pytest.mark.slow


def test_two_ranks_score_what_one_process_scores(tmp_path: Path) -> None:
    checkpoint = make_checkpoint(tmp_path / "run")
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "knn", str(checkpoint), "--k", "5", "--out", str(one)])
    assert exit_info.value.code in (0, None)
    # Its own baseline cache: both ranks extract the random-init features too (a cache miss).
    env = {**os.environ, "OMP_NUM_THREADS": "1", "XDG_CACHE_HOME": str(tmp_path / "cache2")}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "jepa_kit", "eval", "knn", str(checkpoint), "--k", "5", "--out", str(two),
         "--device", "cpu"],
        cwd=REPO, env=env, text=True, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    single, sharded = json.loads(one.read_text()), json.loads(two.read_text())
    assert single["world_size"] == 1 and sharded["world_size"] == 2
    # Gathered in dataset order: the same 64 + 32 features, the same neighbours.
    assert sharded["metrics"] == single["metrics"]
    assert sharded["baseline"] == single["baseline"] == {
        "metrics": single["baseline"]["metrics"], "cached": False}
    assert done.stdout.count("wrote ") == 1  # rank 0 alone reports

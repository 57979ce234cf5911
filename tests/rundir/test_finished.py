"""finished.json: written when a run ends; a restart that trains nothing keeps the old record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jepa_kit.recipe import load_recipe
from jepa_kit.rundir.finished import FINISHED, clear_finished, read_finished, write_finished
from tests.train.helpers import QUICKSTART, TINY


def test_clear_returns_the_record_it_removed(tmp_path: Path) -> None:
    assert clear_finished(tmp_path) is None
    write_finished(tmp_path, {"step": 4, "wall_s": 12.5})
    assert clear_finished(tmp_path) == {"step": 4, "wall_s": 12.5}
    assert not (tmp_path / FINISHED).exists()


def test_a_restart_that_trained_no_step_writes_the_previous_record(tmp_path: Path) -> None:
    previous = {"step": 4, "total_steps": 4, "epoch": 1, "wall_s": 12.5, "resumed_from_step": 0}
    noop = {"step": 4, "total_steps": 4, "epoch": 1, "wall_s": 0.0, "resumed_from_step": 4}
    write_finished(tmp_path, noop, previous=previous)
    assert read_finished(tmp_path) == previous
    # Steps were trained: the new record replaces the old one.
    more = {"step": 6, "total_steps": 6, "epoch": 1, "wall_s": 3.0, "resumed_from_step": 4}
    write_finished(tmp_path, more, previous=previous)
    assert read_finished(tmp_path) == more
    # No previous record (a folder from an older version): the new one is written.
    write_finished(tmp_path / "b", noop)
    assert read_finished(tmp_path / "b") == noop


@pytest.mark.filterwarnings("ignore:target_updater:UserWarning")  # one step: EMA untrained
def test_resuming_a_finished_run_keeps_its_record(tmp_path: Path) -> None:
    from jepa_kit.train.trainer import train

    recipe = load_recipe(QUICKSTART, [*TINY, "train.max_steps=1", "train.batch_size=4",
                                      "data.train_size=8", "train.device=cpu",
                                      "eval.every_epochs=0", "eval.monitors=false"])
    train(recipe, output_dir=tmp_path / "run", quiet=True)
    record = json.loads((tmp_path / "run" / FINISHED).read_text())
    assert record["step"] == 1 and record["wall_s"] > 0

    result = train(recipe, output_dir=tmp_path / "run", resume=True, quiet=True)
    assert result.step == 1
    assert json.loads((tmp_path / "run" / FINISHED).read_text()) == record

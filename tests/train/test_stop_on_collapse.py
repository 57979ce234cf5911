"""train.stop_on_collapse: a run whose monitors stay collapsed stops, keeps its checkpoint from
before the collapse, says why, and a sweep records it as collapsed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jepa_kit.checkpoint import list_checkpoints
from jepa_kit.recipe import load_recipe
from jepa_kit.rundir.metrics import read_metrics
from jepa_kit.train.trainer import CollapseStopped, train
from tests.train.helpers import QUICKSTART, TINY, run_cli, sets

EVERY_STEP = [*TINY, "train.checkpoint_every=1", "train.keep_last=1"]
#: A RankMe floor no tiny encoder reaches: the monitors report collapse at every log step.
COLLAPSED = ["eval.min_rankme=1000"]


def test_a_collapsed_run_stops_and_keeps_the_checkpoint_from_before(tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(load_recipe(QUICKSTART, [*EVERY_STEP, "train.max_steps=2"]), output_dir=out,
          quiet=True)
    recipe = load_recipe(QUICKSTART, [*EVERY_STEP, *COLLAPSED, "train.max_steps=8",
                                      "train.stop_on_collapse=3"])
    with pytest.warns(UserWarning, match="RankMe"), \
            pytest.raises(CollapseStopped, match=r"collapsed: the monitors reported collapse at "
                          r"3 log steps in a row \(train.stop_on_collapse = 3\), the last at step "
                          r"5: step 5: target features have collapsed: RankMe .*; the newest "
                          r"checkpoint is from step 2, before the collapse"):
        train(recipe, output_dir=out, resume=True, quiet=True)
    assert [p.name for p in list_checkpoints(out / "checkpoints")] == ["step_00000002.pt"]
    rows = read_metrics(out / "metrics.jsonl")
    assert rows[-1]["stopped"] == "collapsed" and rows[-1]["step"] == 5
    assert not (out / "finished.json").exists()


def test_with_the_option_off_collapse_only_warns(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="RankMe"):
        done = train(load_recipe(QUICKSTART, [*EVERY_STEP, *COLLAPSED, "train.max_steps=3"]),
                     output_dir=tmp_path / "off", quiet=True)
    assert done.step == 3  # stop_on_collapse = 0: warnings only


def test_the_cli_exits_1_and_a_sweep_marks_the_run_collapsed(tmp_path: Path) -> None:
    run = run_cli("run", str(QUICKSTART), "-o", str(tmp_path / "cli"), "-q",
                  *sets(*EVERY_STEP, *COLLAPSED, "train.max_steps=4",
                        "train.stop_on_collapse=2"))
    assert run.returncode == 1
    assert "run stopped: collapsed: the monitors reported collapse at 2 log steps" in \
        " ".join(run.stderr.split()) and "Traceback" not in run.stderr
    swept = run_cli("sweep", str(QUICKSTART), "-o", str(tmp_path / "sweep"), "-q",
                    "--grid", "train.stop_on_collapse=0,2",
                    *sets(*EVERY_STEP, *COLLAPSED, "train.max_steps=3"))
    assert swept.returncode == 1, swept.stderr[-2000:]
    manifest = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
    status = {v["name"]: v["status"] for v in manifest["variants"]}
    assert sorted(status.values()) == ["collapsed", "finished"]
    # compare shows how each run ended, from the manifest or, for a lone run, its metrics.
    table = run_cli("compare", str(tmp_path / "sweep"), str(tmp_path / "cli"),
                    "--csv", str(tmp_path / "runs.csv"))
    assert table.returncode == 0, table.stderr[-2000:]
    assert "status" in table.stdout and table.stdout.count("collapsed") == 2, table.stdout
    rows = (tmp_path / "runs.csv").read_text().splitlines()
    assert rows[0].split(",")[:6] == ["variant", "seed", "run_dir", "overrides", "steps",
                                      "status"]
    assert sorted(r.split(",")[5] for r in rows[1:]) == ["collapsed", "collapsed", "finished"]

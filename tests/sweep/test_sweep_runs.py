"""Sweeps that train: variants x seeds, skip finished runs, resume an interrupted one; compare.

Every run is the quickstart recipe shrunk to 4 steps (``SMALL``), trained in this process.
"""

from __future__ import annotations

import csv
import json
import shutil
import statistics
import sys
from pathlib import Path
from typing import Any

import pytest

from jepa_kit.rundir.finished import read_finished
from jepa_kit.rundir.metrics import read_metrics
from jepa_kit.sweep.manifest import read_manifest
from jepa_kit.train.trainer import Trainer
from tests.sweep.helpers import QUICKSTART, SMALL, cli, sets

pytestmark = pytest.mark.slow

RUNS = ["depth-1-seed0", "depth-1-seed1", "depth-2-seed0", "depth-2-seed1"]


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two predictor depths x two seeds, with a kNN evaluation at the end of each epoch."""
    out = tmp_path_factory.mktemp("sweep") / "depth"
    from jepa_kit.cli.app import main

    try:
        main(["sweep", str(QUICKSTART), "--grid", "predictor.depth=1,2", "--seeds", "0,1",
              *sets(*SMALL, "eval.every_epochs=1"), "-o", str(out), "-q"])
    except SystemExit as exc:
        assert exc.code == 0
    return out


def steps(run: Path) -> list[int]:
    return [r["step"] for r in read_metrics(run / "metrics.jsonl") if "loss" in r]


def test_every_variant_and_seed_runs_to_the_end(sweep_dir: Path) -> None:
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == RUNS
    manifest = read_manifest(sweep_dir)
    assert manifest is not None
    entries = {e["name"]: e for e in manifest["variants"]}
    assert list(entries) == RUNS
    assert entries["depth-2-seed1"]["overrides"] == ["predictor.depth=2"]
    assert entries["depth-2-seed1"]["seed"] == 1
    assert all(e["status"] == "finished" and e["run_dir"] == e["name"] for e in entries.values())
    for name in RUNS:
        run = sweep_dir / name
        assert steps(run) == [1, 2, 3, 4]
        finished = read_finished(run)
        assert finished is not None and finished["step"] == finished["total_steps"] == 4
        recipe = (run / "recipe.toml").read_text()
        assert f"seed = {name[-1]}" in recipe and f"depth = {name[6]}" in recipe
    # Seeds change the run; depth changes the model.
    first = [read_metrics(sweep_dir / n / "metrics.jsonl")[0]["loss"] for n in RUNS]
    assert len(set(first)) == 4


def test_compare_table_csv_and_png(sweep_dir: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    csv_path, png = tmp_path / "cmp.csv", tmp_path / "cmp.png"
    code, out, err = cli(capsys, "compare", str(sweep_dir), "--csv", str(csv_path),
                         "--plot", str(png), "--last", "3")
    assert code == 0, err
    assert "depth-1" in out and "depth-2" in out and "predictor.depth=2" in out
    assert "±" in out and "kNN top-1" in out and "RankMe" in out
    rows = list(csv.DictReader(csv_path.open()))
    assert [(r["variant"], r["seed"]) for r in rows] == [
        ("depth-1", "0"), ("depth-1", "1"), ("depth-2", "0"), ("depth-2", "1")]
    for row in rows:
        run = Path(row["run_dir"])
        metrics = read_metrics(run / "metrics.jsonl")
        losses = [m["loss"] for m in metrics if "loss" in m]
        assert float(row["loss"]) == pytest.approx(statistics.fmean(losses[-3:]), abs=1e-12)
        assert float(row["knn_top1"]) == [m for m in metrics if "knn_top1" in m][-1]["knn_top1"]
        ranks = [m["rankme"] for m in metrics if "rankme" in m]
        assert float(row["rankme"]) == pytest.approx(statistics.fmean(ranks[-3:]))
        speeds = [m["images_per_s"] for m in metrics if "images_per_s" in m]
        assert float(row["images_per_s"]) == pytest.approx(statistics.median(speeds))
        assert float(row["wall_s"]) == read_finished(run)["wall_s"]  # type: ignore[index]
        assert row["steps"] == "4"
    # The table's mean over seeds matches the CSV.
    depth2 = [float(r["loss"]) for r in rows if r["variant"] == "depth-2"]
    assert f"{statistics.fmean(depth2):.4f} ± {statistics.stdev(depth2):.4f}" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_compare_run_dirs_diffs_recipes_against_the_first(
        sweep_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "compare", str(sweep_dir / "depth-1-seed0"),
                         str(sweep_dir / "depth-2-seed0"), str(sweep_dir / "depth-2-seed1"),
                         "-m", "loss", "-m", "pred_target_cos")
    assert code == 0, err
    assert "(base)" in out and "predictor.depth=2" in out and "pred_target_cos" in out
    assert "run.seed" not in out and "kNN" not in out


def test_compare_without_matplotlib_says_how_to_get_it(
        sweep_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import raises ImportError
    png = tmp_path / "x.png"
    code, _, err = cli(capsys, "compare", str(sweep_dir), "--plot", str(png))
    assert code == 2
    assert "pip install 'jepa-kit[plot]'" in err and not png.exists()


def test_compare_unknown_metric_and_bad_dir(sweep_dir: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "compare", str(sweep_dir), "-m", "acuracy")
    assert code == 2 and "--metric acuracy" in err and "knn" in err
    code, _, err = cli(capsys, "compare", str(tmp_path))
    assert code == 2 and "neither a run directory" in err


def test_rerun_skips_finished_resumes_interrupted_and_runs_the_rest(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "seeds"
    args = ["sweep", str(QUICKSTART), "--seeds", "0,1,2", *sets(*SMALL), "-o", str(out), "-q"]
    real_step = Trainer._train_step

    def interrupt_seed1_at_step_4(self: Trainer, batch: Any) -> bool:
        if self.out.name == "base-seed1" and self.step == 3:
            raise KeyboardInterrupt  # as Ctrl-C would, after the step-2 checkpoint
        return real_step(self, batch)

    monkeypatch.setattr(Trainer, "_train_step", interrupt_seed1_at_step_4)
    code, _, _ = cli(capsys, *args)
    assert code == 130
    status = {e["name"]: e["status"] for e in read_manifest(out)["variants"]}  # type: ignore[index]
    assert status == {"base-seed0": "finished", "base-seed1": "interrupted",
                      "base-seed2": "pending"}
    assert steps(out / "base-seed1") == [1, 2, 3] and read_finished(out / "base-seed1") is None
    assert not (out / "base-seed2").exists()

    monkeypatch.setattr(Trainer, "_train_step", real_step)
    done = out / "base-seed0"
    before = {p.name: p.stat().st_mtime_ns for p in [*done.rglob("*")] if p.is_file()}
    code, stdout, err = cli(capsys, *args)
    assert code == 0, err
    assert "base-seed0: finished earlier, skipped" in stdout
    assert "base-seed1: resuming" in stdout and "base-seed2: running" in stdout
    assert "1 ran, 1 resumed, 1 skipped" in stdout
    assert {p.name: p.stat().st_mtime_ns for p in done.rglob("*") if p.is_file()} == before
    for name in ("base-seed1", "base-seed2"):
        assert steps(out / name) == [1, 2, 3, 4]
    assert read_finished(out / "base-seed1")["resumed_from_step"] == 2  # type: ignore[index]
    assert read_finished(out / "base-seed2")["resumed_from_step"] == 0  # type: ignore[index]
    manifest = json.loads((out / "sweep.json").read_text())
    assert {e["status"] for e in manifest["variants"]} == {"finished"}
    assert all("error" not in e for e in manifest["variants"])


def test_changed_overrides_in_an_existing_sweep_dir_are_refused(
        sweep_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "sweep", str(QUICKSTART), "--grid", "predictor.depth=1,2",
                       "--seeds", "0,1", *sets(*SMALL), "-o", str(sweep_dir), "-q")
    assert code == 2 and "other shared overrides" in err


def test_eval_json_beside_a_run_fills_knn_and_linear(
        sweep_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    shutil.copytree(sweep_dir / "depth-1-seed0", run)
    for protocol, step, top1 in (("knn", 99, 0.75), ("linear", 4, 0.5)):
        (run / f"eval_{protocol}.json").write_text(json.dumps(
            {"checkpoint_step": step, "metrics": {"top1": top1}}))
    csv_path = tmp_path / "one.csv"
    code, out, err = cli(capsys, "compare", str(run), "--csv", str(csv_path))
    assert code == 0, err
    assert "75.0%" in out and "50.0%" in out and "linear top-1" in out
    [row] = list(csv.DictReader(csv_path.open()))
    assert (float(row["knn_top1"]), float(row["linear_top1"])) == (0.75, 0.5)


def test_runs_of_another_base_recipe_are_refused_before_training(
        sweep_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "edited.toml"
    base.write_text(f'extends = "{QUICKSTART}"\n[optim]\nlr = 0.00123\n')
    before = (sweep_dir / "sweep.json").read_text()
    code, _, err = cli(capsys, "sweep", str(base), "--grid", "predictor.depth=1,2", "--seeds",
                       "0,1", *sets(*SMALL, "eval.every_epochs=1"), "-o", str(sweep_dir))
    assert code == 2
    assert "holds runs of other recipes" in err and "variant 'depth-1-seed0'" in err
    assert "optim.lr=0.00123" in err
    assert (sweep_dir / "sweep.json").read_text() == before

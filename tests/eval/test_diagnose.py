"""``jepa-kit diagnose`` on a healthy, a collapsed and a predictor-less (LeJEPA) checkpoint."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

from jepa_kit.cli.app import main
from jepa_kit.eval.diagnose import ErrorMap, context_distance
from jepa_kit.recipe import load_recipe
from jepa_kit.rundir.checkpoint import load_checkpoint, save_checkpoint
from jepa_kit.train.trainer import train
from tests.conftest import REPO
from tests.eval.helpers import make_checkpoint

SMALL = ["--images", "32", "--views", "4", "--batches", "2", "--batch-size", "16",
         "--device", "cpu"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["diagnose", *args])
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), " ".join((captured.out + captured.err).split())


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quickstart, briefly trained (8 steps of the tiny recipe) with the paper's slow
    teacher: a fast one concentrates the target features' spectrum (RankMe near 1.2 on this
    toy data, docs/evaluation.md) and would not be the healthy reference these bounds want."""
    return make_checkpoint(tmp_path_factory.mktemp("healthy"), "train.max_steps=8",
                           "train.checkpoint_every=8", "target_updater.horizon_fraction=0",
                           "optim.lr=1e-3")


@pytest.fixture(scope="module")
def collapsed(healthy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same checkpoint with both encoders' output norms zeroed: every token, of every
    image, is the norm's bias (a constant encoder)."""
    state = load_checkpoint(healthy)
    for key in ("encoder", "target_encoder"):
        weights = state[key]
        weights["norm.weight"] = torch.zeros_like(weights["norm.weight"])
        weights["norm.bias"] = torch.linspace(-1, 1, weights["norm.bias"].numel())
    path = tmp_path_factory.mktemp("collapsed") / "checkpoints" / healthy.name
    return save_checkpoint(path, {k: v for k, v in state.items()
                                  if k not in ("format", "format_version")})


@pytest.mark.slow
def test_healthy_and_collapsed_checkpoints_are_told_apart(
        healthy: Path, collapsed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reports = {}
    for name, path in (("healthy", healthy), ("collapsed", collapsed)):
        code, text = run(capsys, str(path), *SMALL)
        assert code == 0, text
        assert "RankMe" in text and "LiDAR" in text
        folder = path.parent.parent / "diagnose"
        reports[name] = json.loads((folder / "diagnose.json").read_text())
        assert (folder / "diagnose.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    good, bad = reports["healthy"]["representation"], reports["collapsed"]["representation"]
    assert good["rankme"] > 1.5 and good["lidar"] > 4.0 and good["feature_std"] > 0.01
    assert bad["rankme"] == pytest.approx(1.0, abs=1e-3)
    assert bad["lidar"] == pytest.approx(1.0, abs=1e-3) and bad["feature_std"] < 1e-6
    assert reports["collapsed"]["prediction"]["lidar_target_blocks"] == \
        pytest.approx(1.0, abs=1e-3)
    assert reports["healthy"]["prediction"]["lidar_target_blocks"] > 3.0

    prediction = reports["healthy"]["prediction"]
    assert prediction["applies"] and prediction["batches"] == 2
    emap = prediction["error_map"]
    assert emap["grid"] == [8, 8] and len(emap["mean_error"]) == 8
    assert all(len(row) == 8 for row in emap["mean_error"])
    counts = [c for row in emap["target_count"] for c in row]
    assert sum(counts) == emap["tokens"] > 0
    by_distance = emap["error_vs_distance"]
    assert sum(row["tokens"] for row in by_distance) == emap["tokens"]
    assert by_distance[0]["distance"] >= 1  # targets never overlap the context
    seen = [v for row in emap["mean_error"] for v in row if v is not None]
    total = sum(v * c for v, c in zip((v for row in emap["mean_error"] for v in row), counts,
                                      strict=True) if v is not None)
    assert total / emap["tokens"] == pytest.approx(emap["overall_mean_error"], rel=1e-9)
    assert all(v > 0 and math.isfinite(v) for v in seen)


@pytest.mark.slow
def test_a_method_without_a_predictor_is_told_which_parts_apply(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = load_recipe(REPO / "recipes" / "quickstart_lejepa.toml", [
        "encoder.depth=1", "data.train_size=64", "data.val_size=32", "data.num_workers=0",
        "train.batch_size=16", "train.max_steps=1", "train.checkpoint_every=1",
        "method.num_slices=16"])
    checkpoint = train(recipe, output_dir=tmp_path / "run", quiet=True).checkpoint
    assert checkpoint is not None
    code, text = run(capsys, str(checkpoint), *SMALL, "-o", str(tmp_path / "d"))
    assert code == 0, text
    assert "not applicable: method 'lejepa' returns no predictions" in text
    report = json.loads((tmp_path / "d" / "diagnose.json").read_text())
    assert report["prediction"]["applies"] is False and "error_map" not in report["prediction"]
    assert "no predictor" in report["prediction"]["reason"]
    assert report["which"] == "encoder" and report["representation"]["lidar"] > 1.0
    assert report["png"] == str(tmp_path / "d" / "diagnose.png")


def test_without_matplotlib_the_json_is_written_and_the_user_told(
        healthy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    code, text = run(capsys, str(healthy), *SMALL, "--batches", "1", "-o", str(tmp_path))
    assert code == 0, text
    assert "matplotlib is not installed (pip install 'jepa-kit[plot]')" in text
    report = json.loads((tmp_path / "diagnose.json").read_text())
    assert report["png"] is None and not (tmp_path / "diagnose.png").exists()


def test_context_distance_and_error_map_layout() -> None:
    grid = (4, 4)
    context = torch.tensor([[0, 1]])  # (B=1, Kc=2): the top-left pair
    targets = torch.tensor([[[15, 2]], [[4, 12]]])  # (M=2, B=1, Kt=2)
    distance = context_distance(targets, context, grid)
    torch.testing.assert_close(distance, torch.tensor([[[math.hypot(3, 2), 1.0]],
                                                       [[1.0, 3.0]]]))
    emap = ErrorMap(grid)
    emap.add(torch.tensor([1.0, 3.0, 2.0]), torch.tensor([15, 15, 4]),
             torch.tensor([3.6, 3.6, 1.0]))
    summary = emap.summary()
    assert summary["mean_error"][3][3] == 2.0 and summary["mean_error"][1][0] == 2.0
    assert summary["mean_error"][0][0] is None and summary["target_count"][3][3] == 2
    assert summary["error_vs_distance"] == [
        {"distance": 1, "mean_error": 2.0, "tokens": 1},
        {"distance": 4, "mean_error": 2.0, "tokens": 2}]

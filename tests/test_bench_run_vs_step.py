"""bench_run_vs_step.py and bench_bf16_levers.py plumbing (never their timings)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import pytest
import torch

from tests.conftest import REPO

BENCH = REPO / "benchmarks"


@pytest.fixture
def rvs(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))
    import bench_run_vs_step

    return bench_run_vs_step


def test_the_run_recipe_is_the_benchmarks_model_logged_every_step(rvs: ModuleType,
                                                                  tmp_path: Path) -> None:
    from jepa_kit.recipe import load_recipe

    cfg = rvs.SIZES["tiny"]
    path = rvs.write_toml(rvs.run_recipe(cfg, steps=7), tmp_path / "r.toml")
    recipe = load_recipe(path)
    assert (recipe.encoder.size, recipe.encoder.patch_size, recipe.img_size) == ("tiny", 8, 64)
    assert (recipe.predictor.depth, recipe.predictor.targets) == (6, "per_block")
    assert recipe.masker.mode == "reference"
    assert recipe.train.max_steps == 7 and recipe.train.log_every == 1
    assert recipe.train.checkpoint_every > 7  # no checkpoint inside the timed steps
    assert recipe.data.train_size >= 7 * recipe.train.batch_size


def test_step_rows_and_masks_of_the_logged_lengths(rvs: ModuleType, tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.jsonl"
    rows = [{"step": 1, "step_time_s": 0.5, "context_len": 40, "target_len": 9},
            {"event": "eval", "knn": 0.3}, {"step": 2, "step_time_s": 0.4, "context_len": 38,
                                            "target_len": 10}]
    metrics.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [r["step"] for r in rvs.read_steps(metrics)] == [1, 2]
    masks = rvs.masks_of([(40, 9), (38, 10)], batch=3, grid=64)
    assert [tuple(m.context.shape) for m in masks] == [(3, 40), (3, 38)]
    assert [tuple(m.targets.shape) for m in masks] == [(4, 3, 9), (4, 3, 10)]
    for m in masks:  # distinct, in-range indices per row
        assert all(len(set(r.tolist())) == len(r) for r in m.context)
        assert int(m.targets.max()) < 64 and int(m.context.min()) >= 0


def test_arguments_are_checked(rvs: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    for argv, message in ((["--config", "huge"], "--config: unknown huge"),
                          (["--steps", "3", "--skip", "3"], "--skip 3 leaves no step")):
        with pytest.raises(SystemExit) as exc:
            rvs.main(argv)
        assert exc.value.code == 2 and message in capsys.readouterr().err


def test_inference_mode_target_is_exact_and_usable_by_the_loss(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    from bench_bf16_levers import InferenceModeTarget

    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.GELU()).requires_grad_(False)
    x = torch.randn(2, 4)
    out = InferenceModeTarget(net)(x)
    assert not out.is_inference()  # the loss's backward may save it
    assert torch.equal(out, net(x))
    pred = torch.randn(2, 4, requires_grad=True)
    torch.nn.functional.mse_loss(pred, out).backward()
    assert pred.grad is not None

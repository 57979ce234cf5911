"""The ac_jepa method (frozen and end-to-end), its recipe checks, and ``jepa-kit plan``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from jepa_kit.build import build_dataset, build_method
from jepa_kit.checkpoint import read_checkpoint
from jepa_kit.cli.app import main
from jepa_kit.data.loader import build_loader
from jepa_kit.errors import UserError
from jepa_kit.recipe import RecipeError, load_recipe
from jepa_kit.train.trainer import train
from tests.conftest import REPO

QUICKSTART = REPO / "recipes" / "quickstart_world_model.toml"
TINY = ["encoder.depth=1", "predictor.depth=1", "data.train_size=32", "data.val_size=8",
        "train.batch_size=8", "train.max_steps=2", "train.checkpoint_every=2",
        "train.log_every=1", "planner.samples=16", "planner.elites=4", "planner.iterations=2"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("world_model")
    result = train(load_recipe(QUICKSTART, TINY), output_dir=run, quiet=True)
    assert result.checkpoint is not None
    return result.checkpoint


def first_batch(recipe: object, method: object) -> object:
    data = build_dataset(recipe.data, train=True, seed=0)  # type: ignore[attr-defined]
    loader = build_loader(data, method.views, method.collator(seed=0, rank=0),  # type: ignore[attr-defined]
                          batch_size=4, seed=0, num_workers=0)
    return next(iter(loader))


def test_frozen_encoder_trains_only_the_predictor() -> None:
    recipe = load_recipe(QUICKSTART, TINY)
    method = build_method(recipe)
    assert method.trainable == ("predictor",) and set(method.networks) == {"encoder",
                                                                           "predictor"}
    batch = first_batch(recipe, method)
    frames, actions, states = batch.views
    assert frames.shape == (4, 4, 3, 32, 32) and actions.shape == (4, 3, 2)
    assert states.shape == (4, 4, 2)
    out = method.forward(batch, method.networks)
    out.loss.backward()
    assert all(p.grad is None for p in method.networks["encoder"].parameters())
    assert all(p.grad is not None for p in method.networks["predictor"].parameters())
    torch.testing.assert_close(out.loss, out.metrics["teacher_forcing"] + out.metrics["rollout"])
    assert out.embeddings["frames"].shape == (4, 4, 64)  # (T, B, D)


def test_end_to_end_with_an_ema_teacher() -> None:
    recipe = load_recipe(QUICKSTART, [*TINY, "method.encoder=trained", "method.target=ema"])
    method = build_method(recipe)
    assert method.trainable == ("encoder", "predictor")
    batch = first_batch(recipe, method)
    out = method.forward(batch, method.networks)
    out.loss.backward()
    assert all(p.grad is not None for p in method.networks["encoder"].parameters())
    assert all(p.grad is None for p in method.networks["target_encoder"].parameters())
    online = next(method.networks["encoder"].parameters())
    with torch.no_grad():
        online.add_(1.0)
    before = next(method.networks["target_encoder"].parameters()).clone()
    assert method.after_step(1) == {"momentum": 0.99}
    after = next(method.networks["target_encoder"].parameters())
    torch.testing.assert_close(after, 0.99 * before + 0.01 * online.detach())


def test_recipe_errors_name_their_keys() -> None:
    with pytest.raises(RecipeError, match="method.target='ema' averages a trained encoder"):
        load_recipe(QUICKSTART, [*TINY, "method.target=ema"])
    recipe = load_recipe(QUICKSTART, [*TINY, "method.auto_steps=4"])
    method = build_method(recipe)
    with pytest.raises(UserError, match="method.auto_steps=4 needs clips of more than 4 "
                                        "frames; data.num_frames is 4"):
        method.forward(first_batch(recipe, method), method.networks)
    recipe = load_recipe(QUICKSTART, [*TINY, "predictor.action_dim=7"])
    method = build_method(recipe)
    with pytest.raises(UserError, match="predictor.action_dim=7 but the data's actions have 2"):
        method.forward(first_batch(recipe, method), method.networks)


def test_encoder_from_a_checkpoint(checkpoint: Path) -> None:
    recipe = load_recipe(QUICKSTART, [*TINY, f"method.encoder_checkpoint='{checkpoint}'"])
    method = build_method(recipe)
    saved = read_checkpoint(checkpoint).networks["encoder"]
    for key, value in method.networks["encoder"].state_dict().items():
        assert torch.equal(value, saved[key])
    recipe = load_recipe(QUICKSTART, [*TINY, "method.encoder_checkpoint='/nonexistent.pt'"])
    with pytest.raises(UserError, match="method.encoder_checkpoint='/nonexistent.pt'"):
        build_method(recipe)


def test_plan_reports_the_planner_and_both_baselines(
        checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["plan", str(checkpoint), "--episodes", "2", "--max-steps", "4", "--out",
              str(tmp_path)])
    captured = capsys.readouterr()
    assert exit_info.value.code in (0, None), captured.err
    assert "cem planner" in captured.out and "oracle" in captured.out
    report = json.loads((tmp_path / "plan.json").read_text())
    assert set(report["results"]) == {"planner", "random", "oracle"}
    assert report["results"]["planner"]["episodes"] == 2
    for result in report["results"].values():
        assert 0.0 <= result["success_rate"] <= 1.0 and result["final_distance"] >= 0
        assert result["steps"] <= 4
    assert report["planner"]["samples"] == 16 and report["step"] == 2
    strip = Image.open(tmp_path / "plan.png")
    assert strip.width >= 4 * 64 and strip.height == 64 + 8 + 4 * 64


def test_plan_refuses_a_missing_checkpoint(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["plan", str(tmp_path / "none.pt")])
    assert exit_info.value.code == 2
    assert "none.pt: no such checkpoint file" in capsys.readouterr().err


@pytest.mark.slow
def test_a_scaffolded_planner_plugs_into_plan(
        checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``plugins new --kind planner`` as a third party would run it: the skeleton passes the
    planner check and ``jepa-kit plan`` uses it through ``--set planner.kind``."""
    import importlib

    from jepa_kit.registry import registry
    from jepa_kit.scaffold import new_plugin
    from jepa_kit.testing import check_planner

    name = "shooting_test"
    root = new_plugin(name, "planner", tmp_path / "pkg")[0].parent
    monkeypatch.syspath_prepend(str(root))
    cls = importlib.import_module(f"jepa_kit_{name}.planner").ShootingTestPlanner
    check_planner(cls)
    registry("planner").register(name, cls)
    try:
        with pytest.raises(SystemExit) as exit_info:
            main(["plan", str(checkpoint), "--episodes", "1", "--max-steps", "2",
                  "--no-baselines", "--out", str(tmp_path / "out"), "--set",
                  f"planner.kind={name}", "--set", "planner.iterations=2"])
        captured = capsys.readouterr()
        assert exit_info.value.code in (0, None), captured.err
        report = json.loads((tmp_path / "out" / "plan.json").read_text())
        assert report["planner"]["kind"] == name and set(report["results"]) == {"planner"}
    finally:
        registry("planner").unregister(name)

"""End-to-end runs through the CLI and the trainer: outputs, refusals and the NaN guard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import pytest
import torch

from jepa_kit.losses.base import Loss, LossConfig
from jepa_kit.recipe import load_recipe
from jepa_kit.registry import register, registry
from jepa_kit.rundir.checkpoint import list_checkpoints, load_checkpoint
from jepa_kit.rundir.metrics import read_metrics
from jepa_kit.train.trainer import NonFiniteLossError, train
from tests.train.helpers import QUICKSTART, TINY, run_cli, sets

pytestmark = pytest.mark.slow


def test_quickstart_sized_run_through_cli(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_cli("run", str(QUICKSTART), *sets(*TINY, "train.max_steps=8"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    rows = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, 9))
    for key in ("step", "epoch", "loss", "lr", "wd", "momentum", "context_len", "target_len",
                "images_per_s", "data_wait_s", "step_time_s", "rankme", "target_std"):
        assert key in rows[0], key
    assert rows[-1]["loss"] < rows[0]["loss"]
    assert (out / "recipe.toml").exists()
    assert load_recipe(out / "recipe.toml") == load_recipe(QUICKSTART, [*TINY, "train.max_steps=8"])
    info = json.loads((out / "run.json").read_text())
    assert info["versions"]["jepa-kit"] == info["jepa_kit"]
    ckpts = list_checkpoints(out / "checkpoints")
    assert [p.name for p in ckpts] == ["step_00000003.pt", "step_00000006.pt", "step_00000008.pt"]
    state = load_checkpoint(ckpts[-1])  # weights_only load
    assert state["step"] == 8 and state["recipe"]["train"]["max_steps"] == 8
    assert "jepa-kit" in state["versions"] and state["optimizer"]["state"]


def test_keep_last_prunes_old_checkpoints(tmp_path: Path) -> None:
    recipe = load_recipe(QUICKSTART, [*TINY, "train.max_steps=7", "train.checkpoint_every=1",
                                      "train.keep_last=2"])
    train(recipe, output_dir=tmp_path / "r", quiet=True)
    names = [p.name for p in list_checkpoints(tmp_path / "r" / "checkpoints")]
    assert names == ["step_00000006.pt", "step_00000007.pt"]


def test_existing_run_is_not_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert run_cli("run", str(QUICKSTART), *sets(*TINY, "train.max_steps=3"),
                   "-o", str(out)).returncode == 0
    before = {p.name: p.read_bytes() for p in (out / "checkpoints").iterdir()}
    again = run_cli("run", str(QUICKSTART), *sets(*TINY, "train.max_steps=3"), "-o", str(out))
    assert again.returncode == 2
    assert "already holds a run" in again.stderr and "--resume" in again.stderr
    assert {p.name: p.read_bytes() for p in (out / "checkpoints").iterdir()} == before


def test_missing_data_root_fails_before_work(tmp_path: Path) -> None:
    result = run_cli("run", str(QUICKSTART), "--set", "data.kind=image_folder",
                     "--set", f"data.root={tmp_path / 'nowhere'}", "-o", str(tmp_path / "r"))
    assert result.returncode == 2
    assert "data.root" in result.stderr and "quickstart.toml" in result.stderr
    assert not (tmp_path / "r").exists()


class NaNAtStep(Loss):
    """Test-only loss: L2, except NaN at its ``nan_at``-th call."""

    class Config(LossConfig):
        kind: Literal["nan_at"] = "nan_at"
        nan_at: int = 4

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config, self.calls = config, 0

    def forward(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        loss = (predictions - targets).pow(2).mean()
        return loss * float("nan") if self.calls == self.config.nan_at else loss


@pytest.fixture
def nan_loss():
    register("loss")(NaNAtStep)
    yield
    registry("loss").unregister("nan_at")


def test_nonfinite_loss_stops_and_keeps_last_checkpoint(tmp_path: Path, nan_loss: None) -> None:
    recipe = load_recipe(QUICKSTART, [*TINY, "train.max_steps=10", "loss.kind=nan_at",
                                      "loss.nan_at=5", "train.checkpoint_every=2"])
    with pytest.raises(NonFiniteLossError, match="at step 5"):
        train(recipe, output_dir=tmp_path / "r", quiet=True)
    ckpts = list_checkpoints(tmp_path / "r" / "checkpoints")
    assert [p.name for p in ckpts] == ["step_00000002.pt", "step_00000004.pt"]
    state = load_checkpoint(ckpts[-1])
    assert all(torch.isfinite(v).all() for v in state["encoder"].values())


def test_bad_steps_can_be_skipped(tmp_path: Path, nan_loss: None) -> None:
    recipe = load_recipe(QUICKSTART, [*TINY, "train.max_steps=4", "loss.kind=nan_at",
                                      "loss.nan_at=3", "train.max_bad_steps=1"])
    with pytest.warns(UserWarning, match="skipped step 3"):
        result = train(recipe, output_dir=tmp_path / "r", quiet=True)
    assert result.step == 4 and len(result.losses) == 4
    assert all(loss == loss for loss in result.losses)  # no NaN was logged


def test_cli_exits_1_when_the_loss_goes_nonfinite(tmp_path: Path, nan_loss: None,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # In-process through main(), as the console script runs: the test-only loss is registered
    # here and would not exist in a subprocess.
    from jepa_kit.cli.app import main

    args = ["run", str(QUICKSTART), *sets(*TINY, "train.max_steps=6", "loss.kind=nan_at",
                                          "loss.nan_at=3"), "-o", str(tmp_path / "r"), "--quiet"]
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 1
    assert "run stopped" in capsys.readouterr().err


def test_user_error_messages_keep_bracketed_text(capsys: pytest.CaptureFixture[str]) -> None:
    from jepa_kit.cli.app import main

    with pytest.raises(SystemExit) as info:
        main(["validate", str(QUICKSTART), "--set", "data.kind=[images]"])
    assert info.value.code == 2
    assert "[images]" in capsys.readouterr().err

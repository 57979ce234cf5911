"""Every ``jepa-kit eval`` score of a checkpoint carries its random-init baseline and the gain."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from jepa_kit.build import build_method
from jepa_kit.cli.app import main
from jepa_kit.eval.checkpoint_model import recipe_from_checkpoint
from jepa_kit.eval.features import FeatureExtractor
from jepa_kit.rundir.checkpoint import load_checkpoint
from tests.eval.helpers import make_checkpoint


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny run, with a checkpoint at steps 1 and 2."""
    run = tmp_path_factory.mktemp("run")
    make_checkpoint(run, "train.checkpoint_every=1")
    return run


@pytest.fixture
def encoders(monkeypatch: pytest.MonkeyPatch) -> list[torch.Tensor]:
    """A copy of the first weight of every encoder whose features are extracted, in order."""
    seen: list[torch.Tensor] = []
    original = FeatureExtractor.__call__

    def recording(self: FeatureExtractor, encoder: Any) -> Any:
        seen.append(next(encoder.parameters()).detach().clone())
        return original(self, encoder)

    monkeypatch.setattr(FeatureExtractor, "__call__", recording)
    return seen


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    assert int(exit_info.value.code or 0) == 0, captured.err
    return captured.out


def row(output: str, name: str) -> str:
    """The value cell of the table row ``name``."""
    found = re.search(rf"│ {re.escape(name)} +│ +(.+?) │", output)
    assert found is not None, f"no row {name!r} in:\n{output}"
    return found.group(1)


def test_knn_prints_the_baseline_and_the_gain_and_reuses_the_cache(
        run_dir: Path, baseline_cache: Path, encoders: list[torch.Tensor],
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    step2, step1 = (run_dir / "checkpoints" / f"step_0000000{s}.pt" for s in (2, 1))
    # The context encoder: two steps move its kNN score off the init's on these 32 images.
    output = run_cli(capsys, "eval", "knn", str(step2), "--which", "context")
    result = json.loads((run_dir / "eval_knn_context.json").read_text())
    trained, base = result["metrics"]["top1"], result["baseline"]["metrics"]["top1"]
    assert trained != base, "the test needs a checkpoint that scores unlike its init"
    assert result["gain"]["top1"] == trained - base
    assert result["baseline"]["cached"] is False and len(encoders) == 2
    assert row(output, "top-1") == f"{100 * trained:.2f}%"
    assert row(output, "random-init top-1") == f"{100 * base:.2f}%"
    assert row(output, "gain (top-1)").startswith(f"{100 * (trained - base):+.2f} points")
    assert Path(result["baseline_cache"]).parent == baseline_cache
    assert [p.name for p in baseline_cache.iterdir()] == [Path(result["baseline_cache"]).name]

    # `--random-init` alone (no cache involved) scores and prints the same baseline, with the
    # same network the baseline was extracted from.
    alone = tmp_path / "random_init.json"
    random_output = run_cli(capsys, "eval", "knn", str(step2), "--which", "context",
                            "--random-init", "--no-baseline", "--out", str(alone))
    assert json.loads(alone.read_text())["metrics"] == result["baseline"]["metrics"]
    assert row(random_output, "top-1") == row(output, "random-init top-1")
    assert torch.equal(encoders[2], encoders[1]) and not torch.equal(encoders[0], encoders[1])

    # Another checkpoint of the run: the baseline comes from the cache, nothing re-extracted.
    output = run_cli(capsys, "eval", "knn", str(step1), "--which", "context")
    again = json.loads((run_dir / "eval_knn_context.json").read_text())
    assert len(encoders) == 4 and again["checkpoint_step"] == 1
    assert again["baseline"] == {"metrics": result["baseline"]["metrics"], "cached": True}
    assert again["gain"]["top1"] == again["metrics"]["top1"] - base
    assert f"read from {result['baseline_cache']}" in output

    # Other settings are another baseline: k changes the random-init score's protocol.
    run_cli(capsys, "eval", "knn", str(step1), "--which", "context", "--k", "5")
    assert len(encoders) == 6 and len(list(baseline_cache.iterdir())) == 2


def test_no_baseline_omits_it(run_dir: Path, baseline_cache: Path,
                              encoders: list[torch.Tensor],
                              capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "knn.json"
    output = run_cli(capsys, "eval", "knn", str(run_dir / "checkpoints" / "step_00000002.pt"),
                     "--no-baseline", "--out", str(out))
    result = json.loads(out.read_text())
    assert not {"baseline", "gain", "baseline_cache"} & set(result)
    assert "random-init" not in output and "noise" not in output
    assert len(encoders) == 1 and not baseline_cache.exists()


def test_a_step_0_checkpoint_gains_nothing_and_says_it_is_within_noise(
        run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The run's step-0 state, as the trainer would have saved it before its first step.
    state = load_checkpoint(run_dir / "checkpoints" / "step_00000001.pt")
    recipe = recipe_from_checkpoint(state, "step 1")
    torch.manual_seed(recipe.run.seed)
    for name, network in build_method(recipe).networks.items():
        state[name] = network.state_dict()
    state["step"] = 0
    checkpoint = tmp_path / "step0" / "checkpoints" / "step_00000000.pt"
    checkpoint.parent.mkdir(parents=True)
    torch.save(state, checkpoint)

    output = run_cli(capsys, "eval", "knn", str(checkpoint))
    result = json.loads((tmp_path / "step0" / "eval_knn.json").read_text())
    assert result["baseline"]["metrics"] == result["metrics"]
    gain = result["gain"]
    assert gain["top1"] == 0.0 and gain["within_noise"] is True
    p, n = result["metrics"]["top1"], result["metrics"]["num_val"]
    assert gain["standard_error"] == pytest.approx((2 * p * (1 - p) / n) ** 0.5)
    assert "within noise" in output and "does not show that pre-training helped" in output


def test_an_export_has_no_baseline_and_says_why(run_dir: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from jepa_kit.interop.export import export_checkpoint

    file = export_checkpoint(run_dir / "checkpoints" / "step_00000002.pt", fmt="safetensors",
                             out=tmp_path / "enc.safetensors")
    out = tmp_path / "knn.json"
    output = run_cli(capsys, "eval", "knn", str(file), "--dataset", "synthetic", "--set",
                     "data.train_size=64", "--set", "data.val_size=32", "--out", str(out))
    assert "baseline" not in json.loads(out.read_text())
    assert "no random-init baseline: a safetensors export carries no initial weights" in output

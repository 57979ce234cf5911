"""The Python API on one tiny quickstart run (sharded checkpoints): pretrain, load_encoder from
every kind of source, evaluate with its baseline, export and load back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import jepa_kit
from jepa_kit.build import build_method
from jepa_kit.checkpoint import read_checkpoint
from jepa_kit.errors import UserError

pytestmark = pytest.mark.slow

#: Checkpoints as sharded step_N.dcp folders: every call below reads one (the .pt files of the
#: default are read by the notebook and the From Python page tests).
TINY = {"train.max_steps": 4, "train.log_every": 2, "train.batch_size": 16,
        "train.checkpoint_format": "sharded",
        "data.train_size": 128, "data.val_size": 64, "data.num_workers": 0}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[jepa_kit.TrainResult]:
    root = tmp_path_factory.mktemp("api")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(root / "cache"))  # the baseline cache stays here
        mp.chdir(root)
        yield jepa_kit.pretrain("quickstart", TINY, output_dir="runs/tiny", progress=False)


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_pretrain_returns_the_run(run: jepa_kit.TrainResult) -> None:
    assert run.run_dir == Path("runs/tiny") and run.step == 4
    assert run.checkpoint == Path("runs/tiny/checkpoints/step_00000004.dcp")
    assert [r["step"] for r in run.history] == [2, 4]
    assert run.metrics == run.history[-1] and run.metrics["loss"] > 0
    assert run.recipe.train.max_steps == 4
    assert repr(run).startswith("TrainResult(run_dir='runs/tiny', step=4, loss=")
    again = jepa_kit.pretrain(run.recipe, output_dir="runs/tiny", resume="auto",
                              progress=False)  # a finished run: nothing left to train
    assert (again.step, again.checkpoint, len(again.history)) == (4, run.checkpoint, 2)
    with pytest.raises(UserError, match="already holds a run"):
        jepa_kit.pretrain(run.recipe, output_dir="runs/tiny", progress=False)
    with pytest.raises(UserError, match="resume='yes'"):
        jepa_kit.pretrain(run.recipe, output_dir="runs/tiny", resume="yes")  # type: ignore[arg-type]


def test_load_encoder_picks_the_networks_the_checkpoint_holds(
        run: jepa_kit.TrainResult, images: torch.Tensor) -> None:
    record = read_checkpoint(run.checkpoint)
    target = jepa_kit.load_encoder(run.run_dir)
    context = jepa_kit.load_encoder(run.checkpoint, which="context")
    assert target.source == context.source == run.checkpoint
    assert (target.which, context.which, target.step, target.features) == (
        "target", "context", 4, "avg")
    for module, key in ((target, "target_encoder"), (context, "encoder")):
        saved = record.networks[key]
        assert all(torch.equal(v, saved[k]) for k, v in module.encoder.state_dict().items())
    assert not target.training and not any(p.device.type != "cpu" for p in target.parameters())
    with torch.no_grad():
        pooled, tokens = target(images), jepa_kit.load_encoder(
            run.run_dir, features="tokens")(images)
        last2 = jepa_kit.load_encoder(run.run_dir, features="last2")(images)
    assert pooled.shape == (3, 96) and tokens.shape == (3, 64, 96) and last2.shape == (3, 192)
    torch.testing.assert_close(pooled, tokens.mean(1))
    torch.testing.assert_close(last2[:, 96:], pooled)  # the last block's part is the average
    init = jepa_kit.load_encoder(run.run_dir, random_init=True)
    assert init.step == 0
    with torch.random.fork_rng(devices=[]):  # the run's step-0 network: seed, then build
        torch.manual_seed(run.recipe.run.seed)
        fresh = build_method(run.recipe).networks["target_encoder"].state_dict()
    assert all(torch.equal(v, fresh[k]) for k, v in init.encoder.state_dict().items())
    assert not torch.equal(init.encoder.blocks[0].attn.qkv.weight,
                           record.networks["target_encoder"]["blocks.0.attn.qkv.weight"])
    with pytest.raises(UserError, match="expected avg, tokens or lastK"):
        jepa_kit.load_encoder(run.run_dir, features="max")
    with pytest.raises(UserError, match="has the encoders target, context"):
        jepa_kit.load_encoder(run.run_dir, which="student")


def test_find_checkpoint_refuses_what_holds_none(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such checkpoint file or run folder"):
        jepa_kit.find_checkpoint(tmp_path / "missing")
    with pytest.raises(UserError, match="a folder without checkpoints"):
        jepa_kit.find_checkpoint(tmp_path)


def test_evaluate_a_run_folder_with_its_baseline(run: jepa_kit.TrainResult) -> None:
    scored = jepa_kit.evaluate(run.run_dir, "knn")
    assert scored is not None and scored.path == run.run_dir / "eval_knn.json"
    r = scored.result
    assert r["checkpoint"] == str(run.checkpoint.resolve()) and r["which"] == "target"
    assert r["metrics"]["num_val"] == 64 and 0 <= r["metrics"]["top1"] <= 1
    assert r["gain"]["top1"] == pytest.approx(r["metrics"]["top1"]
                                              - r["baseline"]["metrics"]["top1"])


def test_export_then_load_gives_the_same_features(
        run: jepa_kit.TrainResult, images: torch.Tensor, tmp_path: Path) -> None:
    ours = jepa_kit.load_encoder(run.run_dir, which="context")
    with torch.no_grad():
        expected = ours(images)
        for fmt, out in (("timm", tmp_path / "timm"), ("hf", tmp_path / "hf"),
                         ("safetensors", tmp_path / "e.safetensors")):
            written = jepa_kit.export(run.run_dir, out, format=fmt, which="context")
            assert written == out
            back = jepa_kit.load_encoder(out)
            assert back.which == fmt
            torch.testing.assert_close(back(images), expected, atol=1e-5, rtol=1e-4)
    card = (tmp_path / "hf/README.md").read_text()
    loss = read_checkpoint(run.checkpoint).metrics["loss"]
    assert "# quickstart: the context encoder of a jepa-kit ijepa run" in card
    assert "- method: `ijepa`, exported encoder: `context`" in card
    assert ("- data: `synthetic` (img_size=32, num_classes=4, train_size=128, val_size=64, "
            in card)
    assert "- steps: 4 (epoch 0)" in card and f"- last logged loss: {loss:.4f}" in card
    assert "max_steps = 4" in card  # the resolved recipe
    assert not (tmp_path / "plain").exists()
    jepa_kit.export(run.run_dir, tmp_path / "plain", format="timm", card=False)
    assert not (tmp_path / "plain" / "README.md").exists()
    with pytest.raises(UserError, match="format='onnx': expected one of safetensors, timm, hf"):
        jepa_kit.export(run.run_dir, tmp_path / "x", format="onnx")

"""``jepa-kit eval finetune`` on a tiny run's checkpoint: the ``finetune`` method run by the
Trainer learns, resumes exactly, and refuses bad settings with messages naming the flag."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from jepa_kit.build import build_method
from jepa_kit.checkpoint import read_checkpoint
from jepa_kit.cli.app import main
from jepa_kit.eval.finetune import Source, finetune_recipe
from jepa_kit.eval.finetune_config import FinetuneConfig
from jepa_kit.eval.protocols.classify import Classify
from jepa_kit.methods.finetune import Finetune
from jepa_kit.methods.finetune.classifier import Classifier, layer_decay_groups
from jepa_kit.optim.warmup_schedules import Cosine
from jepa_kit.registry import registry
from jepa_kit.rundir.checkpoint import list_checkpoints, load_checkpoint
from tests.eval.helpers import make_checkpoint

#: Two epochs of 4 steps on the tiny run's 64 train images; MAE's recipe otherwise
#: (mixup, cutmix, RandAugment, smoothing, drop path, layer decay) at a short run's lr.
FAST = ["--epochs", "2", "--batch-size", "16", "--lr", "2e-3", "--warmup-epochs", "0",
        "--num-workers", "0", "-q"]


@pytest.fixture(scope="module", autouse=True)
def _registered() -> None:
    # The entry points (pyproject.toml) appear once the package is installed again; an
    # older install lacks them, so the built-ins are registered in-process when missing.
    for kind, cls in (("method", Finetune), ("eval_protocol", Classify)):
        if cls.Config.model_fields["kind"].default not in registry(kind).names():
            registry(kind).register(cls.Config.model_fields["kind"].default, cls)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("run"))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "finetune", *args])
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out + captured.err


@pytest.mark.slow
def test_finetuning_lowers_val_loss_and_a_resume_ends_where_an_unbroken_run_does(
        checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = run(capsys, str(checkpoint), *FAST, "-o", str(tmp_path / "a"))
    assert code == 0, text
    whole = json.loads((tmp_path / "a" / "finetune.json").read_text())
    assert whole["finished"] and whole["epochs_done"] == 2 and whole["steps_done"] == 8
    assert [row["epoch"] for row in whole["history"]] == [1, 2]
    assert whole["metrics"]["val_loss"] < whole["initial"]["val_loss"] - 1e-3
    # The encoder trained end to end beats the start (the pre-trained encoder, head ~ 0).
    assert whole["metrics"]["top1"] > whole["initial"]["top1"]
    assert whole["initial"]["val_loss"] == pytest.approx(math.log(4), abs=1e-3)  # head ~ 0
    s = whole["settings"]
    assert (s["mixup"], s["cutmix"], s["smoothing"], s["layer_decay"], s["drop_path"]) == \
        (0.8, 1.0, 0.1, 0.75, 0.1)
    assert s["rand_augment"] == "rand-m9-mstd0.5-inc1" and s["peak_lr"] == 2e-3
    assert whole["which"] == "target" and whole["metrics"]["num_val"] == 32
    kept = list_checkpoints(tmp_path / "a" / "checkpoints")
    assert [p.name for p in kept] == ["step_00000004.pt", "step_00000008.pt"]
    saved = load_checkpoint(kept[-1])  # the Trainer's checkpoint: epoch counts from 0
    assert saved["method"] == "finetune" and saved["epoch"] == 1
    assert saved["recipe"]["encoder"]["drop_path_rate"] == 0.1

    # Stopped after one epoch, then resumed: the same weights, so the same val loss.
    code, text = run(capsys, str(checkpoint), *FAST, "-o", str(tmp_path / "b"),
                     "--max-steps", "4")
    assert code == 0, text
    cut = json.loads((tmp_path / "b" / "finetune.json").read_text())
    assert not cut["finished"] and cut["epochs_done"] == 1
    code, text = run(capsys, str(checkpoint), *FAST, "-o", str(tmp_path / "b"), "--resume")
    assert code == 0, text
    resumed = json.loads((tmp_path / "b" / "finetune.json").read_text())
    assert resumed["resumed_from"].endswith("step_00000004.pt")
    assert resumed["finished"] and resumed["steps_done"] == 8
    assert resumed["history"] == [{**row, "seconds": r["seconds"]} for row, r in
                                  zip(whole["history"], resumed["history"], strict=True)]
    unbroken, again = (read_checkpoint(tmp_path / run / "checkpoints" / "step_00000008.pt")
                       for run in ("a", "b"))
    for network in ("encoder", "head"):
        for name, weights in unbroken.networks[network].items():
            torch.testing.assert_close(again.networks[network][name], weights, rtol=0, atol=0)

    # The run folder is not reused by accident, and a resume keeps its settings.
    code, text = run(capsys, str(checkpoint), *FAST, "-o", str(tmp_path / "a"))
    assert code == 2 and "already holds a fine-tuning run" in text and "--resume" in text
    code, text = run(capsys, str(checkpoint), *FAST, "-o", str(tmp_path / "a"), "--resume",
                     "--smoothing", "0.2")
    assert code == 2 and "cannot resume" in text
    assert "finetune.smoothing: 0.1 in the checkpoint, 0.2 now" in text


@pytest.mark.parametrize(("args", "message"), [
    (["--layer-decay", "0"], "--layer-decay: Input should be greater than 0 (got 0.0)"),
    (["--batch-size", "15"], "must be even when mixup or cutmix is on"),
    (["--ft", "betas=[1.5,0.9]"], "betas must each lie in [0, 1)"),
    (["--ft", "mixupp=0.5"], "--ft mixupp: not a fine-tuning setting; did you mean 'mixup'?"),
    (["--ft", "epochs"], "expected KEY=VALUE"),
    (["--rand-augment", "autoaug"], "is not a timm RandAugment spec"),
    (["--drop-path", "1.5"], "--drop-path: Input should be less than 1 (got 1.5)"),
])
def test_bad_settings_name_the_flag(checkpoint: Path, tmp_path: Path, args: list[str],
                                    message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = run(capsys, str(checkpoint), *args, "-o", str(tmp_path / "x"))
    assert code == 2
    assert message in " ".join(text.split())
    assert not (tmp_path / "x").exists()


def test_too_large_a_batch_is_a_user_error(checkpoint: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, text = run(capsys, str(checkpoint), "--batch-size", "128", "--num-workers", "0",
                     "-o", str(tmp_path / "x"), "-q")
    assert code == 2 and "give no full batch of --batch-size 128" in " ".join(text.split())


def test_layer_decay_groups_and_drop_path(checkpoint: Path, tmp_path: Path) -> None:
    state = load_checkpoint(checkpoint)
    config = FinetuneConfig(layer_decay=0.5, drop_path=0.2)
    recipe = finetune_recipe(Source(checkpoint, state, state["recipe"]), config, tmp_path,
                             num_classes=4, steps_per_epoch=4)
    assert recipe.encoder.drop_path_rate == 0.2 and recipe.method.encoder_network == \
        "target_encoder" and recipe.train.init_from == str(checkpoint.resolve())
    method = build_method(recipe)
    method.load_state_dict(read_checkpoint(checkpoint), str(checkpoint))
    encoder = method.networks["encoder"]
    deeper = build_method(finetune_recipe(
        Source(checkpoint, state, state["recipe"], ["encoder.depth=3"], random_init=True),
        config, tmp_path, num_classes=4, steps_per_epoch=4)).networks["encoder"]
    rates = [float(b.drop_path1.drop_prob) for b in deeper.blocks[1:]]  # the ramp from 0
    assert rates == pytest.approx([0.1, 0.2])
    torch.testing.assert_close(encoder.state_dict()["blocks.0.mlp.fc1.weight"],
                               state["target_encoder"]["blocks.0.mlp.fc1.weight"])
    groups = method.param_groups()
    by_name = {n: (g["lr_scale"], g.get("WD_exclude", False)) for g in groups
               for n in g["names"]}
    assert by_name["encoder.patch_embed.proj.weight"] == (0.25, False)  # 0.5 ** (L + 1)
    assert by_name["encoder.patch_embed.proj.bias"] == (0.25, True)
    assert by_name["encoder.blocks.0.attn.qkv.weight"] == (0.5, False)
    assert by_name["encoder.blocks.0.norm1.weight"] == (0.5, True)
    assert by_name["encoder.norm.weight"] == (1.0, True)
    assert by_name["head.1.weight"] == (1.0, False) and by_name["head.0.weight"] == (1.0, True)
    assert len(by_name) == sum(1 for _ in Classifier(encoder, method.networks["head"]).parameters())
    assert groups == layer_decay_groups(method.classifier, layer_decay=0.5)


def test_schedule_warms_up_then_decays_to_the_floor(checkpoint: Path, tmp_path: Path) -> None:
    # The recipe hands MAE's schedule to the engine's cosine: warmup from 0, then to min_lr.
    state = load_checkpoint(checkpoint)
    config = FinetuneConfig(lr=1.0, min_lr=0.01, warmup_epochs=2.0, epochs=10)
    o = finetune_recipe(Source(checkpoint, state, state["recipe"]), config, tmp_path,
                        num_classes=4, steps_per_epoch=10).optim
    assert (o.start_lr, o.lr, o.final_lr, o.warmup_epochs, o.lr_schedule.kind) == \
        (0.0, 1.0, 0.01, 2.0, "cosine")
    assert o.weight_decay == o.final_weight_decay == 0.05  # MAE: constant weight decay
    lr = Cosine(o.lr_schedule, start=o.start_lr, peak=o.lr, final=o.final_lr,
                warmup_steps=o.warmup_epochs * 10, total_steps=10 * 10)
    assert lr(0) == 0.0 and lr(10) == pytest.approx(0.5)
    assert lr(20) == pytest.approx(1.0)
    assert lr(60) == pytest.approx(0.01 + 0.99 * 0.5)  # half-way through the cosine
    assert lr(100) == pytest.approx(0.01)
    assert FinetuneConfig().peak_lr(1024) == pytest.approx(4e-3)  # MAE: blr x 1024 / 256


def test_randaugment_posterize_at_full_magnitude_gives_black_not_an_error() -> None:
    # timm's PosterizeIncreasing keeps 0 bits at magnitude 10 (reached by rand-m9-mstd0.5);
    # Pillow >= 11 refuses 0 bits, older Pillow (MAE's) returned a black image.
    from PIL import Image

    from jepa_kit.methods.finetune.views import train_transform

    transform = train_transform(img_size=32, rand_augment="rand-m10-inc1",
                                crop_scale=(0.08, 1.0), re_prob=0.25)
    ops = [op for step in transform.transforms for op in getattr(step, "ops", ())
           if op.name == "PosterizeIncreasing"]
    assert len(ops) == 1
    ops[0].prob = 1.0
    image = Image.new("RGB", (8, 8), (200, 100, 50))
    assert ops[0](image).getpixel((0, 0)) == (0, 0, 0)

"""``jepa-kit eval knn|linear`` through a real subprocess, on a tiny run's checkpoint."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from jepa_kit.cli.app import main
from tests.conftest import REPO
from tests.eval.helpers import make_checkpoint

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 60), "blue": (30, 60, 220)}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jepa_kit", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=300)


def in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0), capsys.readouterr().err


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("run"))


def write_folder(root: Path, per_class: int) -> Path:
    """Class sub-folders of tiny solid-colour PNGs with a little per-image shading."""
    for name, (r, g, b) in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (20, 24), (r, g, min(255, b + 5 * i))).save(root / name / f"{i}.png")
    return root


def test_knn_on_the_runs_data_and_the_random_init_baseline(checkpoint: Path) -> None:
    run_dir = checkpoint.parent.parent
    trained = cli("eval", "knn", str(checkpoint), "--k", "5")
    assert trained.returncode == 0, trained.stderr
    assert "top-1" in trained.stdout and "step 2" in trained.stdout
    result = json.loads((run_dir / "eval_knn.json").read_text())
    # Without flags the score carries its random-init baseline and the gain.
    base = result["baseline"]["metrics"]["top1"]
    assert re.search(rf"│ random-init top-1 +│ +{100 * base:.2f}% │", trained.stdout)
    assert result["gain"]["top1"] == result["metrics"]["top1"] - base
    assert "gain (top-1)" in trained.stdout and "noise" in trained.stdout
    assert result["random_init"] is False and result["step"] == 2 and result["which"] == "target"
    assert result["dataset"]["kind"] == "synthetic" and result["metrics"]["k"] == 5
    assert result["metrics"]["num_train"] == 64 and result["metrics"]["num_val"] == 32
    assert result["checkpoint"] == str(checkpoint.resolve())

    baseline = cli("eval", "knn", str(checkpoint), "--random-init", "--dataset", "synthetic",
                   "--which", "context", "--set", "data.val_size=16")
    assert baseline.returncode == 0, baseline.stderr
    result = json.loads((run_dir / "eval_knn_context_random_init.json").read_text())
    assert result["random_init"] is True and result["step"] == 0
    assert result["checkpoint_step"] == 2 and result["metrics"]["num_val"] == 16
    assert 0.0 <= result["metrics"]["top1"] <= 1.0


def test_linear_and_knn_on_image_folders(checkpoint: Path, tmp_path: Path) -> None:
    flat = write_folder(tmp_path / "flat", per_class=10)  # val: 20% of every class
    out = tmp_path / "linear.json"
    linear = cli("eval", "linear", str(checkpoint), "--data", str(flat), "--out", str(out),
                 "--epochs", "20", "--no-baseline")
    assert linear.returncode == 0, linear.stderr
    result = json.loads(out.read_text())
    metrics = result["metrics"]
    assert result["dataset"]["kind"] == "image_folder" and result["dataset"]["val_fraction"] == 0.2
    assert metrics["num_train"] == 24 and metrics["num_val"] == 6 and metrics["num_classes"] == 3
    assert result["classes"] == sorted(COLOURS)
    assert metrics["top1"] == 1.0  # solid colours: trivially separable even for 2 steps

    split = tmp_path / "split"
    write_folder(split / "train", per_class=4)
    write_folder(split / "val", per_class=2)
    out = tmp_path / "knn.json"
    knn = cli("eval", "knn", str(checkpoint), "--data", str(split), "--out", str(out),
              "--no-baseline")
    assert knn.returncode == 0, knn.stderr
    result = json.loads(out.read_text())
    assert result["dataset"]["val_root"] == str(split / "val")
    assert result["metrics"]["num_train"] == 12 and result["metrics"]["num_val"] == 6


def test_user_errors_name_the_thing(checkpoint: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, err = in_process(capsys, "eval", "knn", str(tmp_path / "nope.pt"))
    assert code == 2 and "nope.pt" in err and "no such checkpoint" in err

    unlabelled = tmp_path / "unlabelled"
    unlabelled.mkdir()
    for i in range(5):
        Image.new("RGB", (8, 8), (i, i, i)).save(unlabelled / f"{i}.png")
    code, err = in_process(capsys, "eval", "knn", str(checkpoint), "--data", str(unlabelled))
    assert code == 2 and str(unlabelled) in err and "unlabelled" in err

    code, err = in_process(capsys, "eval", "knn", str(checkpoint), "--data", str(tmp_path / "x"))
    assert code == 2 and "does not exist" in err
    code, err = in_process(capsys, "eval", "linear", str(checkpoint), "--dataset", "synthetc")
    assert code == 2 and "Did you mean 'synthetic'" in err

    copy = tmp_path / "ckpt.pt"
    shutil.copy(checkpoint, copy)
    code, err = in_process(capsys, "eval", "knn", str(copy), "--which", "both")
    assert code == 2


def test_a_broken_image_under_loader_workers_exits_2_naming_it(
        checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_folder(tmp_path / "imgs", per_class=3)
    bad = folder / "green" / "1.png"
    bad.write_bytes(bad.read_bytes()[:40])  # truncated
    code, err = in_process(capsys, "eval", "knn", str(checkpoint), "--data", str(folder),
                           "--set", "data.num_workers=2", "--batch-size", "2")
    assert code == 2, err
    assert f"cannot read image {bad}" in err and "internal error" not in err
    assert "Traceback" not in err


def test_attentive_probe_on_a_low_shot_subset(checkpoint: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "attentive.json"
    code, err = in_process(capsys, "eval", "attentive", str(checkpoint), "--epochs", "2",
                           "--probe-batch-size", "16", "--per-class", "4", "--seed", "1",
                           "--out", str(out), "--no-baseline")
    assert code == 0, err
    result = json.loads(out.read_text())
    metrics = result["metrics"]
    assert result["protocol"] == "attentive" and result["features"] == "tokens"
    assert result["augment"] == "none" and result["which"] == "target"
    # The paper's settings unless asked otherwise; the encoder's heads; its 8 x 8 token grid.
    assert (metrics["lr"], metrics["weight_decay"]) == (1e-3, 1e-3)
    assert metrics["optim"]["epochs"] == 2 and metrics["optim"]["batch_size"] == 16
    assert metrics["optim"]["final_weight_decay"] == 1e-6 and metrics["optim"]["grad_clip"] == 1.0
    assert (metrics["num_heads"], metrics["num_queries"], metrics["depth"]) == (3, 1, 1)
    assert metrics["tokens"] == [64] and metrics["embed_dim"] == 96
    subset = result["subset"]
    assert subset["per_class_counts"] == [4, 4, 4, 4] and subset["seed"] == 1
    assert metrics["num_train"] == 16 == len(subset["indices"]) and metrics["num_val"] == 32
    assert 0.0 <= metrics["top1"] <= 1.0


def test_linear_probe_on_augmented_views_of_a_fraction(checkpoint: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    args = ("eval", "linear", str(checkpoint), "--features", "last1", "--augment", "ijepa",
            "--epochs", "2", "--lr", "0.01", "--lr", "0.1", "--wd", "0", "--fraction", "0.25",
            "--no-baseline")
    code, err = in_process(capsys, *args)
    assert code == 0, err
    written = checkpoint.parent.parent / "eval_linear_last1_ijepa_0.25frac.json"
    result = json.loads(written.read_text())
    metrics = result["metrics"]
    assert result["features"] == "last1" and result["augment"] == "ijepa"
    assert result["subset"]["fraction"] == 0.25 and metrics["num_train"] == 16
    assert [(g["lr"], g["weight_decay"]) for g in metrics["grid"]] == [(0.01, 0.0), (0.1, 0.0)]
    assert metrics["batch_size"] == 256 and metrics["epochs"] == 2
    # The same subset again: the draw is fixed by the seed.
    code, err = in_process(capsys, *args)
    assert code == 0, err
    assert json.loads(written.read_text())["subset"] == result["subset"]

    code, err = in_process(capsys, "eval", "linear", str(checkpoint), "--features", "last4")
    assert code == 2 and "--features last4: the encoder has only 1 blocks" in err
    code, err = in_process(capsys, "eval", "linear", str(checkpoint), "--per-class", "40")
    assert code == 2 and "--per-class 40: class 0 has only 16 train images" in err


def test_exported_encoders_score_like_their_checkpoint(checkpoint: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    from jepa_kit.interop.export import export_checkpoint

    folder = export_checkpoint(checkpoint, fmt="timm", out=tmp_path / "timm")
    file = export_checkpoint(checkpoint, fmt="safetensors", out=tmp_path / "enc.safetensors")
    same_data = ("--set", "data.train_size=64", "--set", "data.val_size=32")
    scores = {}
    for name, path in (("checkpoint", checkpoint), ("timm", folder), ("safetensors", file)):
        out = tmp_path / f"{name}.json"
        code, err = in_process(capsys, "eval", "knn", str(path), "--dataset", "synthetic",
                               *same_data, "--k", "5", "--out", str(out), "--no-baseline")
        assert code == 0, err
        result = json.loads(out.read_text())
        assert result["source"] == name
        scores[name] = result["metrics"]["top1"]
    assert scores["timm"] == scores["checkpoint"] == scores["safetensors"]
    assert json.loads((tmp_path / "timm.json").read_text())["encoder"]["kind"] == "timm"

    code, err = in_process(capsys, "eval", "knn", str(folder))
    assert code == 2 and "carries no dataset" in err and "--dataset NAME" in err
    code, err = in_process(capsys, "eval", "knn", str(folder), "--dataset", "synthetic",
                           "--random-init")
    assert code == 2 and "--random-init" in err and "exported encoder" in err
    code, err = in_process(capsys, "eval", "knn", str(file), "--dataset", "synthetic",
                           "--set", "train.epochs=2")
    assert code == 2 and "only data.* keys" in err

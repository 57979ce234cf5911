"""``jepa-kit run`` on an image folder with a broken file, read by loader workers."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from jepa_kit.cli.app import main
from tests.conftest import REPO

TINY = ["encoder.depth=1", "predictor.depth=1", "train.batch_size=2", "train.max_steps=2",
        "train.log_every=1", "data.kind=image_folder", "data.num_workers=2"]


def run(capsys: pytest.CaptureFixture[str], root: Path, out: Path, *sets: str) -> tuple[int, str]:
    args = ["run", str(REPO / "recipes" / "quickstart.toml"), "-o", str(out), "--quiet"]
    for item in (*TINY, f"data.root={root}", *sets):
        args += ["--set", item]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return int(exit_info.value.code or 0), capsys.readouterr().err


def images(root: Path, n: int = 4) -> Path:
    root.mkdir()
    for i in range(n):
        Image.new("RGB", (32, 32), (60 * i, 90, 120)).save(root / f"{i}.png")
    return root


def test_a_truncated_image_in_a_worker_exits_2_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = images(tmp_path / "imgs")
    bad = root / "2.png"
    bad.write_bytes(bad.read_bytes()[:40])
    code, err = run(capsys, root, tmp_path / "run")
    assert code == 2, err
    assert f"cannot read image {bad}" in err and "data.skip_corrupt" in err
    assert "internal error" not in err and "Traceback" not in err


def test_every_image_bad_under_skip_corrupt_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = images(tmp_path / "imgs")
    for path in root.iterdir():
        path.write_bytes(b"\x89PNG")
    code, err = run(capsys, root, tmp_path / "run", "data.skip_corrupt=true")
    assert code == 2, err
    assert "every one of the 4 image files" in err and "set data.skip_corrupt" not in err


def test_skipped_files_are_named_in_the_run_directory(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = images(tmp_path / "imgs", n=8)
    bad = root / "5.png"
    bad.write_bytes(b"\x89PNG")
    # Two epochs of four batches: the broken file is met (and replaced) once per epoch.
    code, err = run(capsys, root, tmp_path / "run", "data.skip_corrupt=true",
                    "train.max_steps=8", "train.epochs=2")
    assert code == 0, err
    assert (tmp_path / "run" / "skipped_files.txt").read_text() == f"{bad}\n"

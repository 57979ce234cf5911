"""ImageFolder: class and flat layouts, val splits, corrupt files, user errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from pydantic import ValidationError

from jepa_kit.data.image_folder import DataError, ImageFolder
from jepa_kit.registry import registry


def png(path: Path, value: int = 0, mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (6, 5), value if mode == "L" else (value, 0, 0)).save(path)
    return path


def config(root: Path, **overrides: object) -> ImageFolder.Config:
    return ImageFolder.Config(root=str(root), **overrides)


@pytest.fixture
def classes(tmp_path: Path) -> Path:
    root = tmp_path / "train"
    for name, n in (("dog", 3), ("cat", 4)):
        for i in range(n):
            png(root / name / f"{i:02d}.png", value=10 * i)
    png(root / "cat" / "nested" / "deep.png")
    png(root / "dog" / "gray.png", mode="L")
    (root / "dog" / "notes.txt").write_text("not an image")
    png(root / "dog" / ".hidden.png")
    png(root / ".cache" / "x.png")
    return root


def test_registered_under_its_kind() -> None:
    assert registry("dataset").load("image_folder") is ImageFolder


def test_class_folders_give_sorted_labels(classes: Path) -> None:
    ds = ImageFolder(config(classes))
    assert ds.classes == ["cat", "dog"]
    names = [(p.relative_to(classes).as_posix(), label) for p, label in ds.samples]
    assert names == [
        ("cat/00.png", 0),
        ("cat/01.png", 0),
        ("cat/02.png", 0),
        ("cat/03.png", 0),
        ("cat/nested/deep.png", 0),
        ("dog/00.png", 1),
        ("dog/01.png", 1),
        ("dog/02.png", 1),
        ("dog/gray.png", 1),
    ]
    image, label = ds[len(ds) - 1]
    assert isinstance(image, Image.Image) and image.mode == "RGB" and label == 1


def test_flat_folder_is_unlabelled(tmp_path: Path) -> None:
    for name in ("b.png", "a.PNG", "c.jpg"):
        if name.endswith("jpg"):
            Image.new("RGB", (4, 4)).save(tmp_path / name)
        else:
            png(tmp_path / name)
    ds = ImageFolder(config(tmp_path))
    assert ds.classes == []
    assert [p.name for p, _ in ds.samples] == ["a.PNG", "b.png", "c.jpg"]
    assert all(ds[i][1] == -1 for i in range(len(ds)))


def test_val_fraction_is_a_fixed_per_class_holdout(classes: Path) -> None:
    cfg = config(classes, val_fraction=0.5)
    train, val = ImageFolder(cfg, train=True), ImageFolder(cfg, train=False, seed=0)
    assert not set(train.samples) & set(val.samples)
    assert sorted(train.samples + val.samples) == sorted(ImageFolder(config(classes)).samples)
    assert sorted(label for _, label in val.samples) == [0, 0, 1, 1]
    assert ImageFolder(cfg, train=False, seed=123).samples == val.samples


def test_val_root_uses_the_train_class_names(classes: Path, tmp_path: Path) -> None:
    val_root = tmp_path / "val"
    png(val_root / "dog" / "v.png")
    val = ImageFolder(config(classes, val_root=str(val_root)), train=False)
    assert val.classes == ["cat", "dog"] and [label for _, label in val.samples] == [1]
    png(val_root / "bird" / "v.png")
    with pytest.raises(ValueError, match=r"data\.val_root.*bird"):
        ImageFolder(config(classes, val_root=str(val_root)), train=False)


def test_no_val_split_is_a_user_error(classes: Path) -> None:
    with pytest.raises(ValueError, match=r"data\.val_root"):
        ImageFolder(config(classes), train=False)


def test_missing_root_names_the_key_and_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    for check in (lambda c: ImageFolder(c), ImageFolder.check_root):
        with pytest.raises(ValueError, match=r"data\.root") as info:
            check(config(missing))
        assert str(missing) in str(info.value) and "recipes/quickstart.toml" in str(info.value)


def test_check_root_accepts_a_folder(classes: Path) -> None:
    assert ImageFolder.check_root(config(classes)) == classes


def test_root_is_required() -> None:
    with pytest.raises(ValidationError):
        ImageFolder.Config()


def test_empty_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no images"):
        ImageFolder(config(tmp_path))


def test_corrupt_file_error_names_it(classes: Path) -> None:
    bad = classes / "cat" / "01.png"
    bad.write_bytes(b"definitely not a png")
    ds = ImageFolder(config(classes))
    with pytest.raises(DataError, match="01.png") as info:
        ds[1]
    assert info.value.path == str(bad) and isinstance(info.value, ValueError)
    assert "data.skip_corrupt" in str(info.value)


def test_skip_corrupt_replaces_and_counts(classes: Path) -> None:
    (classes / "cat" / "01.png").write_bytes(b"")
    (classes / "cat" / "02.png").write_bytes(b"\x89PNG truncated")
    ds = ImageFolder(config(classes, skip_corrupt=True))
    image, label = ds[1]  # 01 and 02 unreadable: 03 stands in
    assert ds.skipped == 2 and label == 0 and image.getpixel((0, 0)) == (30, 0, 0)
    ds[0]
    assert ds.skipped == 2


def test_skip_corrupt_names_the_replaced_files(classes: Path) -> None:
    (classes / "cat" / "01.png").write_bytes(b"")
    ds = ImageFolder(config(classes, skip_corrupt=True))
    ds[1]
    assert ds.last_skipped == (str(classes / "cat" / "01.png"),)
    ds[0]
    assert ds.last_skipped == () and ds.skipped == 1


def test_every_file_bad_says_so_and_counts_right(tmp_path: Path) -> None:
    for i in range(4):
        (tmp_path / f"{i}.png").write_bytes(b"not a png")
    ds = ImageFolder(config(tmp_path, skip_corrupt=True))
    with pytest.raises(DataError) as info:
        ds[2]
    message = str(info.value)
    assert "every one of the 4 image files" in message and repr(str(tmp_path)) in message
    assert f"{tmp_path / '2.png'}, {tmp_path / '3.png'}, {tmp_path / '0.png'} and 1 more" \
        in message
    assert "set data.skip_corrupt" not in message and "files after it" not in message
    assert info.value.path == str(tmp_path / "2.png") and ds.skipped == 0


def test_a_long_bad_run_counts_the_files_it_tried(tmp_path: Path) -> None:
    for i in range(30):
        png(tmp_path / f"{i:02d}.png", value=i)
    for i in range(3, 3 + 17):
        (tmp_path / f"{i:02d}.png").write_bytes(b"")
    ds = ImageFolder(config(tmp_path, skip_corrupt=True))
    assert ds[4][0].getpixel((0, 0)) == (20, 0, 0) and len(ds.last_skipped) == 16
    with pytest.raises(DataError, match=r"03\.png: it and the 16 files after it") as info:
        ds[3]
    assert "set data.skip_corrupt" not in str(info.value)

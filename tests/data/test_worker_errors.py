"""A user error inside a loader worker stays a user error naming the file (issue 13, item 8).

torch re-raises a worker's exception as ``type(exc)("Caught ... Original Traceback ...")``; a
``DataError`` that could not be built from one string became a ``RuntimeError`` (exit 1).
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest
from PIL import Image
from torch._utils import ExceptionWrapper

import jepa_kit.cli.app  # noqa: F401  (imports every module that defines a UserError)
from jepa_kit.data.image_folder import DataError, ImageFolder
from jepa_kit.data.loader import Collator, build_eval_loader, build_loader
from jepa_kit.data.transforms import EvalTransform
from jepa_kit.errors import UserError
from jepa_kit.recipe import RecipeError
from jepa_kit.views.single import SingleView


class TwoArgError(UserError):
    def __init__(self, key: str, value: int) -> None:
        self.key = key
        super().__init__(f"{key} = {value} is out of range")


def through_worker(exc: BaseException) -> BaseException:
    """``exc`` as the DataLoader re-raises it in the main process."""
    try:
        raise exc
    except BaseException:
        wrapper = ExceptionWrapper(sys.exc_info(), where="in DataLoader worker process 1")
    wrapper = pickle.loads(pickle.dumps(wrapper))  # it crosses a process boundary
    with pytest.raises(BaseException) as info:
        wrapper.reraise()
    return info.value


def subclasses(cls: type) -> set[type]:
    return {c for sub in cls.__subclasses__() for c in (sub, *subclasses(sub))}


@pytest.mark.parametrize(
    "exc",
    [
        DataError("/data/a: b.png", "OSError: truncated"),
        RecipeError("r.toml", [("train.lr", "must be > 0"), ("", "second line")]),
        TwoArgError("data.size", -1),
        UserError("plain"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_user_errors_survive_the_worker_boundary(exc: UserError) -> None:
    rebuilt = through_worker(exc)
    assert type(rebuilt) is type(exc) and str(rebuilt) == str(exc)
    copied = pickle.loads(pickle.dumps(exc))
    assert type(copied) is type(exc) and str(copied) == str(exc)
    assert copied.__dict__ == exc.__dict__


def test_a_rebuilt_data_error_finds_its_path(tmp_path: Path) -> None:
    path = tmp_path / "odd: name.png"
    path.write_bytes(b"")
    rebuilt = through_worker(DataError(path, "OSError: empty: really"))
    assert isinstance(rebuilt, DataError) and rebuilt.path == str(path)


def test_every_user_error_class_takes_one_string() -> None:
    for cls in subclasses(UserError) | {UserError}:
        wrapped = (f"Caught {cls.__name__} in DataLoader worker process 0.\nOriginal Traceback "
                   f"(most recent call last):\n  File \"x.py\", line 1\n"
                   f"{cls.__module__}.{cls.__qualname__}: what to fix\n")
        assert str(cls(wrapped)) == "what to fix", cls


def folder(tmp_path: Path, bad: str = "3.png") -> ImageFolder:
    for i in range(6):
        Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(tmp_path / f"{i}.png")
    (tmp_path / bad).write_bytes((tmp_path / bad).read_bytes()[:30])  # truncated
    return ImageFolder(ImageFolder.Config(root=str(tmp_path), img_size=8))


def test_a_broken_image_in_a_training_worker_is_a_data_error(tmp_path: Path) -> None:
    ds = folder(tmp_path)
    views = SingleView(SingleView.Config(), img_size=8)
    loader = build_loader(ds, views, Collator(None, 0), batch_size=2, seed=0, num_workers=2)
    with pytest.raises(DataError, match=r"^cannot read image .*3\.png: ") as info:
        list(loader)
    assert info.value.path == str(tmp_path / "3.png")
    assert "Traceback" not in str(info.value) and "set data.skip_corrupt" in str(info.value)


def test_a_broken_image_in_an_eval_worker_is_a_data_error(tmp_path: Path) -> None:
    ds = folder(tmp_path, bad="5.png")
    loader = build_eval_loader(ds, EvalTransform(ds.config), batch_size=2, num_workers=2)
    with pytest.raises(DataError, match=r"5\.png") as info:
        list(loader)
    assert info.value.path == str(tmp_path / "5.png")

"""Any folder of images: class sub-folders (the ImageNet layout) or a flat folder.

With sub-folders, each non-hidden sub-folder of ``data.root`` is a class (labels follow the
sorted folder names, as torchvision's ``ImageFolder``) and its images are found recursively;
a root with no sub-folders is one unlabelled set (labels -1). Files are listed once, sorted, so
index ``i`` is the same file on every rank and in every worker.

Validation images come from ``data.val_root`` (same class names as ``data.root``) or, with
``data.val_fraction``, from a fixed per-class hold-out of ``data.root`` that does not depend on
the run seed, so runs with different seeds are evaluated on the same images.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import torch
from PIL import Image
from pydantic import Field

from jepa_kit.data.base import Dataset, DatasetConfig
from jepa_kit.data.transforms import to_rgb
from jepa_kit.errors import UserError

DEFAULT_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".gif")
#: A corrupt file is replaced by the next readable one; give up after this many in a row.
MAX_CONSECUTIVE_SKIPS = 16
# The val_fraction hold-out is a property of the data, not of a run: a fixed seed.
_HOLDOUT_SEED = 0x1E9A

Sample = tuple[Path, int]

_PREFIX = "cannot read image "
_SKIP_HINT = " (set data.skip_corrupt = true to skip unreadable files)"


class DataError(UserError):
    """An image file could not be read; ``path`` names it (None when the message names none).

    ``DataError(path, reason)`` says so and suggests ``data.skip_corrupt``; ``DataError(message)``
    keeps a whole message (as when a loader worker's error is rebuilt in the main process) and
    finds the path in it (``reason`` is then None).
    """

    def __init__(self, path: str | os.PathLike[str], reason: str | None = None) -> None:
        self.reason = reason
        if reason is None:
            super().__init__(str(path))
            self.path = _path_in(str(self))
        else:
            self.path = str(path)
            super().__init__(f"{_PREFIX}{self.path}: {reason}{_SKIP_HINT}")


def _path_in(message: str) -> str | None:
    """The path in a ``"cannot read image PATH: ..."`` message; a path may hold ': '."""
    if not message.startswith(_PREFIX):
        return None
    rest = message[len(_PREFIX) :]
    cuts = [i for i in range(len(rest)) if rest.startswith(": ", i)]
    existing = [c for c in cuts if os.path.exists(rest[:c])]
    return rest[: (existing or cuts or [len(rest)])[0]]


class ImageFolderConfig(DatasetConfig):
    """Options of a folder-of-images dataset."""

    kind: Literal["image_folder"] = "image_folder"
    root: str = Field(
        ...,
        min_length=1,
        description="Folder of training images: one sub-folder per class, or images directly.",
    )
    val_root: str | None = Field(
        None, min_length=1, description="Folder of validation images, same class sub-folders."
    )
    val_fraction: float = Field(
        0.0,
        ge=0.0,
        le=0.5,
        description="Share of each class in data.root held out for validation (no val_root).",
    )
    skip_corrupt: bool = Field(
        False, description="Replace unreadable images by the next readable one and count them."
    )
    extensions: tuple[str, ...] = Field(
        DEFAULT_EXTENSIONS,
        min_length=1,
        description="File name endings taken as images (case-insensitive).",
    )


def _check_dir(key: str, path: str) -> Path:
    folder = Path(path).expanduser()
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise UserError(
            f"data.{key} = {path!r} {what}; point it at a folder of images (one sub-folder per "
            "class, or images directly), or use recipes/quickstart.toml for the built-in "
            "synthetic dataset that needs no download"
        )
    return folder


def _class_dirs(folder: Path) -> list[str]:
    return sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))


def _images_under(folder: Path, extensions: tuple[str, ...], recursive: bool) -> list[Path]:
    ends = tuple(e.lower() for e in extensions)
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if recursive else []
        found.extend(
            Path(dirpath, f) for f in filenames if f.lower().endswith(ends) and f[0] != "."
        )
    return sorted(found)


def _holdout(n: int, fraction: float, salt: int) -> set[int]:
    """Positions (of ``n``) held out for validation: a fixed random ``round(fraction * n)``."""
    k = round(fraction * n)
    if k == 0:
        return set()
    g = torch.Generator().manual_seed(_HOLDOUT_SEED + salt)
    return set(torch.randperm(n, generator=g)[:k].tolist())


class ImageFolder(Dataset):
    """Images from a folder as RGB ``PIL.Image`` with integer labels (-1 for a flat folder).

    ``skipped`` counts unreadable files replaced in this process (with ``skip_corrupt``) and
    ``last_skipped`` names those replaced while reading the latest item; the loader copies both
    into each sample, so they reach the batch from any worker process.
    """

    Config = ImageFolderConfig

    def __init__(self, config: ImageFolderConfig, train: bool = True, seed: int = 0) -> None:
        self.config = config
        self.train = train
        self.skipped = 0
        self.last_skipped: tuple[str, ...] = ()
        root = self.check_root(config)
        self.classes = _class_dirs(root)
        if not train and config.val_root is None and config.val_fraction == 0.0:
            raise UserError(
                f"data.root = {config.root!r} has no validation split; set data.val_root to a "
                "folder of validation images or data.val_fraction > 0"
            )
        source = root if train or config.val_root is None else Path(config.val_root).expanduser()
        self.samples = self._list(source)
        if not train and config.val_root is None:
            self.samples = self._split(self.samples, keep_held_out=True)
        elif train and config.val_root is None and config.val_fraction > 0.0:
            self.samples = self._split(self.samples, keep_held_out=False)
        #: The recipe key naming the folder the samples come from, and that folder.
        self.source_key = "root" if source == root else "val_root"
        self.source = source
        if not self.samples:
            raise UserError(
                f"data.{self.source_key} = {str(source)!r} holds no images ending in "
                f"{', '.join(config.extensions)}"
            )

    @classmethod
    def check_root(cls, config: ImageFolderConfig) -> Path:
        """Raise ``ValueError`` naming the key unless the folders exist; lists no files."""
        root = _check_dir("root", config.root)
        if config.val_root is not None:
            _check_dir("val_root", config.val_root)
        return root

    def _list(self, folder: Path) -> list[Sample]:
        exts = self.config.extensions
        if not self.classes:
            return [(p, -1) for p in _images_under(folder, exts, recursive=False)]
        found = _class_dirs(folder)
        extra = sorted(set(found) - set(self.classes))
        if extra:
            raise UserError(
                f"data.val_root = {str(folder)!r} has class folders {extra} that data.root = "
                f"{self.config.root!r} does not have; the two must use the same class names"
            )
        return [
            (p, label)
            for label, name in enumerate(self.classes)
            if name in found
            for p in _images_under(folder / name, exts, recursive=True)
        ]

    def _split(self, samples: list[Sample], keep_held_out: bool) -> list[Sample]:
        # Per class, so every class keeps the same share in both splits.
        by_label: dict[int, list[Sample]] = {}
        for s in samples:
            by_label.setdefault(s[1], []).append(s)
        kept: list[Sample] = []
        for label, group in by_label.items():
            held = _holdout(len(group), self.config.val_fraction, salt=label + 1)
            kept.extend(s for i, s in enumerate(group) if (i in held) == keep_held_out)
        return sorted(kept, key=lambda s: (s[1], s[0]))

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, index: int) -> tuple[Image.Image, int]:
        """Read sample ``index`` as RGB; ``DataError`` naming the file if it cannot be read.

        Any mode becomes 8-bit RGB by ``transforms.to_rgb``: 16-bit grey scaled by its bit
        depth, alpha dropped, palette and CMYK converted.
        """
        path, label = self.samples[index]
        try:
            with Image.open(path) as img:
                return to_rgb(img), label
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise DataError(path, f"{type(exc).__name__}: {exc}") from exc

    def __getitem__(self, index: int) -> tuple[Image.Image, int]:
        self.last_skipped = ()
        if not self.config.skip_corrupt:
            return self.load(index)
        failed: list[DataError] = []
        # Each file at most once, however small the folder.
        for offset in range(min(MAX_CONSECUTIVE_SKIPS + 1, len(self.samples))):
            try:
                image = self.load((index + offset) % len(self.samples))
            except DataError as exc:
                failed.append(exc)
                continue
            self.skipped += len(failed)
            self.last_skipped = tuple(str(exc.path) for exc in failed)
            return image
        raise self._all_failed(failed)

    def _all_failed(self, failed: list[DataError]) -> DataError:
        # data.skip_corrupt is on: suggesting it would not help, the folder needs a look.
        first = failed[0]
        if len(failed) == len(self.samples):
            names = ", ".join(str(exc.path) for exc in failed[:3])
            more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
            message = (
                f"every one of the {len(failed)} image files taken from data.{self.source_key} = "
                f"{str(self.source)!r} is unreadable ({names}{more}), so data.skip_corrupt has "
                f"nothing to replace them with; the first: {first.reason}"
            )
        else:
            message = (
                f"it and the {len(failed) - 1} files after it are all unreadable, more than "
                f"data.skip_corrupt replaces in a row ({MAX_CONSECUTIVE_SKIPS}); check the "
                f"folder. The first: {first.reason}"
            )
        exc = DataError(f"{_PREFIX}{first.path}: {message}")
        exc.__cause__ = first.__cause__
        return exc

"""Any folder of video files: class sub-folders (Kinetics' layout) or a flat folder.

Listing, labels and the validation split follow ``image_folder`` (sorted class folders, files
found recursively, ``data.val_root`` or a fixed per-class ``data.val_fraction`` hold-out). A
video gives ``data.num_clips`` items, clip ``c`` of video ``v`` at index ``v * num_clips + c``;
each is ``data.num_frames`` frames picked by the official V-JEPA sampler
(``jepa_kit.data.video_sampling``) and decoded with PyAV (``jepa_kit.data.video_decode``), as
uint8 (T, 3, H, W). In training the clip's position in its partition of the video is random,
drawn from the sample's seeded generator (``random_item``); ``dataset[index]`` (evaluation)
reads the first position, as the reference does without ``random_clip_sampling``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar, Literal

import torch
from pydantic import Field

from jepa_kit.data.base import Dataset, DatasetConfig
from jepa_kit.data.image_folder import MAX_CONSECUTIVE_SKIPS, _class_dirs, _holdout, _images_under
from jepa_kit.data.video_decode import VideoReadError, import_av, read_clip
from jepa_kit.data.video_sampling import clip_indices, clip_span
from jepa_kit.errors import UserError

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg")
_PREFIX = "cannot read video "
_SKIP_HINT = " (set data.skip_corrupt = true to skip unreadable files)"


class VideoDataError(UserError):
    """A video file could not be read or is too short; ``path`` names it."""

    def __init__(self, path: str | os.PathLike[str], reason: str, hint: str = _SKIP_HINT, *,
                 short: bool = False) -> None:
        self.path = str(path)
        self.reason = reason
        self.short = short  # readable, but fewer frames than a clip spans
        super().__init__(f"{_PREFIX}{self.path}: {reason}{hint}")


class VideoFolderConfig(DatasetConfig):
    """Options of a folder-of-videos dataset; sampling defaults are V-JEPA's pre-training."""

    kind: Literal["video_folder"] = "video_folder"
    root: str = Field(..., min_length=1, description="Folder of training videos: one "
                      "sub-folder per class, or videos directly.")
    val_root: str | None = Field(None, min_length=1,
                                 description="Folder of validation videos, same class folders.")
    val_fraction: float = Field(0.0, ge=0.0, le=0.5, description="Share of each class in "
                                "data.root held out for validation (no val_root).")
    num_frames: int = Field(16, ge=1, le=1024, description="Frames per clip T (V-JEPA: 16).")
    frame_step: int = Field(4, ge=1, le=256, description="Frames between the clip's frames in "
                            "the video, the reference's sampling_rate (V-JEPA: 4).")
    num_clips: int = Field(1, ge=1, le=64, description="Clips per video, one from each of "
                           "num_clips equal partitions; each is its own item (V-JEPA: 1).")
    short_videos: Literal["pad", "skip", "error"] = Field(
        "pad", description="A video shorter than num_frames * frame_step frames: pad (spread "
        "over what it has, then repeat its last frame, the reference's default), skip (replace "
        "it by the next video and count it, as the reference's filter_short_videos) or error.")
    skip_corrupt: bool = Field(False, description="Replace unreadable videos by the next "
                               "readable one and count them.")
    extensions: tuple[str, ...] = Field(VIDEO_EXTENSIONS, min_length=1, description="File "
                                        "name endings taken as videos (case-insensitive).")


def _check_dir(key: str, path: str) -> Path:
    folder = Path(path).expanduser()
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise UserError(f"data.{key} = {path!r} {what}; point it at a folder of videos (one "
                        "sub-folder per class, or videos directly), or use data.kind = "
                        "\"synthetic_video\" for the built-in set that needs no download")
    return folder


class VideoFolder(Dataset):
    """Clips from a folder of videos as uint8 (T, 3, H, W) with integer labels (-1 if flat).

    ``skipped`` counts files replaced in this process (unreadable with ``skip_corrupt``, short
    with ``short_videos = "skip"``) and ``last_skipped`` names those replaced while reading the
    latest item; the loader copies both into each sample (``Batch.skipped_files``).
    """

    Config = VideoFolderConfig
    #: Items are clips, uint8 (T, 3, H, W).
    modality: ClassVar[str] = "video"

    def __init__(self, config: VideoFolderConfig, train: bool = True, seed: int = 0) -> None:
        import_av()  # say how to install PyAV now, not in a loader worker
        self.config = config
        self.train = train
        self.num_frames = config.num_frames
        self.skipped = 0
        self.last_skipped: tuple[str, ...] = ()
        root = _check_dir("root", config.root)
        if config.val_root is not None:
            _check_dir("val_root", config.val_root)
        self.classes = _class_dirs(root)
        if not train and config.val_root is None and config.val_fraction == 0.0:
            raise UserError(f"data.root = {config.root!r} has no validation split; set "
                            "data.val_root to a folder of validation videos or "
                            "data.val_fraction > 0")
        source = root if train or config.val_root is None else Path(config.val_root).expanduser()
        self.source_key = "root" if source == root else "val_root"
        self.videos = self._list(source)
        if config.val_root is None and config.val_fraction > 0.0:
            self.videos = self._split(self.videos, keep_held_out=not train)
        if not self.videos:
            raise UserError(f"data.{self.source_key} = {str(source)!r} holds no videos ending "
                            f"in {', '.join(config.extensions)}")

    def _list(self, folder: Path) -> list[tuple[Path, int]]:
        exts = self.config.extensions
        if not self.classes:
            return [(p, -1) for p in _images_under(folder, exts, recursive=False)]
        found = _class_dirs(folder)
        extra = sorted(set(found) - set(self.classes))
        if extra:
            raise UserError(f"data.val_root = {str(folder)!r} has class folders {extra} that "
                            f"data.root = {self.config.root!r} does not have; the two must use "
                            "the same class names")
        return [(p, label) for label, name in enumerate(self.classes) if name in found
                for p in _images_under(folder / name, exts, recursive=True)]

    def _split(self, videos: list[tuple[Path, int]], keep_held_out: bool
               ) -> list[tuple[Path, int]]:
        by_label: dict[int, list[tuple[Path, int]]] = {}
        for v in videos:
            by_label.setdefault(v[1], []).append(v)
        kept = []
        for label, group in by_label.items():
            held = _holdout(len(group), self.config.val_fraction, salt=label + 1)
            kept.extend(v for i, v in enumerate(group) if (i in held) == keep_held_out)
        return sorted(kept, key=lambda v: (v[1], v[0]))

    def __len__(self) -> int:
        return len(self.videos) * self.config.num_clips

    def load(self, index: int, generator: torch.Generator | None = None
             ) -> tuple[torch.Tensor, int]:
        """Clip ``index`` (random position with ``generator``); ``VideoDataError`` naming the
        file when it cannot be read, or is short and ``short_videos`` is not ``pad``."""
        cfg = self.config
        path, label = self.videos[index // cfg.num_clips]
        span = clip_span(cfg.num_frames, cfg.frame_step)

        def pick(frames: int) -> list[int]:
            if frames < span and cfg.short_videos != "pad":
                hint = "" if cfg.short_videos == "skip" else (
                    " (data.short_videos = \"pad\" repeats its last frame, \"skip\" skips it)")
                raise VideoDataError(path, f"it has {frames} frames, fewer than data.num_frames "
                                     f"* data.frame_step = {span}", hint, short=True)
            if frames == 0:
                raise VideoReadError("it holds no video frames")
            return clip_indices(frames, cfg.num_frames, cfg.frame_step,
                                num_clips=cfg.num_clips, clip=index % cfg.num_clips,
                                generator=generator)

        try:
            return read_clip(path, pick)[0], label
        except VideoReadError as exc:
            raise VideoDataError(path, str(exc)) from exc

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.random_item(index, None)

    def random_item(self, index: int, generator: torch.Generator | None
                    ) -> tuple[torch.Tensor, int]:
        """Item ``index``, its clip position drawn from ``generator`` in training (the loader
        passes the sample's seeded generator); unreadable or short files replaced by the next
        video's clip when the config says so."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} clips")
        self.last_skipped = ()
        generator = generator if self.train else None
        failed: list[VideoDataError] = []
        step = self.config.num_clips  # the same clip of the next video
        for offset in range(min(MAX_CONSECUTIVE_SKIPS + 1, len(self.videos))):
            try:
                item = self.load((index + offset * step) % len(self), generator)
            except VideoDataError as exc:
                skip = self.config.short_videos == "skip" if exc.short else self.config.skip_corrupt
                if not skip:
                    raise
                failed.append(exc)
                continue
            self.skipped += len(failed)
            self.last_skipped = tuple(exc.path for exc in failed)
            return item
        first = failed[0]
        scope = (f"every one of the {len(failed)} videos in data.{self.source_key}"
                 if len(failed) == len(self.videos) else
                 f"it and the {len(failed) - 1} videos after it ({MAX_CONSECUTIVE_SKIPS} in a "
                 "row is the most data.skip_corrupt replaces)")
        raise VideoDataError(first.path, f"{first.reason}; {scope} cannot be used, so there is "
                             "nothing to replace them with; check the folder", "")

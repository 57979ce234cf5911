"""video_folder: real files written with PyAV, the right frames, broken and short files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from jepa_kit.data import video_decode
from jepa_kit.data.loader import Collator, build_loader
from jepa_kit.data.video_decode import count_frames, read_frames, write_video
from jepa_kit.data.video_folder import VideoDataError, VideoFolder
from jepa_kit.data.video_sampling import clip_indices
from jepa_kit.errors import UserError
from jepa_kit.registry import registry
from jepa_kit.views.video import VideoClip

SIDE = 32


def coded(frames: int, offset: int = 0) -> torch.Tensor:
    """Frame i is flat grey 10 + 6 i (+ offset): its index survives lossy coding."""
    levels = [10 + 6 * i + offset for i in range(frames)]
    return torch.stack([torch.full((3, SIDE, SIDE), v, dtype=torch.uint8) for v in levels])


def frame_ids(clip: torch.Tensor, offset: int = 0) -> list[int]:
    return [round((float(f.float().mean()) - 10 - offset) / 6) for f in clip]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two classes: a/ has videos of 24 and 20 frames, b/ one of 28 (grey offset 2)."""
    for name, lengths, offset in (("a", (24, 20), 0), ("b", (28,), 2)):
        (tmp_path / name).mkdir()
        for i, n in enumerate(lengths):
            write_video(tmp_path / name / f"v{i}.mp4", coded(n, offset))
    (tmp_path / "a" / "notes.txt").write_text("not a video")
    return tmp_path


def make(root: Path, train: bool = True, **fields: object) -> VideoFolder:
    config = {"root": str(root), "num_frames": 4, "frame_step": 2, "num_workers": 0}
    config.update(fields)
    return VideoFolder(VideoFolder.Config(**config), train=train)


def test_registered_with_vjepa_defaults() -> None:
    cls = registry("dataset").load("video_folder")
    assert cls is VideoFolder
    config = VideoFolder.Config(root="x")
    assert (config.num_frames, config.frame_step, config.num_clips) == (16, 4, 1)
    assert config.short_videos == "pad" and not config.skip_corrupt


def test_decode_reads_the_asked_frames(folder: Path) -> None:
    path = folder / "a" / "v0.mp4"
    assert count_frames(path) == 24
    clip = read_frames(path, [5, 0, 23, 5])
    assert clip.shape == (4, 3, SIDE, SIDE) and clip.dtype == torch.uint8
    assert frame_ids(clip) == [5, 0, 23, 5]


def test_seeking_to_a_keyframe_gives_what_a_full_decode_gives(tmp_path: Path) -> None:
    path = tmp_path / "gop.mp4"
    write_video(path, coded(40), keyframe_interval=6)
    full = read_frames(path, list(range(40)))
    assert frame_ids(full) == list(range(40))
    for indices in ([30, 31, 35], [39], [13, 2, 27, 27], [6, 12, 18]):
        assert torch.equal(read_frames(path, indices), full[indices])
    container, stream = video_decode._open(path)
    try:
        index = video_decode._Index(container, stream)
        assert index.count == 40 and len(index.keyframes) > 4  # something to seek to
        index.pts = None  # no timestamps: decoded from the start and counted
        assert torch.equal(video_decode._decode(container, stream, index, [33, 5]),
                           full[[33, 5]])
    finally:
        container.close()


def test_items_are_the_sampled_frames(folder: Path) -> None:
    data = make(folder, train=False, val_fraction=0.0, val_root=str(folder))
    assert data.classes == ["a", "b"] and len(data) == 3 and data.modality == "video"
    assert [label for _, label in data.videos] == [0, 0, 1]
    clip, label = data[2]
    assert clip.shape == (4, 3, SIDE, SIDE) and label == 1
    # Evaluation reads the first window: linspace(0, 8, 4) -> 0, 2, 5, 7.
    assert frame_ids(clip, offset=2) == clip_indices(28, 4, 2) == [0, 2, 5, 7]


def test_training_windows_are_random_per_generator_and_reproducible(folder: Path) -> None:
    data = make(folder)
    windows = set()
    for seed in range(8):
        clip, _ = data.random_item(0, torch.Generator().manual_seed(seed))
        again, _ = data.random_item(0, torch.Generator().manual_seed(seed))
        assert torch.equal(clip, again)
        ids = frame_ids(clip)
        expected = clip_indices(24, 4, 2, generator=torch.Generator().manual_seed(seed))
        assert ids == expected
        windows.add(ids[0])
    assert len(windows) > 2  # the window moves with the seed
    assert frame_ids(data[0][0]) == [0, 2, 5, 7]  # dataset[index] stays the first window


def test_clips_per_video_are_items_from_each_partition(folder: Path) -> None:
    data = make(folder, num_clips=2)
    assert len(data) == 6
    assert frame_ids(data[0][0]) == [0, 2, 5, 7]
    assert frame_ids(data[1][0]) == [12, 14, 17, 19]  # partition 2 of 24 frames starts at 12
    assert data[1][1] == data[0][1] == 0 and data[5][1] == 1


def test_loader_gives_five_dimensional_batches(folder: Path) -> None:
    data = make(folder)
    views = VideoClip(VideoClip.Config(), img_size=16)
    batch = next(iter(build_loader(data, views, Collator(None, seed=0), batch_size=3, seed=0,
                                   num_workers=0)))
    assert batch.views[0].shape == (3, 3, 4, 16, 16) and sorted(batch.labels.tolist()) == [0, 0, 1]


def _break(folder: Path) -> Path:
    bad = folder / "a" / "v1.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"garbage" * 300)
    return bad


def test_broken_file_is_named_or_skipped_and_counted(folder: Path) -> None:
    bad = _break(folder)
    strict = make(folder)
    with pytest.raises(VideoDataError, match=rf"cannot read video {bad}: .*Invalid data.*"
                                             r"set data.skip_corrupt = true"):
        strict[1]
    lenient = make(folder, skip_corrupt=True)
    clip, label = lenient[1]  # replaced by the next video, its label included
    assert frame_ids(clip, offset=2) == [0, 2, 5, 7] and label == 1
    assert lenient.skipped == 1 and lenient.last_skipped == (str(bad),)
    lenient[0]
    assert lenient.last_skipped == () and lenient.skipped == 1
    views = VideoClip(VideoClip.Config(), img_size=16)
    batch = next(iter(build_loader(lenient, views, Collator(None, seed=0), batch_size=3,
                                   seed=0, num_workers=0)))
    assert batch.skipped == 1 and batch.skipped_files == (str(bad),)


def test_every_file_broken_says_so(tmp_path: Path) -> None:
    (tmp_path / "x.mp4").write_bytes(b"nothing")
    (tmp_path / "y.mp4").write_bytes(b"")
    data = make(tmp_path, skip_corrupt=True)
    assert data.classes == [] and data.videos[0][1] == -1
    with pytest.raises(VideoDataError, match=r"every one of the 2 videos in data.root cannot "
                                             r"be used"):
        data[0]


def test_short_videos_pad_skip_or_error(folder: Path) -> None:
    # 4 frames at step 8 span 32: all three videos are short. Padding spreads 24 // 8 = 3
    # frames over the video (linspace(0, 24, 3), clipped) and repeats the last, as the reference.
    padded = make(folder, frame_step=8)
    assert frame_ids(padded[0][0]) == clip_indices(24, 4, 8) == [0, 12, 23, 23]
    write_video(folder / "b" / "v1.mp4", coded(40, 2))  # the one long enough
    skipping = make(folder, frame_step=8, short_videos="skip")
    clip, label = skipping[2]  # b/v0 (28 frames) is short: b/v1 stands in
    assert label == 1 and frame_ids(clip, offset=2) == [0, 10, 21, 31]
    assert skipping.skipped == 1 and skipping.last_skipped == (str(folder / "b" / "v0.mp4"),)
    strict = make(folder, frame_step=8, short_videos="error")
    with pytest.raises(VideoDataError, match=r"v0.mp4: it has 24 frames, fewer than "
                                             r"data.num_frames \* data.frame_step = 32 "
                                             r"\(data.short_videos = \"pad\""):
        strict[0]
    with pytest.raises(VideoDataError, match="it has 24 frames"):  # not skip_corrupt's business
        make(folder, frame_step=8, short_videos="error", skip_corrupt=True)[0]


def test_val_fraction_and_missing_splits(folder: Path, tmp_path_factory: pytest.TempPathFactory
                                         ) -> None:
    train = make(folder, val_fraction=0.5)
    val = make(folder, train=False, val_fraction=0.5)
    assert len(train) + len(val) == 3 and {p for p, _ in train.videos}.isdisjoint(
        p for p, _ in val.videos)
    with pytest.raises(UserError, match=r"has no validation split; set data.val_root"):
        make(folder, train=False)
    with pytest.raises(UserError, match=r"data.root = '/no/such/dir' does not exist; point it "
                                        r"at a folder of videos"):
        make(Path("/no/such/dir"))
    empty = tmp_path_factory.mktemp("empty")
    (empty / "c").mkdir()
    with pytest.raises(UserError, match=r"holds no videos ending in .mp4, .avi"):
        make(empty)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"frame_step": 0}, "frame_step"),
        ({"num_frames": 0}, "num_frames"),
        ({"num_clips": 0}, "num_clips"),
        ({"short_videos": "drop"}, "short_videos"),
        ({"frames_per_clip": 16}, "frames_per_clip"),
    ],
)
def test_bad_config(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        VideoFolder.Config(root="x", **fields)


def test_broken_file_in_a_loader_worker_is_a_user_error_naming_it(folder: Path) -> None:
    bad = _break(folder)
    views = VideoClip(VideoClip.Config(), img_size=16)
    loader = build_loader(make(folder), views, Collator(None, seed=0), batch_size=3, seed=0,
                          num_workers=1)
    with pytest.raises(VideoDataError, match=rf"^cannot read video {bad}: .*skip_corrupt"):
        next(iter(loader))

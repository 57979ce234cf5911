"""The V-JEPA frame sampler: exact indices, partitions per clip, padding of short videos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from jepa_kit.data.video_sampling import clip_indices, clip_span


def test_vjepa_default_clip_spreads_16_frames_over_64() -> None:
    # linspace(0, 64, 16) clipped to 63 and truncated, as the reference: the stride is 64/15.
    expected = [0, 4, 8, 12, 17, 21, 25, 29, 34, 38, 42, 46, 51, 55, 59, 63]
    assert clip_span(16, 4) == 64
    assert clip_indices(300, 16, 4) == expected
    assert clip_indices(65, 16, 4) == expected


def test_clips_come_from_their_partitions() -> None:
    assert clip_indices(100, 4, 2, num_clips=2, clip=0) == [0, 2, 5, 7]
    assert clip_indices(100, 4, 2, num_clips=2, clip=1) == [50, 52, 55, 57]
    assert clip_indices(90, 3, 5, num_clips=3, clip=2) == [60, 67, 74]  # linspace(0, 15, 3)


def test_short_video_is_spread_then_padded_with_its_last_frame() -> None:
    assert clip_indices(10, 4, 4) == [0, 9, 9, 9]  # 10 // 4 = 2 spread frames, then padding
    assert clip_indices(16, 4, 4) == [0, 5, 10, 15]  # exactly one span: not longer, spread
    assert clip_indices(3, 4, 4) == [2, 2, 2, 2]  # fewer frames than one step
    assert clip_indices(2, 2, 1, num_clips=4, clip=3) == [0, 1]  # fewer frames than clips


@pytest.mark.parametrize("seed", range(5))
def test_random_window_stays_in_the_partition(seed: int) -> None:
    first = clip_indices(200, 4, 3, num_clips=2, clip=1,
                         generator=torch.Generator().manual_seed(seed))
    again = clip_indices(200, 4, 3, num_clips=2, clip=1,
                         generator=torch.Generator().manual_seed(seed))
    assert first == again and len(first) == 4
    # The window [end - 12, end) ends in [12, 100) of partition [100, 200).
    start = first[0] - 100
    assert 0 <= start <= 100 - 1 - 12 and first[-1] == start + 100 + 11
    assert first == [start + 100 + d for d in (0, 4, 8, 11)]


def test_random_windows_cover_the_partition() -> None:
    starts = {clip_indices(40, 4, 2, generator=torch.Generator().manual_seed(s))[0]
              for s in range(200)}
    assert starts == set(range(40 - 1 - 8 + 1))  # end in [8, 40): start in [0, 31]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="a video of 0 frames has no clip"):
        clip_indices(0, 4, 2)
    with pytest.raises(ValueError, match=r"clip 2 is not in \[0, num_clips=2\)"):
        clip_indices(50, 4, 2, num_clips=2, clip=2)
    with pytest.raises(ValueError, match=r"end 40 is not in \[span=8, partition=40\)"):
        clip_indices(40, 4, 2, end=40)


def test_matches_the_official_sampler() -> None:
    """Every case of tests/fixtures/vjepa_sampling (the official loadvideo_decord's indices)."""
    path = Path(__file__).resolve().parents[1] / "fixtures" / "vjepa_sampling" / "indices.json"
    cases = json.loads(path.read_text())
    assert len(cases) == 453
    for case in cases:
        for clip, expected in enumerate(case["indices"]):
            got = clip_indices(case["frames"], case["num_frames"], case["frame_step"],
                               num_clips=case["num_clips"], clip=clip, end=case["end"])
            assert got == expected, case

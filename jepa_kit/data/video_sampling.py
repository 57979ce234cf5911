"""Which frames of a video make a clip: the official V-JEPA sampler, as a pure function.

The video is cut into ``num_clips`` equal partitions and clip ``i`` comes from partition ``i``
(Bardes et al., V-JEPA, 2024, arXiv:2404.08471; the reference ``VideoDataset.loadvideo_decord``
with ``allow_clip_overlap=False``). A clip spans ``span = num_frames * frame_step`` frames: when
the partition is longer, the window ends at a random frame in ``[span, partition)`` in training
(at ``span`` otherwise) and ``num_frames`` indices are spread over it by
``linspace(start, end, num_frames)``, clipped to ``end - 1`` and truncated to integers, exactly
as the reference (so the stride is ``span / (num_frames - 1)`` rounded down, not always
``frame_step``: 16 frames at step 4 read 0, 4, 8, 12, 17, 21, ...). A partition no longer than
the span is read at ``partition // frame_step`` spread indices and padded by repeating its last
frame to ``num_frames``.
"""

from __future__ import annotations

import numpy as np
import torch


def clip_span(num_frames: int, frame_step: int) -> int:
    """Frames a clip covers, ``num_frames * frame_step`` (the reference's ``clip_len``); a
    video shorter than this is "short" (``data.short_videos``)."""
    return num_frames * frame_step


def clip_indices(video_frames: int, num_frames: int, frame_step: int, *, num_clips: int = 1,
                 clip: int = 0, generator: torch.Generator | None = None,
                 end: int | None = None) -> list[int]:
    """Frame indices (``num_frames`` of them, in [0, video_frames)) of clip ``clip`` of
    ``num_clips``. In a partition longer than the span the window ends at ``end`` (within the
    partition) when given, else at a random frame when ``generator`` is given, else at the
    span (the first window)."""
    if video_frames < 1:
        raise ValueError(f"a video of {video_frames} frames has no clip")
    if not 0 <= clip < num_clips:
        raise ValueError(f"clip {clip} is not in [0, num_clips={num_clips})")
    span = clip_span(num_frames, frame_step)
    partition = video_frames // num_clips
    if partition < 1:  # fewer frames than clips: every clip reads the whole video
        partition, offset = video_frames, 0
    else:
        offset = clip * partition
    if partition > span:
        if end is None:
            end = span
            if generator is not None:  # numpy's randint(span, partition): high exclusive
                end = int(torch.randint(span, partition, (1,), generator=generator).item())
        elif not span <= end < partition:
            raise ValueError(f"end {end} is not in [span={span}, partition={partition})")
        start = end - span
        spread = np.linspace(start, end, num=num_frames)
        indices = np.clip(spread, start, end - 1).astype(np.int64)
    else:
        count = partition // frame_step
        spread = np.linspace(0, partition, num=count)
        padded = np.concatenate((spread, np.full(num_frames - count, float(partition))))
        indices = np.clip(padded, 0, partition - 1).astype(np.int64)
    return (indices + offset).tolist()

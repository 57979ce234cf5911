"""Reading (and, for tests and benchmarks, writing) video files with PyAV.

PyAV (``pip install 'jepa-kit[video]'``, the ``av`` package) wraps FFmpeg and its wheels bundle
the FFmpeg libraries, so it installs anywhere pip does; torchcodec, the other well-kept choice,
needs FFmpeg installed on the system and did not load without it (docs/data.md#video-data has
the figures). PyAV is imported on first use only, so jepa-kit imports without it.

Frame ``i`` is the ``i``-th frame in presentation order, found from the packets' timestamps
(read without decoding, so variable frame rates cannot shift a clip; a file whose packets lack
timestamps is decoded from the start and its frames counted). A clip is decoded from the last
keyframe at or before its first frame, not from the start of the file, and decoding stops after
its last frame.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from jepa_kit.errors import UserError

INSTALL_HINT = "install PyAV with `pip install 'jepa-kit[video]'` (or `pip install av`)"


class VideoReadError(Exception):
    """A file could not be decoded; the message is the reason (the caller names the file)."""


def import_av() -> Any:
    """The ``av`` module, or a ``UserError`` saying how to install it."""
    try:
        import av
    except ImportError as exc:
        raise UserError(f"reading video files needs PyAV, which is not installed: "
                        f"{INSTALL_HINT}") from exc
    return av


def _open(path: str | os.PathLike[str]) -> tuple[Any, Any]:
    av = import_av()
    try:
        container = av.open(os.fspath(path))
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise VideoReadError(f"{type(exc).__name__}: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise VideoReadError("it holds no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame and slice threads: FFmpeg's own, no Python threads
    return container, stream


class _Index:
    """Where each frame of a stream is, read from its packets without decoding them.

    ``pts`` lists the frames' presentation timestamps in presentation order (frame ``i`` is
    ``pts[i]``), ``keyframes`` the frame indices a decoder can start from. ``pts`` is None
    when a packet has no timestamp or two share one: frames are then counted as decoded.
    """

    def __init__(self, container: Any, stream: Any) -> None:
        stamps: list[int | None] = []
        keys: set[int | None] = set()
        for packet in container.demux(stream):
            if packet.size == 0:  # the demuxer's end-of-stream marker
                continue
            stamps.append(packet.pts)
            if packet.is_keyframe:
                keys.add(packet.pts)
        self.count = len(stamps)
        self.pts: list[int] | None = None
        self.keyframes: list[int] = [0]
        if None not in stamps and len(set(stamps)) == len(stamps):
            self.pts = sorted(s for s in stamps if s is not None)
            self.keyframes = [i for i, p in enumerate(self.pts) if p in keys] or [0]


def count_frames(path: str | os.PathLike[str]) -> int:
    """Frames in the first video stream, counted from its packets (no decoding)."""
    return read_clip(path, lambda count: [])[1]


def read_frames(path: str | os.PathLike[str], indices: Sequence[int]) -> torch.Tensor:
    """Frames ``indices`` (any order, repeats allowed) as uint8 (len(indices), 3, H, W), RGB."""
    return read_clip(path, lambda count: list(indices))[0]


def read_clip(path: str | os.PathLike[str], pick: Callable[[int], Sequence[int]]
              ) -> tuple[torch.Tensor, int]:
    """Open ``path`` once, call ``pick(frame_count)`` for the frame indices to read and return
    them as uint8 (len, 3, H, W) RGB (an empty (0, 3, 0, 0) tensor for no index) and the count.

    Decoding starts at the last keyframe at or before the first index (a seek), not at the
    start of the file, and stops after the last index. Raises ``VideoReadError`` when the file
    does not open or decode, or ends before the last index (a truncated file); whatever
    ``pick`` raises passes through.
    """
    av = import_av()
    container, stream = _open(path)
    try:
        index = _Index(container, stream)
        indices = list(pick(index.count))
        if not indices:
            return torch.empty(0, 3, 0, 0, dtype=torch.uint8), index.count
        if min(indices) < 0:
            raise ValueError(f"frame indices must be non-negative, got {indices}")
        return _decode(container, stream, index, indices), index.count
    except (av.FFmpegError, OSError, EOFError) as exc:
        raise VideoReadError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        container.close()


def _decode(container: Any, stream: Any, index: _Index, indices: list[int]) -> torch.Tensor:
    wanted, last = set(indices), max(indices)
    found: dict[int, np.ndarray] = {}
    if index.pts is not None:
        start = max(k for k in index.keyframes if k <= min(indices)) if min(indices) else 0
        position = {p: i for i, p in enumerate(index.pts)}
        container.seek(index.pts[start], stream=stream, backward=True, any_frame=False)
    else:  # no timestamps to seek by: from the start, counting frames
        container.seek(0, stream=stream, backward=True, any_frame=False)
        start, position = 0, None
    decoded = start
    for frame in container.decode(stream):
        at = decoded if position is None else position.get(frame.pts, -1)
        decoded += 1
        if at in wanted:
            found[at] = frame.to_ndarray(format="rgb24")  # (H, W, 3)
        if at >= last:
            break
    missing = sorted(wanted - found.keys())
    if missing:
        raise VideoReadError(f"frame {missing[0]} did not decode (the file has "
                             f"{index.count} frame packets; it may be truncated or damaged)")
    clip = np.stack([found[i] for i in indices])  # (T, H, W, 3)
    return torch.from_numpy(clip).permute(0, 3, 1, 2).contiguous()


def write_video(path: str | os.PathLike[str], frames: torch.Tensor | np.ndarray, *,
                fps: int = 25, codec: str = "libx264", crf: int = 18,
                keyframe_interval: int | None = None) -> None:
    """Write uint8 frames (T, 3, H, W) (even H and W for yuv420p) to ``path``: test files and
    benchmark inputs. ``crf`` is x264's quality (0 is lossless, 18 near-transparent);
    ``keyframe_interval`` the most frames between keyframes (None: the encoder's default)."""
    av = import_av()
    pixels = frames.numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[1] != 3:
        raise ValueError(f"frames must be uint8 (T, 3, H, W), got {pixels.dtype} "
                         f"{pixels.shape}")
    with av.open(os.fspath(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = pixels.shape[2], pixels.shape[3]
        stream.pix_fmt = "yuv420p"
        if keyframe_interval is not None:
            stream.codec_context.gop_size = keyframe_interval
        if codec == "libx264":
            stream.options = {"crf": str(crf)}
        for image in pixels:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image.transpose(1, 2, 0)),
                                               format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)

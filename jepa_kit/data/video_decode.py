"""Reading (and, for tests and benchmarks, writing) video files with PyAV.

PyAV (``pip install 'jepa-kit[video]'``, the ``av`` package) wraps FFmpeg and its wheels bundle
the FFmpeg libraries, so it installs anywhere pip does; torchcodec, the other well-kept choice,
needs FFmpeg installed on the system and did not load without it (docs/data.md#video-data has
the figures). PyAV is imported on first use only, so jepa-kit imports without it.

Frames are decoded in order from the start and counted, so index ``i`` is the ``i``-th frame
the decoder gives whatever the container's timestamps say (variable frame rates and edit lists
cannot shift a clip), and decoding stops after the last frame a clip needs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
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


def count_frames(path: str | os.PathLike[str]) -> int:
    """Frames in the first video stream: the container's count, else its packets (no decode)."""
    av = import_av()
    container, stream = _open(path)
    try:
        if stream.frames > 0:
            return int(stream.frames)
        return sum(1 for packet in container.demux(stream) if packet.size > 0)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoReadError(f"{type(exc).__name__}: {exc}") from exc
    finally:
        container.close()


def read_frames(path: str | os.PathLike[str], indices: Sequence[int]) -> torch.Tensor:
    """Frames ``indices`` (any order, repeats allowed) as uint8 (len(indices), 3, H, W), RGB.

    Raises ``VideoReadError`` when the file does not open or decode, or ends before the last
    index (a truncated file).
    """
    if not indices or min(indices) < 0:
        raise ValueError(f"frame indices must be non-negative and non-empty, got {indices}")
    av = import_av()
    wanted = set(indices)
    last = max(indices)
    found: dict[int, np.ndarray] = {}
    container, stream = _open(path)
    decoded = 0
    try:
        for frame in container.decode(stream):
            if decoded in wanted:
                found[decoded] = frame.to_ndarray(format="rgb24")  # (H, W, 3)
            decoded += 1
            if decoded > last:
                break
    except (av.FFmpegError, OSError, ValueError, EOFError) as exc:
        raise VideoReadError(f"decoding frame {decoded} failed: {type(exc).__name__}: "
                             f"{exc}") from exc
    finally:
        container.close()
    if decoded <= last:
        raise VideoReadError(f"it ends after {decoded} decodable frames, frame {last} was "
                             "needed (a truncated or damaged file)")
    clip = np.stack([found[i] for i in indices])  # (T, H, W, 3)
    return torch.from_numpy(clip).permute(0, 3, 1, 2).contiguous()


def write_video(path: str | os.PathLike[str], frames: torch.Tensor | np.ndarray, *,
                fps: int = 25, codec: str = "libx264", crf: int = 18) -> None:
    """Write uint8 frames (T, 3, H, W) (even H and W for yuv420p) to ``path``: test files and
    benchmark inputs. ``crf`` is x264's quality (0 is lossless, 18 near-transparent)."""
    av = import_av()
    pixels = frames.numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[1] != 3:
        raise ValueError(f"frames must be uint8 (T, 3, H, W), got {pixels.dtype} "
                         f"{pixels.shape}")
    with av.open(os.fspath(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = pixels.shape[2], pixels.shape[3]
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": str(crf)}
        for image in pixels:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image.transpose(1, 2, 0)),
                                               format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)

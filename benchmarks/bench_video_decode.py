"""Video decoding: clips/s that one loader worker reads, to set against what the step consumes.

For each setting a synthetic H.264 mp4 (moving shapes with noise, ``crf 23``, 25 fps) is
written with PyAV into a temporary folder, then clips are read from it the way
``video_folder`` reads them in training: the official V-JEPA sampler picks a random window
(``jepa_kit.data.video_sampling``), the file is opened and the clip's frames decoded.

* ``decode``: clips/s of ``count_frames`` + ``read_frames`` (PyAV, the decoder jepa-kit uses);
* ``+ views``: the same plus the ``video_clip`` views (clip-consistent crop, flip, normalise),
  what a worker does per sample;
* ``torchcodec``: the same clips with torchcodec's ``VideoDecoder.get_frames_at`` (exact seek
  mode, FFmpeg's automatic thread count), when torchcodec and FFmpeg's shared libraries load;
  else the reason it did not.

Settings: V-JEPA's clip (16 frames, frame step 4) from a 224 px video of 128 frames (5 s, one
keyframe: every clip decodes from the start) and of 750 frames (30 s, a keyframe every 50
frames: a clip decodes from the keyframe before it), and the quickstart's (8 frames, step 2)
from a 32 px, 32-frame one. One process, torch on one thread;
FFmpeg may use several threads for one file (``thread_type = "AUTO"``). Multiply by
``data.num_workers`` for a loader's ceiling on a machine with that many free cores.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from common import Result, loadavg, median, script_main, settle

from jepa_kit.data.synthetic_video import draw_clip
from jepa_kit.data.video_decode import count_frames, read_frames, write_video
from jepa_kit.data.video_sampling import clip_indices
from jepa_kit.views.video import VideoClip


@dataclass(frozen=True)
class Setting:
    name: str
    side: int  # the video's width and height, px
    video_frames: int
    num_frames: int
    frame_step: int
    img_size: int  # the view's side
    keyframe_interval: int | None = None  # None: x264's default (250 frames)


SETTINGS = (
    Setting("V-JEPA 224 px 16x4, 5 s", 224, 128, 16, 4, 224),
    Setting("V-JEPA 224 px 16x4, 30 s, keyframe/2 s", 224, 750, 16, 4, 224, 50),
    Setting("quickstart 32 px 8x2", 32, 32, 8, 2, 32),
)


def make_video(folder: Path, setting: Setting) -> Path:
    grey = draw_clip(0, setting.side, setting.video_frames, np.random.default_rng(0))
    tint = np.array([1.0, 0.8, 0.6])[None, :, None, None]  # colour, so chroma is not flat
    frames = (grey.astype(np.float32) * tint).astype(np.uint8)
    path = folder / f"{setting.side}px_{setting.video_frames}.mp4"
    write_video(path, frames, crf=23, keyframe_interval=setting.keyframe_interval)
    return path


def pyav_clip(path: Path, s: Setting, generator: torch.Generator) -> torch.Tensor:
    frames = count_frames(path)
    return read_frames(path, clip_indices(frames, s.num_frames, s.frame_step,
                                          generator=generator))


def torchcodec_reader() -> tuple[Callable[[Path, Setting, torch.Generator], torch.Tensor] | None,
                                 str]:
    """torchcodec's clip reader, or None and why it cannot run here."""
    try:
        from torchcodec.decoders import VideoDecoder

        def read(path: Path, s: Setting, generator: torch.Generator) -> torch.Tensor:
            decoder = VideoDecoder(str(path), num_ffmpeg_threads=0, seek_mode="exact")
            frames = decoder.metadata.num_frames
            return decoder.get_frames_at(clip_indices(frames, s.num_frames, s.frame_step,
                                                      generator=generator)).data

        return read, ""
    except ImportError:
        return None, "not installed"
    except (OSError, RuntimeError) as exc:  # torchcodec found no FFmpeg it can load
        return None, f"does not load: {str(exc).strip().splitlines()[0][:80]}"


def clips_per_second(fn: Callable[[torch.Generator], object], clips: int, repeats: int = 3
                     ) -> float:
    fn(torch.Generator().manual_seed(10_000))  # warm-up: file cache, FFmpeg's first open
    rates = []
    for _ in range(repeats):
        tic = time.perf_counter()
        for i in range(clips):
            fn(torch.Generator().manual_seed(i))
        rates.append(clips / (time.perf_counter() - tic))
    return median(rates)


def measure(folder: Path, s: Setting, clips: int, torchcodec: Callable | None) -> dict:
    path = make_video(folder, s)
    views = VideoClip(VideoClip.Config(), img_size=s.img_size)
    clip = pyav_clip(path, s, torch.Generator().manual_seed(0))
    assert clip.shape == (s.num_frames, 3, s.side, s.side), clip.shape
    row: dict = {"setting": s.name, "file_kb": path.stat().st_size / 1024}
    row["decode_clips_s"] = clips_per_second(lambda g: pyav_clip(path, s, g), clips)
    row["views_clips_s"] = clips_per_second(lambda g: views(pyav_clip(path, s, g), g)[0], clips)
    row["torchcodec_clips_s"] = (clips_per_second(lambda g: torchcodec(path, s, g), clips)
                                 if torchcodec is not None else float("nan"))
    return row


def run(quick: bool = False) -> Result:
    """Clips/s of decoding a V-JEPA clip with PyAV (and torchcodec when it loads)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torchcodec, why = torchcodec_reader()
    try:
        busy = settle()
        load = loadavg()
        with tempfile.TemporaryDirectory(prefix="jepa-kit-bench-video-") as tmp:
            rows = [measure(Path(tmp), s, 8 if quick else 24, torchcodec) for s in SETTINGS]
    finally:
        torch.set_num_threads(threads)
    result = Result("video_decode", ["setting", "file_kb", "decode_clips_s", "views_clips_s",
                                     "torchcodec_clips_s"], rows)
    result.notes.append(f"one process, torch on 1 thread, {8 if quick else 24} random windows "
                        f"per measurement, median of 3; load average {load:.2f} at the start, "
                        f"{busy:.2f} cores busy elsewhere")
    if torchcodec is None:
        result.notes.append(f"torchcodec: {why}")
    result.track("setting", "decode_clips_s", as_name="clips_s")
    return result


if __name__ == "__main__":
    raise SystemExit(script_main(run))

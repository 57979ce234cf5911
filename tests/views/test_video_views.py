"""Video views: one crop and one flip for every frame of a clip, (3, T, S, S) out, batches 5-D."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from jepa_kit.data.loader import Collator, build_loader
from jepa_kit.data.synthetic_video import SyntheticVideo
from jepa_kit.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from jepa_kit.data.video_transforms import VideoEvalTransform, VideoTrainTransform
from jepa_kit.errors import UserError
from jepa_kit.registry import registry
from jepa_kit.testing import check_component
from jepa_kit.views.video import VideoClip

MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1, 1)
STD = torch.tensor(IMAGENET_STD).view(3, 1, 1, 1)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def ramp_clip(frames: int = 4, side: int = 16) -> torch.Tensor:
    """Frame t is a left-to-right ramp plus 10 t: every frame differs, by a constant."""
    ramp = torch.arange(side).repeat(side, 1) * (150 // side)  # (S, S), 0..<150 along x
    clip = torch.stack([ramp + 10 * t for t in range(frames)])  # (T, S, S)
    return clip[:, None].repeat(1, 3, 1, 1).to(torch.uint8)  # (T, 3, S, S)


def unnormalise(view: torch.Tensor) -> torch.Tensor:
    return view * STD * 255.0 + MEAN * 255.0  # back to 0-255, (3, T, S, S)


def test_registered_and_conforms() -> None:
    assert registry("views").load("video_clip") is VideoClip
    check_component("views", "video_clip")


def test_defaults_are_vjepa_and_output_is_channels_first() -> None:
    views = VideoClip(VideoClip.Config(), img_size=24)
    assert views.config.crop_scale == (0.3, 1.0) and views.config.crop_ratio == (0.75, 1.35)
    assert views.config.horizontal_flip and views.sizes == (24,) and views.modality == "video"
    (out,) = views(ramp_clip(5, 40), gen(0))
    assert out.shape == (3, 5, 24, 24) and out.dtype == torch.float32
    again = views(ramp_clip(5, 40), gen(0))[0]
    assert torch.equal(out, again) and not torch.equal(out, views(ramp_clip(5, 40), gen(1))[0])


def test_whole_frame_crop_is_the_clip_itself_or_its_mirror() -> None:
    """With the crop pinned to the whole frame, every view is the normalised clip, flipped or
    not as a whole: frame t keeps its +10 t and its ramp direction matches frame 0's."""
    transform = VideoTrainTransform(16, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=True)
    clip = ramp_clip()
    plain = clip.permute(1, 0, 2, 3).float()  # (3, T, S, S)
    seen = set()
    for seed in range(12):
        pixels = unnormalise(transform(clip, gen(seed)))
        flipped = bool(pixels[0, 0, 0, 0] > pixels[0, 0, 0, -1])
        seen.add(flipped)
        expected = plain.flip(-1) if flipped else plain
        torch.testing.assert_close(pixels, expected, atol=1e-3, rtol=0)
    assert seen == {True, False}


@pytest.mark.parametrize("seed", range(6))
def test_random_crop_is_the_same_for_every_frame(seed: int) -> None:
    """Crops vary with the seed, but within a clip frame t is frame 0 plus exactly 10 t: the
    same box (and flip) for all frames, since bilinear resizing maps a constant to itself."""
    transform = VideoTrainTransform(12, scale=(0.2, 0.6), ratio=(0.75, 1.35), flip=True)
    pixels = unnormalise(transform(ramp_clip(6, 32), gen(seed)))
    for t in range(6):
        torch.testing.assert_close(pixels[:, t] - pixels[:, 0],
                                   torch.full_like(pixels[:, 0], 10.0 * t), atol=2e-3, rtol=0)
    crops = {round(float(unnormalise(transform(ramp_clip(6, 32), gen(s)))[0, 0].mean()), 3)
             for s in range(6)}
    assert len(crops) > 3  # the box does move between seeds


def test_eval_transform_resizes_and_centre_crops_every_frame() -> None:
    clip = ramp_clip(3, 16)
    out = VideoEvalTransform(16, crop_fraction=1.0)(clip)
    assert out.shape == (3, 3, 16, 16)
    torch.testing.assert_close(unnormalise(out), clip.permute(1, 0, 2, 3).float(), atol=1e-3,
                               rtol=0)
    small = VideoEvalTransform(8)(ramp_clip(2, 32))  # resize to 9, centre 8
    assert small.shape == (3, 2, 8, 8)
    with pytest.raises(ValueError, match="crop_fraction"):
        VideoEvalTransform(8, crop_fraction=0.0)


def test_refuses_images_and_bad_ranges() -> None:
    views = VideoClip(VideoClip.Config(), img_size=16)
    image = torch.zeros(3, 16, 16, dtype=torch.uint8)
    with pytest.raises(UserError, match=r"views.kind = \"video_clip\" expects video clips, uint8 "
                                         r"tensors \(T, 3, H, W\), and got a torch.uint8 tensor "
                                         r"of shape \(3, 16, 16\); use a video dataset"):
        views(image, gen(0))
    with pytest.raises(ValidationError, match="views.crop_ratio must satisfy"):
        VideoClip.Config(crop_ratio=(1.5, 1.0))
    with pytest.raises(ValidationError, match="views.crop_scale must satisfy"):
        VideoClip.Config(crop_scale=(0.0, 1.0))
    with pytest.raises(ValueError, match=r"video.crop_scale must satisfy"):
        VideoTrainTransform(16, scale=(0.5, 1.2), key="video")


def test_loader_batches_clips_as_five_dimensional_views() -> None:
    data = SyntheticVideo(SyntheticVideo.Config(train_size=8, num_frames=4), train=True)
    views = VideoClip(VideoClip.Config(), img_size=16)
    loader = build_loader(data, views, Collator(None, seed=0), batch_size=4, seed=0,
                          num_workers=0)
    batches = list(loader)
    assert len(batches) == 2
    batch = batches[0]
    assert batch.views[0].shape == (4, 3, 4, 16, 16) and batch.labels.shape == (4,)
    assert batch.images is batch.views[0]
    again = next(iter(build_loader(data, views, Collator(None, seed=0), batch_size=4, seed=0,
                                   num_workers=0)))
    assert torch.equal(again.views[0], batch.views[0])

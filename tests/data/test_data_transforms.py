"""Train and eval transforms: explicit-generator randomness, reference crop box, normalisation."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from torchvision.transforms import RandomResizedCrop

from jepa_kit.data.synthetic import SyntheticShapes
from jepa_kit.data.transforms import (
    CROP_RATIO,
    IMAGENET_MEAN,
    IMAGENET_STD,
    EvalTransform,
    TrainTransform,
    crop_box,
)

Config = SyntheticShapes.Config


def image(seed: int = 0, h: int = 40, w: int = 48) -> torch.Tensor:
    return torch.randint(0, 256, (3, h, w), generator=torch.Generator().manual_seed(seed)).to(
        torch.uint8
    )


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("size", [(64, 64), (37, 200), (300, 120), (5, 7)])
def test_crop_box_matches_torchvision(size: tuple[int, int]) -> None:
    h, w = size
    for seed in range(50):
        torch.manual_seed(seed)
        expected = RandomResizedCrop.get_params(torch.empty(3, h, w), [0.3, 1.0], list(CROP_RATIO))
        assert crop_box(h, w, (0.3, 1.0), CROP_RATIO, gen(seed)) == tuple(expected)


def full_config(**overrides: object) -> TrainTransform:
    fields = {"flip": True, "color_jitter": 0.5, "gaussian_blur": True}
    fields.update(overrides)
    return TrainTransform(32, **fields)  # type: ignore[arg-type]


def test_same_generator_seed_same_output() -> None:
    t = full_config()
    x = image()
    a, b = t(x, gen(3)), t(x, gen(3))
    assert a.shape == (3, 32, 32) and a.dtype == torch.float32
    assert torch.equal(a, b) and torch.isfinite(a).all()
    assert any(not torch.equal(a, t(x, gen(s))) for s in range(4, 8))


def test_global_rng_is_untouched() -> None:
    state = torch.get_rng_state()
    full_config()(image(), gen(0))
    assert torch.equal(state, torch.get_rng_state())


def test_pil_and_tensor_inputs_agree() -> None:
    t = full_config()
    x = image()
    pil = Image.fromarray(x.permute(1, 2, 0).numpy())
    assert torch.equal(t(x, gen(1)), t(pil, gen(1)))


def test_constant_image_is_normalised_with_imagenet_stats() -> None:
    grey = torch.full((3, 50, 60), 128, dtype=torch.uint8)
    mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    expected = ((128 / 255 - mean) / std).view(3, 1, 1).expand(3, 32, 32)
    out = TrainTransform(32, flip=True)(grey, gen(0))
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(EvalTransform(Config(img_size=32))(grey), expected)


def test_eval_transform_is_a_centre_crop() -> None:
    t = EvalTransform(Config(img_size=32), crop_fraction=1.0)
    x = image(h=32, w=48)
    out = t(x)
    assert out.shape == (3, 32, 32)
    expected = (x[:, :, 8:40].float() / 255 - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / (
        torch.tensor(IMAGENET_STD).view(3, 1, 1)
    )
    torch.testing.assert_close(out, expected)


def test_bad_crop_scale_is_a_user_error() -> None:
    with pytest.raises(ValueError, match=r"views\.crop_scale"):
        TrainTransform(32, scale=(0.8, 0.3))

"""Every image mode becomes the right 8-bit RGB, checked by value (issue 13, item 5).

Pillow's ``convert("RGB")`` clips 16-bit grey (30000 of 65535 becomes 255); ``to_rgb`` keeps
the top 8 bits of the file's depth, as Pillow reads 16-bit RGB PNGs, and drops alpha as
torchvision and timm do.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from jepa_kit.data.image_folder import ImageFolder
from jepa_kit.data.transforms import to_rgb, to_uint8_tensor

PALETTE = [10, 20, 30, 200, 100, 50] + [0] * (256 * 3 - 6)


def pixel(mode: str, value: object) -> Image.Image:
    image = Image.new(mode, (3, 2))
    if mode in ("P", "PA"):
        image.putpalette(PALETTE)
    image.putpixel((1, 1), value)  # type: ignore[arg-type]
    return image


def rgb_at(image: Image.Image, xy: tuple[int, int] = (1, 1)) -> tuple[int, ...]:
    out = to_rgb(image)
    assert out.mode == "RGB" and out.size == image.size
    return out.getpixel(xy)  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("mode", "value", "expected"),
    [
        ("RGB", (10, 20, 30), (10, 20, 30)),
        ("L", 77, (77, 77, 77)),
        ("1", 1, (255, 255, 255)),
        ("LA", (77, 0), (77, 77, 77)),  # alpha dropped: the stored grey stays
        ("RGBA", (10, 20, 30, 0), (10, 20, 30)),  # fully transparent keeps its colour
        ("RGBX", (10, 20, 30, 0), (10, 20, 30)),
        ("P", 1, (200, 100, 50)),
        ("PA", (1, 0), (200, 100, 50)),
        ("CMYK", (0, 0, 0, 0), (255, 255, 255)),
        ("CMYK", (0, 0, 0, 255), (0, 0, 0)),
        ("CMYK", (255, 0, 0, 0), (0, 255, 255)),
        ("CMYK", (100, 50, 0, 100), (94, 125, 155)),  # (255 - C) * (255 - K) / 255
        ("YCbCr", (128, 128, 128), (128, 128, 128)),
        ("I;16", 30000, (117,) * 3),  # 30000 >> 8; convert("RGB") gives 255
        ("I;16", 65535, (255,) * 3),
        ("I;16", 257 * 200, (200,) * 3),  # an 8-bit value stored as 16 bits comes back
        ("I;16B", 30000, (117,) * 3),
        ("I;16L", 255, (0,) * 3),
        ("I", 30000, (117,) * 3),  # no file: fits 16 bits, so 16-bit
        ("I", 2**31 - 1, (255,) * 3),  # beyond 16 bits: signed 32-bit, >> 23
        ("I", 2**24, (2,) * 3),
        ("F", 0.5, (128,) * 3),  # [0, 1] scaled by 255, rounded
        ("F", 0.2, (51,) * 3),
        ("F", 1.5, (255,) * 3),
        ("F", -1.0, (0,) * 3),
        ("F", float("nan"), (0,) * 3),
    ],
)
def test_every_mode_by_value(mode: str, value: object, expected: tuple[int, int, int]) -> None:
    assert rgb_at(pixel(mode, value)) == expected


def test_a_negative_int_image_clips_to_black() -> None:
    image = pixel("I", -5)
    image.putpixel((0, 0), 2**20)  # not 16-bit any more: 31 bits
    assert rgb_at(image) == (0, 0, 0) and rgb_at(image, (0, 0)) == (0, 0, 0)
    assert rgb_at(pixel("I", 2**30), (1, 1)) == (128, 128, 128)


def test_palette_transparency_keeps_the_colour_without_a_warning() -> None:
    image = pixel("P", 1)
    image.info["transparency"] = bytes([255, 0])  # entry 1 fully transparent
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert rgb_at(image) == (200, 100, 50) and rgb_at(image, (0, 0)) == (10, 20, 30)


def test_to_uint8_tensor_goes_through_to_rgb() -> None:
    out = to_uint8_tensor(pixel("I;16", 30000))
    assert out.dtype == torch.uint8 and out.shape == (3, 2, 3)
    assert out[:, 1, 1].tolist() == [117, 117, 117] and out[:, 0, 0].tolist() == [0, 0, 0]
    with pytest.raises(TypeError, match="PIL image"):
        to_uint8_tensor(np.zeros((2, 2)))


def test_a_16_bit_grey_gradient_is_not_white() -> None:
    ramp = np.arange(0, 65536, 256, dtype=np.uint16).reshape(16, 16)
    out = np.asarray(to_rgb(Image.fromarray(ramp)))
    assert np.array_equal(out[..., 0], np.arange(256).reshape(16, 16))
    assert (out == 255).mean() < 0.01


def png16(path: Path, colour_type: int, samples: list[int]) -> Path:
    """A 1x1 PNG of 16 bits per sample, written by hand (Pillow cannot write 16-bit RGB)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 16, colour_type, 0, 0, 0)
    raw = b"\x00" + struct.pack(f">{len(samples)}H", *samples)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path


def save(path: Path, image: Image.Image, **options: object) -> Path:
    image.save(path, **options)
    return path


def test_files_of_every_kind_load_by_value(tmp_path: Path) -> None:
    grey16 = png16(tmp_path / "a_grey16.png", 0, [30000])
    rgb16 = png16(tmp_path / "b_rgb16.png", 2, [30000, 30000, 30000])
    grey_alpha16 = png16(tmp_path / "c_la16.png", 4, [30000, 0])
    tiff32 = save(tmp_path / "d_int32.tif", pixel("I", 2**31 - 1))
    tiff16 = save(tmp_path / "e_int16.tif", pixel("I;16", 300))
    tiff_float = save(tmp_path / "f_float.tif", pixel("F", 0.5))
    cmyk = save(tmp_path / "g_cmyk.tif", pixel("CMYK", (100, 50, 0, 100)))
    palette = pixel("P", 1)
    transparent = save(tmp_path / "h_palette.png", palette, transparency=1)
    bilevel = save(tmp_path / "i_bilevel.png", pixel("1", 1))
    grey_alpha = save(tmp_path / "j_la.png", pixel("LA", (77, 0)))
    rgba = save(tmp_path / "k_rgba.png", pixel("RGBA", (10, 20, 30, 0)))
    expected = {
        grey16: (117,) * 3,  # the same pixels as the 16-bit RGB file below
        rgb16: (117,) * 3,  # Pillow keeps the top byte itself
        grey_alpha16: (117,) * 3,
        tiff32: (255,) * 3,  # signed 32-bit: 31 value bits
        tiff16: (1,) * 3,  # 300 >> 8
        tiff_float: (128,) * 3,
        cmyk: (94, 125, 155),
        transparent: (200, 100, 50),
        bilevel: (255,) * 3,
        grey_alpha: (77,) * 3,
        rgba: (10, 20, 30),
    }
    ds = ImageFolder(ImageFolder.Config(root=str(tmp_path), extensions=(".png", ".tif")))
    assert [p for p, _ in ds.samples] == sorted(expected)
    xy = {grey16: (0, 0), rgb16: (0, 0), grey_alpha16: (0, 0)}
    for i, (path, _) in enumerate(ds.samples):
        image, label = ds[i]
        assert image.mode == "RGB" and label == -1
        assert image.getpixel(xy.get(path, (1, 1))) == expected[path], path.name

"""`jepa-kit masks` on a video recipe: a strip of frames per clip and mask generator."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from jepa_kit.cli.app import main
from jepa_kit.eval.preview import (
    CONTEXT_COLOUR,
    LABEL_WIDTH,
    PAD,
    draw_video_masks,
    target_colour,
)
from jepa_kit.maskers.base import Masks
from tests.conftest import REPO


def test_strip_paints_each_tubelet_with_its_own_masks() -> None:
    clips = torch.zeros(1, 3, 4, 16, 16)  # 2 tubelets of 2 frames, a 2x2 patch grid
    # tubelet 0: patch 0 context, patch 3 target; tubelet 1: patch 1 context, patch 2 target
    masks = Masks(torch.tensor([[0, 5]]), torch.tensor([[[3, 6]]]))
    sheet = draw_video_masks(clips, [masks], (2, 2, 2), min_tile=16)
    assert sheet.size == (LABEL_WIDTH + 2 * (16 + PAD) + PAD, 16 + 2 * PAD + 16)

    def tint(tubelet: int, patch: int) -> tuple[int, int, int]:
        r, c = divmod(patch, 2)
        return sheet.getpixel((LABEL_WIDTH + tubelet * (16 + PAD) + c * 8 + 4, PAD + r * 8 + 4))

    def close(pixel: tuple[int, int, int], colour: tuple[int, int, int]) -> bool:
        return max(pixel) > 0 and pixel.index(max(pixel)) == colour.index(max(colour))

    assert close(tint(0, 0), CONTEXT_COLOUR) and close(tint(1, 1), CONTEXT_COLOUR)
    assert close(tint(0, 3), target_colour(0)) and close(tint(1, 2), target_colour(0))
    assert max(tint(0, 1)) < 60  # neither context nor target: dimmed grey


def test_masks_cli_writes_the_video_sheet(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    out = tmp_path / "masks.png"
    with pytest.raises(SystemExit) as info:
        main(["masks", str(REPO / "recipes" / "quickstart_video.toml"), "--out", str(out),
              "--n", "2", "--batches", "3", "--batch-size", "4",
              "--set", "data.train_size=4", "--set", "data.num_workers=0"])
    assert int(info.value.code or 0) == 0
    printed = capsys.readouterr().out
    assert "2 clips x 2 mask generators" in printed and "grid 2x8x8" in printed
    assert "gen 1 context" in printed
    with Image.open(out) as sheet:
        assert sheet.width == LABEL_WIDTH + 2 * (64 + PAD) + PAD  # 2 tubelets of 32 px x 2
        assert sheet.height == 4 * (64 + PAD) + PAD + 16  # 2 generators x 2 clips

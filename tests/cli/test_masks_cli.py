"""``jepa-kit masks``: a PNG of the expected size and coverage numbers on stdout."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from PIL import Image

from jepa_kit.eval.preview import sheet_size
from tests.conftest import REPO

QUICKSTART = str(REPO / "recipes" / "quickstart.toml")


def test_masks_writes_a_sheet_and_prints_coverage(tmp_path: Path) -> None:
    out = tmp_path / "sheets" / "masks.png"
    result = subprocess.run(
        [sys.executable, "-m", "jepa_kit", "masks", QUICKSTART, "--out", str(out), "--n", "6",
         "--batches", "4", "--batch-size", "8", "--set", "data.num_workers=0"],
        cwd=REPO, text=True, capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == sheet_size(6, 32)
    text = result.stdout
    assert "32 sampled images" in text and "grid 8x8" in text
    assert re.search(r"context length \(mean\)\s+│\s+\d+\.\d", text)
    # One line per grid row: index, row context, row target, col context, col target.
    rows = re.findall(r"│\s+(\d)\s+│\s+(0\.\d{3})\s+│\s+(0\.\d{3})\s+│\s+(0\.\d{3})\s+│", text)
    assert [int(r[0]) for r in rows] == list(range(8))

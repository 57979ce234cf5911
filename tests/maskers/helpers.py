"""The reference collator's settings from the fixture, as jepa-kit maskers."""

from __future__ import annotations

import json
from typing import Any

from jepa_kit.maskers.multiblock import MultiBlockMasker
from tests.conftest import FIXTURES

#: Fixture run name -> its record (``config``, ``first_steps``, statistics).
RUNS: dict[str, Any] = json.loads((FIXTURES / "multiblock_stats.json").read_text())["runs"]


def fixture_masker(run: dict[str, Any], mode: str = "reference") -> MultiBlockMasker:
    """The masker with a fixture run's collator arguments, on its patch grid."""
    cfg = run["config"]
    config = MultiBlockMasker.Config(
        mode=mode, num_targets=cfg["npred"], target_scale=tuple(cfg["pred_mask_scale"]),
        target_aspect_ratio=tuple(cfg["aspect_ratio"]), context_scale=tuple(cfg["enc_mask_scale"]),
        min_keep=cfg["min_keep"], allow_overlap=cfg["allow_overlap"])
    return MultiBlockMasker(config, grid=tuple(cfg["grid_hw"]))

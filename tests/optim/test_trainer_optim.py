"""The trainer with the default optimizer and schedule components steps exactly as the
construction it had before they were components; a swapped schedule reaches the run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import jepa_kit.train.trainer as trainer_module
from jepa_kit.optim.schedules import ScheduleLengths, learning_rate, weight_decay
from jepa_kit.recipe import load_recipe
from jepa_kit.train.trainer import train
from tests.train.helpers import QUICKSTART, TINY


def _run(out: Path, *overrides: str) -> list[dict[str, Any]]:
    recipe = load_recipe(QUICKSTART, [*TINY, "train.max_steps=3", *overrides])
    train(recipe, output_dir=out, quiet=True)
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()
            if '"loss"' in line]


class LegacySchedule:
    """The pre-component OptimSchedule: the reference formulas written into the groups."""

    def __init__(self, optimizer: torch.optim.Optimizer, lengths: ScheduleLengths, *,
                 start_lr: float, lr: float, final_lr: float, wd: float, final_wd: float,
                 **_: Any) -> None:
        self.optimizer, self.n = optimizer, lengths
        self.lr, self.wd = (start_lr, lr, final_lr), (wd, final_wd)

    def apply(self, step: int) -> tuple[float, float]:
        lr, wd = learning_rate(step, self.n, *self.lr), weight_decay(step, self.n, *self.wd)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
            if not group.get("WD_exclude", False):
                group["weight_decay"] = wd
        return lr, wd


def test_losses_are_bit_identical_to_the_legacy_construction(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ours = _run(tmp_path / "components")

    def legacy_adamw(config: Any, groups: list[dict[str, Any]], *, device: Any
                     ) -> torch.optim.Optimizer:
        return torch.optim.AdamW(groups, lr=0.0, weight_decay=0.0, betas=config.betas,
                                 eps=config.eps, fused=True)

    monkeypatch.setattr(trainer_module, "build_optimizer", legacy_adamw)
    monkeypatch.setattr(trainer_module, "OptimSchedule", LegacySchedule)
    legacy = _run(tmp_path / "legacy")
    assert [r["step"] for r in ours] == [1, 2, 3]
    assert [(r["loss"], r["lr"], r["wd"]) for r in ours] == \
        [(r["loss"], r["lr"], r["wd"]) for r in legacy]


def test_a_constant_lr_schedule_reaches_the_run(tmp_path: Path) -> None:
    rows = _run(tmp_path / "constant", "optim.lr_schedule=constant", "optim.warmup_epochs=0")
    assert [r["lr"] for r in rows] == [3e-3, 3e-3, 3e-3]  # the quickstart's peak, held

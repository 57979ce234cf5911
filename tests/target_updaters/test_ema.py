from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

from jepa_kit.target_updaters.ema import EMATargetUpdater
from tests.conftest import FIXTURES


def test_momentum_ramp_and_update_values() -> None:
    upd = EMATargetUpdater(EMATargetUpdater.Config(), total_steps=35.0)
    assert upd.value(1) == 0.996
    assert upd.value(36) == pytest.approx(1.0)
    torch.manual_seed(0)
    online = nn.Linear(3, 2)
    target = copy.deepcopy(online)
    with torch.no_grad():
        for p in target.parameters():
            p.add_(1.0)
    expected = [t.detach() * 0.996 + 0.004 * o.detach() for t, o in
                zip(target.parameters(), online.parameters(), strict=True)]
    upd.update(online, target, step=1)
    for got, want in zip(target.parameters(), expected, strict=True):
        torch.testing.assert_close(got, want, atol=3e-7, rtol=0)  # lerp rounds differently by 1 ulp


def test_momentum_equals_reference_schedule() -> None:
    run = json.loads((FIXTURES / "schedules.json").read_text())["run_ipe_scale_1.25"]
    upd = EMATargetUpdater(EMATargetUpdater.Config(), total_steps=7 * 5 * 1.25)
    assert [upd.value(r["step"]) for r in run["steps"]] == [r["ema_momentum"] for r in run["steps"]]


def test_config_rejects_decreasing_ramp() -> None:
    with pytest.raises(ValueError, match="target_updater.momentum_end"):
        EMATargetUpdater.Config(momentum_start=0.999, momentum_end=0.99)

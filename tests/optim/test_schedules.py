from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from jepa_kit.optim.adamw import OptimSchedule, build_adamw, param_groups
from jepa_kit.optim.schedules import ScheduleLengths, ema_momentum, learning_rate, weight_decay
from tests.conftest import FIXTURES

RUNS = json.loads((FIXTURES / "schedules.json").read_text())


@pytest.mark.parametrize("run", ["run_ipe_scale_1.0", "run_ipe_scale_1.25"])
def test_schedules_equal_reference_at_every_step(run: str) -> None:
    s = RUNS[run]["settings"]
    n = ScheduleLengths(s["iterations_per_epoch"], s["num_epochs"], s["warmup_epochs"],
                        s["ipe_scale"])
    steps = RUNS[run]["steps"]
    assert len(steps) == 35
    for row in steps:
        k = row["step"]
        assert learning_rate(k, n, s["start_lr"], s["ref_lr"], s["final_lr"]) == row["lr"], k
        assert weight_decay(k, n, s["wd"], s["final_wd"]) == row["wd"], k
        assert ema_momentum(k, n, *s["ema"]) == row["ema_momentum"], k


def test_ipe_scale_stretches_past_the_run() -> None:
    n = ScheduleLengths(7, 5, 2, 1.25)
    assert n.total_steps == 43 and n.momentum_steps == 43.75
    assert learning_rate(35, n, 2e-4, 1e-3, 1e-6) == pytest.approx(1.77e-4, rel=1e-2)


def test_param_groups_follow_reference_rule() -> None:
    enc = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
    enc.register_parameter("pos", nn.Parameter(torch.zeros(1, 2, 4)))
    pred = nn.Linear(4, 2)
    groups = param_groups([enc, pred])
    shapes = [[tuple(p.shape) for p in g["params"]] for g in groups]
    # decayed(enc), decayed(pred), excluded(enc), excluded(pred)
    assert shapes == [[(1, 2, 4), (4, 4)], [(2, 4)], [(4,), (4,), (4,)], [(2,)]]
    assert [g.get("WD_exclude", False) for g in groups] == [False, False, True, True]


def test_schedule_writes_wd_only_to_decayed_groups() -> None:
    model = nn.Linear(3, 3)
    opt = build_adamw([model], betas=(0.9, 0.999), eps=1e-8, fused=False)
    sched = OptimSchedule(opt, ScheduleLengths(7, 5, 2), start_lr=2e-4, lr=1e-3, final_lr=1e-6,
                          wd=0.04, final_wd=0.4)
    lr, wd = sched.apply(1)
    assert lr == RUNS["run_ipe_scale_1.0"]["steps"][0]["lr"]
    assert [g["lr"] for g in opt.param_groups] == [lr, lr]
    assert [g["weight_decay"] for g in opt.param_groups] == [wd, 0.0]

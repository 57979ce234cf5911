"""The optimizer and schedule components: registered, typed, and stepping exactly as the
reference construction they replace."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from jepa_kit.optim.adamw import AdamW, kernel_flags
from jepa_kit.optim.groups import param_groups
from jepa_kit.optim.schedules import ScheduleLengths, learning_rate, weight_decay
from jepa_kit.optim.sgd import SGD
from jepa_kit.optim.stepper import OptimSchedule, build_optimizer, build_schedule, set_values
from jepa_kit.optim.warmup_schedules import Constant, Cosine, Linear
from jepa_kit.registry import registry


def test_built_ins_are_registered_under_their_kinds() -> None:
    assert {"adamw", "sgd"} <= set(registry("optimizer").names())
    assert {"cosine", "linear", "constant"} <= set(registry("schedule").names())
    assert registry("optimizer").load("adamw") is AdamW
    assert registry("schedule").load("cosine") is Cosine


def test_configs_are_strict_and_bounded() -> None:
    with pytest.raises(ValidationError, match="betas must each lie in"):
        AdamW.Config(betas=(0.9, 1.0))
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Cosine.Config(warmup=3)
    with pytest.raises(ValidationError, match="nesterov=true needs momentum > 0"):
        SGD.Config(momentum=0.0, nesterov=True)
    with pytest.raises(ValidationError, match="implementation"):
        AdamW.Config(implementation="fast")


def test_kernel_flags_pick_torchs_switches() -> None:
    cpu = torch.device("cpu")
    assert kernel_flags("auto", cpu) == {"foreach": None, "fused": True}
    assert kernel_flags("auto", torch.device("meta")) == {"foreach": True, "fused": None}
    assert kernel_flags("foreach", cpu) == {"foreach": True, "fused": None}
    assert kernel_flags("for_loop", cpu) == {"foreach": False, "fused": None}
    opt = AdamW(AdamW.Config(implementation="foreach")).build(param_groups([nn.Linear(2, 2)]))
    assert opt.defaults["foreach"] is True and not opt.defaults["fused"]


def _pair() -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    a = nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16), nn.Linear(16, 4))
    b = nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16), nn.Linear(16, 4))
    b.load_state_dict(a.state_dict())
    return a, b


def test_default_components_step_bit_identically_to_the_reference_construction() -> None:
    """adamw + cosine lr + cosine wd == torch AdamW (fused) driven by the reference formulas:
    the construction the trainer used before optimizers were components."""
    ours, ref = _pair()
    n = ScheduleLengths(ipe=5, epochs=6, warmup_epochs=1.0)
    opt = build_optimizer(AdamW.Config(), param_groups([ours]), device="cpu")
    sched = OptimSchedule(opt, n, start_lr=2e-4, lr=3e-3, final_lr=1e-6, wd=0.04,
                          final_wd=0.4, lr_schedule=Cosine.Config(),
                          wd_schedule=Cosine.Config())
    ref_opt = torch.optim.AdamW(param_groups([ref]), lr=0.0, weight_decay=0.0, fused=True)
    x = torch.randn(32, 8, generator=torch.Generator().manual_seed(1))
    for step in range(1, n.total_steps + 1):
        lr, wd = sched.apply(step)
        assert (lr, wd) == (learning_rate(step, n, 2e-4, 3e-3, 1e-6),
                            weight_decay(step, n, 0.04, 0.4))
        for group in ref_opt.param_groups:
            group["lr"] = lr
            if not group.get("WD_exclude", False):
                group["weight_decay"] = wd
        for model, o in ((ours, opt), (ref, ref_opt)):
            o.zero_grad()
            model(x).square().mean().backward()
            o.step()
    for (name, p), q in zip(ours.named_parameters(), ref.parameters(), strict=True):
        assert torch.equal(p, q), name


def test_schedules_shapes() -> None:
    kw = {"start": 0.0, "peak": 1.0, "final": 0.1, "warmup_steps": 10, "total_steps": 110}
    cos, lin, const = (cls(cls.Config(), **kw) for cls in (Cosine, Linear, Constant))
    for s in (cos, lin, const):  # one warmup for all
        assert s(5) == 0.5 and s(10) == 1.0
    assert cos(60) == pytest.approx(0.55) and cos(110) == pytest.approx(0.1)
    assert lin(60) == pytest.approx(0.55) and lin(35) == pytest.approx(0.775)
    assert lin(110) == pytest.approx(0.1) and lin(500) == pytest.approx(0.1)
    assert const(60) == const(110) == 1.0
    # A ramp up without warmup (I-JEPA's weight decay) is clamped at its final value.
    ramp = Cosine(Cosine.Config(), start=0.04, peak=0.04, final=0.4, warmup_steps=0,
                  total_steps=20)
    assert ramp(1) > 0.04 and ramp(20) == pytest.approx(0.4) and ramp(40) == 0.4
    with pytest.raises(ValueError, match="total_steps=0 > 0"):
        Cosine(Cosine.Config(), start=0, peak=1, final=0, warmup_steps=0, total_steps=0)


def test_build_schedule_goes_through_the_registry() -> None:
    s = build_schedule(Linear.Config(), start=1.0, peak=1.0, final=0.0, warmup_steps=0,
                       total_steps=4)
    assert isinstance(s, Linear) and [s(k) for k in range(5)] == [1.0, 0.75, 0.5, 0.25, 0.0]


def test_set_values_scales_lr_and_skips_excluded_groups() -> None:
    groups = param_groups([nn.Linear(3, 3)])
    groups[0]["lr_scale"] = 0.25
    opt = SGD(SGD.Config()).build(groups)
    set_values(opt, 0.1, 0.05)
    assert [g["lr"] for g in opt.param_groups] == [0.025, 0.1]
    assert [g["weight_decay"] for g in opt.param_groups] == [0.05, 0.0]
    set_values(opt, 0.2, None)  # None: weight decay untouched
    assert [g["weight_decay"] for g in opt.param_groups] == [0.05, 0.0]


def test_plugins_lists_both_kinds_with_their_built_ins() -> None:
    import json
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "jepa_kit", "plugins", "--json"],
                            text=True, capture_output=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    rows = {(r["kind"], r["name"]): r["class"] for r in json.loads(result.stdout)}
    assert rows[("optimizer", "adamw")] == "jepa_kit.optim.adamw:AdamW"
    assert rows[("optimizer", "sgd")] == "jepa_kit.optim.sgd:SGD"
    assert {n for k, n in rows if k == "schedule"} >= {"cosine", "linear", "constant"}

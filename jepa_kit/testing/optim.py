"""Conformance of optimizers and schedules.

An optimizer builds over parameter groups with lr and weight decay at 0, keeps jepa-kit's group
keys, honours the lr the engine writes (0: no change; >0: finite new weights), leaves groups
marked ``WD_exclude`` without weight decay, and resumes exactly from its ``state_dict``. A
schedule gives a finite float for every step of a run, the same each time it is asked, between
the values it was built with.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from jepa_kit.testing.base import ConfigLike, built, check_config, expect, generator, label


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.Linear(8, 3))


def _step(model: nn.Module, optimizer: torch.optim.Optimizer, lr: float, wd: float) -> None:
    from jepa_kit.optim.stepper import set_values

    set_values(optimizer, lr, wd)
    x = torch.randn(16, 6, generator=generator(1))
    loss = model(x).square().mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def check_optimizer(cls: type, config: ConfigLike = None, *, name: str | None = None) -> None:
    """Build ``cls(config, device="cpu")`` over a tiny model's reference groups and step it."""
    from jepa_kit.optim.groups import param_groups

    cfg = check_config(cls, "optimizer", config, name)
    who = f"optimizer {label(cls)}"

    def build(model: nn.Module) -> torch.optim.Optimizer:
        groups = param_groups([model])
        groups[0]["lr_scale"] = 0.5
        return built(lambda: cls(cfg, device="cpu").build(groups), who, "build(param_groups)")

    model = _model()
    optimizer = build(model)
    expect(isinstance(optimizer, torch.optim.Optimizer),
           f"{who}: build() must return a torch.optim.Optimizer, got {type(optimizer).__name__}")
    groups = optimizer.param_groups
    expect(len(groups) == 2 and groups[1].get("WD_exclude") is True
           and groups[0].get("lr_scale") == 0.5,
           f"{who}: build() must keep the given groups and their keys (WD_exclude, lr_scale)")
    expect(all(g["lr"] == 0 and g.get("weight_decay", 0) == 0 for g in groups),
           f"{who}: build() must start every group at lr = weight_decay = 0 (the schedules set "
           f"them), got {[(g['lr'], g.get('weight_decay')) for g in groups]}")
    before = copy.deepcopy(model.state_dict())
    _step(model, optimizer, 0.0, 0.1)
    expect(all(torch.equal(before[k], v) for k, v in model.state_dict().items()),
           f"{who}: a step at lr 0 changed the weights: it must use the lr the engine writes")
    expect(groups[1].get("weight_decay", 0) == 0,
           f"{who}: the WD_exclude group got weight decay {groups[1].get('weight_decay')}")
    _step(model, optimizer, 0.05, 0.1)
    after = model.state_dict()
    expect(all(bool(torch.isfinite(v).all()) for v in after.values()),
           f"{who}: a step at lr 0.05 gave non-finite weights")
    expect(any(not torch.equal(before[k], v) for k, v in after.items()),
           f"{who}: a step at lr 0.05 left every weight unchanged")
    # Resume: a fresh optimizer loaded from the state dict takes the same next step.
    twin = copy.deepcopy(model)
    resumed = build(twin)
    built(lambda: resumed.load_state_dict(copy.deepcopy(optimizer.state_dict())), who,
          "load_state_dict(state_dict())")
    _step(model, optimizer, 0.05, 0.1)
    _step(twin, resumed, 0.05, 0.1)
    expect(all(torch.equal(v, twin.state_dict()[k]) for k, v in model.state_dict().items()),
           f"{who}: after load_state_dict(state_dict()) the next step differs: checkpoints "
           f"would not resume exactly")


def check_schedule(cls: type, config: ConfigLike = None, *, name: str | None = None,
                   total_steps: int = 100) -> None:
    """Build ``cls`` as a warmed-up decay (0.1 -> 1 -> 0.01) and as a ramp without warmup
    (0.04 -> 0.4, I-JEPA's weight decay), and read every step of each."""
    cfg = check_config(cls, "schedule", config, name)
    who = f"schedule {label(cls)}"
    for start, peak, final, warmup in ((0.1, 1.0, 0.01, 10), (0.04, 0.04, 0.4, 0)):
        built_with = f"start={start}, peak={peak}, final={final}, warmup_steps={warmup}"
        schedule = built(lambda s=start, p=peak, f=final, w=warmup: cls(
            cfg, start=s, peak=p, final=f, warmup_steps=w, total_steps=total_steps),
            who, f"building it with {built_with}")
        low, high = min(start, peak, final), max(start, peak, final)
        for step in (*range(1, total_steps + 1), 2.5):
            value = schedule(step)
            expect(isinstance(value, float) and math.isfinite(value),
                   f"{who} ({built_with}): step {step} gave {value!r}, expected a finite float")
            expect(low - 1e-12 <= value <= high + 1e-12,
                   f"{who} ({built_with}): step {step} gave {value}, outside [{low}, {high}]")
            expect(schedule(step) == value,
                   f"{who} ({built_with}): step {step} gave two values; it must be a pure "
                   f"function of the step (resume recomputes it)")

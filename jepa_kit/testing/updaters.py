"""Conformance check of target updaters: how the target encoder follows the online one."""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from jepa_kit.testing.base import ConfigLike, check_config, expect, generator, label, seeded


def _pair(seed: int) -> tuple[nn.Module, nn.Module]:
    """An online network and a target copy displaced from it, set up as the trainer does."""

    def build() -> nn.Module:
        return nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6), nn.Linear(6, 3))

    online = seeded(build, seed)
    target = copy.deepcopy(online)
    gen = generator(seed + 1)
    with torch.no_grad():
        for p in target.parameters():
            p.add_(torch.randn(p.shape, generator=gen))
            p.requires_grad_(False)
    return online, target


def _distance(a: nn.Module, b: nn.Module) -> float:
    return sum(float((p.detach() - q.detach()).pow(2).sum()) for p, q in
               zip(a.parameters(), b.parameters(), strict=True)) ** 0.5


def check_target_updater(cls: type, config: ConfigLike = None, *, total_steps: int = 10,
                         seed: int = 0, name: str | None = None) -> None:
    """Finite ``value``; ``update`` works in place, never moves the target away from the online
    weights and moves it closer over the schedule; the online weights stay untouched; repeatable.

    ``update`` is called outside ``torch.no_grad`` with online weights that require grad, as
    the trainer does; it must not attach the target to the autograd graph.
    """
    cfg = check_config(cls, "target_updater", config, name)
    who = f"target updater {label(cls)}"
    updater = cls(cfg, total_steps=total_steps)
    for step in (1, max(1, total_steps // 2), total_steps, total_steps + 1):
        value = updater.value(step)
        expect(isinstance(value, (int, float)) and math.isfinite(value),
               f"{who}: value({step}) must be a finite float, got {value!r}")

    online, target = _pair(seed)
    online_before = copy.deepcopy(online.state_dict())
    params = [id(p) for p in target.parameters()]
    start = previous = _distance(online, target)
    for step in range(1, total_steps + 1):
        updater.update(online, target, step)
        expect(all(torch.equal(v, online_before[k]) for k, v in online.state_dict().items()),
               f"{who}: update({step}) modified the online (context) encoder")
        now = _distance(online, target)
        expect(math.isfinite(now), f"{who}: update({step}) left non-finite target weights")
        expect(now <= previous * (1 + 1e-6) + 1e-7,
               f"{who}: update({step}) moved the target away from the online weights "
               f"(distance {previous:.6g} -> {now:.6g})")
        previous = now
    expect(previous < start, f"{who}: {total_steps} updates did not move the target toward the "
           f"online weights (distance stayed {start:.6g})")
    expect([id(p) for p in target.parameters()] == params,
           f"{who}: update replaced the target's parameters; update them in place (the trainer "
           "and checkpoints hold references)")
    expect(all(not p.requires_grad and p.grad_fn is None for p in target.parameters()),
           f"{who}: after update the target weights require grad or carry a grad_fn; update "
           "under torch.no_grad()")

    again_online, again_target = _pair(seed)
    twin = cls(cfg, total_steps=total_steps)
    for step in range(1, total_steps + 1):
        twin.update(again_online, again_target, step)
    expect(all(torch.equal(p, q) for p, q in
               zip(again_target.parameters(), target.parameters(), strict=True)),
           f"{who}: the same updates from the same start gave different target weights")

"""Planners on a toy energy whose minimum is known; their options' errors."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from jepa_kit.planners.cem import CEM
from jepa_kit.planners.mppi import MPPI

TARGET = torch.tensor([[0.6, -0.3], [0.2, 0.9], [-0.7, 0.0]])  # (H=3, A=2), inside the box


def toy(actions: torch.Tensor) -> torch.Tensor:
    return (actions - TARGET).abs().sum(dim=(1, 2))


def test_cem_finds_the_known_minimum() -> None:
    planner = CEM(CEM.Config(horizon=3, samples=256, elites=16, iterations=8, min_std=0.01),
                  action_dim=2)
    plan = planner.plan(toy, generator=torch.Generator().manual_seed(0))
    assert plan.shape == (3, 2)
    torch.testing.assert_close(plan, TARGET, atol=0.05, rtol=0)


def test_cem_clips_to_the_box_when_the_minimum_lies_outside() -> None:
    planner = CEM(CEM.Config(horizon=2, samples=128, elites=8, iterations=6), action_dim=2)
    plan = planner.plan(lambda a: -(a.sum(dim=(1, 2))),  # lowest at the corner (1, 1)
                        generator=torch.Generator().manual_seed(0))
    assert bool((plan <= 1).all()) and bool((plan > 0.8).all())


def test_cem_warm_start_shifts_the_previous_plan() -> None:
    seen: list[torch.Tensor] = []

    def energy(actions: torch.Tensor) -> torch.Tensor:
        seen.append(actions[0].clone())  # candidate 0 is the current mean
        return toy(actions)

    planner = CEM(CEM.Config(horizon=3, samples=64, elites=8, iterations=2), action_dim=2)
    gen = torch.Generator().manual_seed(0)
    first = planner.plan(energy, generator=gen)
    seen.clear()
    planner.plan(energy, generator=gen)
    torch.testing.assert_close(seen[0][:2], first[1:])
    assert torch.equal(seen[0][2], torch.zeros(2))
    planner.reset()
    seen.clear()
    planner.plan(energy, generator=gen)
    assert torch.equal(seen[0], torch.zeros(3, 2))


def test_mppi_approaches_the_minimum() -> None:
    planner = MPPI(MPPI.Config(horizon=3, samples=256, iterations=15), action_dim=2)
    plan = planner.plan(toy, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(plan, TARGET, atol=0.15, rtol=0)


def test_bad_options_are_refused_with_their_keys() -> None:
    with pytest.raises(ValidationError, match="planner.elites=64 exceeds planner.samples=32"):
        CEM.Config(samples=32, elites=64)
    with pytest.raises(ValueError, match="planner.execute=4 exceeds planner.horizon=3"):
        CEM(CEM.Config(horizon=3, execute=4), action_dim=2)

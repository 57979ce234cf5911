"""The conformance checks of optimizers and schedules catch what breaks the engine's contract."""

from __future__ import annotations

from typing import Any, Literal

import pytest
import torch

from jepa_kit.optim import Optimizer, OptimizerConfig, Schedule, ScheduleConfig
from jepa_kit.testing import check_optimizer, check_schedule


class OwnLr(Optimizer):
    """Ignores the lr the engine writes: builds SGD at a fixed lr and restores it each step."""

    class Config(OptimizerConfig):
        kind: Literal["own_lr"] = "own_lr"

    def build(self, param_groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        class Fixed(torch.optim.SGD):
            def step(self, closure: Any = None) -> Any:
                for group in self.param_groups:
                    group["lr"] = 0.1
                return super().step(closure)

        return Fixed(param_groups, lr=0.0)


class Drops(Optimizer):
    """Builds over all parameters in one group: the method's groups are lost."""

    class Config(OptimizerConfig):
        kind: Literal["drops"] = "drops"

    def build(self, param_groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        return torch.optim.SGD([p for g in param_groups for p in g["params"]], lr=0.0)


class Overshoots(Schedule):
    class Config(ScheduleConfig):
        kind: Literal["overshoots"] = "overshoots"

    def __call__(self, step: float) -> float:
        return 2 * self.peak


class Counts(Schedule):
    class Config(ScheduleConfig):
        kind: Literal["counts"] = "counts"

    calls = 0

    def __call__(self, step: float) -> float:
        self.calls += 1
        return self.peak if self.calls % 2 else self.start


def test_an_optimizer_that_ignores_the_lr_fails() -> None:
    with pytest.raises(AssertionError, match="a step at lr 0 changed the weights"):
        check_optimizer(OwnLr)


def test_an_optimizer_that_drops_the_groups_fails() -> None:
    with pytest.raises(AssertionError, match="must keep the given groups and their keys"):
        check_optimizer(Drops)


def test_a_schedule_out_of_its_range_fails() -> None:
    with pytest.raises(AssertionError, match=r"step 1 gave 2.0, outside \[0.01, 1.0\]"):
        check_schedule(Overshoots)


def test_a_schedule_with_state_fails() -> None:
    with pytest.raises(AssertionError, match="gave two values; it must be a pure function"):
        check_schedule(Counts)

"""Builds the recipe's optimizer and schedules, and writes the scheduled learning rate and
weight decay into the optimizer before each step."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from jepa_kit.optim.base import OptimizerConfig, Schedule, ScheduleConfig

if TYPE_CHECKING:
    from jepa_kit.optim.schedules import ScheduleLengths


def build_optimizer(config: OptimizerConfig, param_groups: list[dict[str, Any]], *,
                    device: torch.device | str) -> torch.optim.Optimizer:
    """The registered optimizer component ``config.kind`` over ``param_groups``."""
    from jepa_kit.registry import registry

    return registry("optimizer").load(config.kind)(config, device=device).build(param_groups)


def build_schedule(config: ScheduleConfig, *, start: float, peak: float, final: float,
                   warmup_steps: float, total_steps: float) -> Schedule:
    """The registered schedule component ``config.kind``, built with the run's values."""
    from jepa_kit.registry import registry

    cls = registry("schedule").load(config.kind)
    return cls(config, start=start, peak=peak, final=final, warmup_steps=warmup_steps,
               total_steps=total_steps)


def default_schedule() -> ScheduleConfig:
    """The I-JEPA reference's shape, for both lr and weight decay."""
    from jepa_kit.optim.warmup_schedules import Cosine

    return Cosine.Config()


class OptimSchedule:
    """Writes the step's lr into every group (times its ``lr_scale``) and the step's weight
    decay into every group but those marked ``WD_exclude``.

    The learning rate warms up from ``start_lr`` to ``lr`` over ``lengths.warmup_steps`` and
    ends at ``final_lr``; the weight decay runs from ``wd`` to ``final_wd`` without warmup.
    Their shapes are the schedule components ``lr_schedule`` and ``wd_schedule`` (default:
    ``cosine`` for both, the reference's).
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, lengths: ScheduleLengths, *, start_lr: float,
        lr: float, final_lr: float, wd: float, final_wd: float,
        lr_schedule: ScheduleConfig | None = None, wd_schedule: ScheduleConfig | None = None,
    ) -> None:
        self.optimizer = optimizer
        self.lengths = lengths
        self.lr = build_schedule(lr_schedule or default_schedule(), start=start_lr, peak=lr,
                                 final=final_lr, warmup_steps=lengths.warmup_steps,
                                 total_steps=lengths.total_steps)
        self.wd = build_schedule(wd_schedule or default_schedule(), start=wd, peak=wd,
                                 final=final_wd, warmup_steps=0, total_steps=lengths.total_steps)

    def values(self, step: int) -> tuple[float, float]:
        return self.lr(step), self.wd(step)

    def apply(self, step: int) -> tuple[float, float]:
        """Set the values optimizer step ``step`` (1-based) runs with; returns (lr, wd)."""
        lr, wd = self.values(step)
        set_values(self.optimizer, lr, wd)
        return lr, wd


def set_values(optimizer: torch.optim.Optimizer, lr: float, wd: float | None) -> None:
    """``lr x lr_scale`` into every group; ``wd`` (unless None) into the decayed groups."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
        if wd is not None and not group.get("WD_exclude", False):
            group["weight_decay"] = wd

"""The optimizer and schedule interfaces: what updates the weights, and how its values move.

An optimizer component turns a method's parameter groups (``Method.param_groups``) into a
``torch.optim.Optimizer``; schedule components give the value one scheduled hyper-parameter
(the learning rate, the weight decay) takes at each optimizer step. The engine writes both
values into the groups before every step (``jepa_kit.optim.stepper.OptimSchedule``), so an
optimizer is built with ``lr = weight_decay = 0`` and never owns a schedule.

Parameter groups are plain ``torch.optim`` group dicts. Two keys of jepa-kit's own are read:
``WD_exclude`` (True: the weight-decay schedule leaves the group's ``weight_decay`` at 0, the
I-JEPA reference's key) and ``lr_scale`` (the group trains at ``lr x lr_scale``; default 1).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch

from jepa_kit.config import ComponentConfig


class OptimizerConfig(ComponentConfig):
    """Base of optimizer configs (the recipe's ``[optim.optimizer]`` table)."""

    component_kind: ClassVar[str] = "optimizer"


class Optimizer(ABC):
    """Builds the torch optimizer over parameter groups.

    Built as ``cls(config, device=the run's device)``. Not for: learning-rate or weight-decay
    schedules (schedule components), nor choosing which parameters decay (the method's
    ``param_groups``).
    """

    Config: ClassVar[type[OptimizerConfig]]

    def __init__(self, config: OptimizerConfig, *, device: torch.device | str = "cpu") -> None:
        self.config = config
        self.device = torch.device(device)

    @abstractmethod
    def build(self, param_groups: list[dict[str, Any]]) -> torch.optim.Optimizer:
        """A torch optimizer over ``param_groups`` (lr and weight decay start at 0: the
        schedules set them before each step). Keys other than torch's are kept in the groups."""


class ScheduleConfig(ComponentConfig):
    """Base of schedule configs (``[optim.lr_schedule]``, ``[optim.wd_schedule]``)."""

    component_kind: ClassVar[str] = "schedule"


class Schedule(ABC):
    """A scheduled value: optimizer step -> the value that step runs with.

    Built as ``cls(config, start=..., peak=..., final=..., warmup_steps=..., total_steps=...)``:
    the values and lengths come from the run (for the learning rate ``optim.start_lr``,
    ``optim.lr``, ``optim.final_lr`` and ``optim.warmup_epochs``; for the weight decay
    ``optim.weight_decay`` as start and peak, ``optim.final_weight_decay``, no warmup). The
    step is 1-based in the trainer (step 1 already runs warmed up, as the I-JEPA reference);
    a schedule may be asked for fractional steps (the fine-tuning schedule counts epochs).

    Not for: writing the value into an optimizer (the engine does that), nor momentum ramps
    of a target encoder (the target updater owns those).
    """

    Config: ClassVar[type[ScheduleConfig]]

    def __init__(self, config: ScheduleConfig, *, start: float, peak: float, final: float,
                 warmup_steps: float, total_steps: float) -> None:
        if warmup_steps < 0 or total_steps <= 0:
            raise ValueError(f"schedule {config.kind!r}: warmup_steps={warmup_steps} must be "
                             f">= 0 and total_steps={total_steps} > 0")
        self.config = config
        self.start, self.peak, self.final = start, peak, final
        self.warmup_steps, self.total_steps = warmup_steps, total_steps

    @abstractmethod
    def __call__(self, step: float) -> float:
        """The value at ``step``."""

"""Optimizers and schedules: two component kinds, and the fitting loop the probes share.

``Optimizer`` (entry-point group ``jepa_kit.optimizers``; built-ins ``adamw``, ``sgd``) builds
the torch optimizer over a method's parameter groups; ``Schedule`` (``jepa_kit.schedules``;
``cosine``, ``linear``, ``constant``) gives the learning rate or weight decay of each step.
A recipe picks them in ``[optim]``: ``optimizer``, ``lr_schedule``, ``wd_schedule``.
"""

from __future__ import annotations

from jepa_kit.optim.base import Optimizer, OptimizerConfig, Schedule, ScheduleConfig

__all__ = ["Optimizer", "OptimizerConfig", "Schedule", "ScheduleConfig"]

"""The built-in schedules: a linear warmup, then a cosine, a straight line, or a constant.

``cosine`` is the I-JEPA reference's learning rate (warmup + half cosine) and, without the
warmup the engine never gives it, its weight-decay ramp (0.04 -> 0.4): the default of both
``[optim.lr_schedule]`` and ``[optim.wd_schedule]``. ``linear`` and ``constant`` are the usual
ablations of the decay's shape. The formulas live in ``jepa_kit.optim.schedules``.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243 (Sec. 5, Appendix A)
- [1]: SGDR, Loshchilov & Hutter 2017, arXiv:1608.03983 (the half-cosine decay)
"""

from __future__ import annotations

from typing import Literal

from jepa_kit.optim.base import Schedule, ScheduleConfig
from jepa_kit.optim.schedules import warmup_constant, warmup_cosine, warmup_linear


class Cosine(Schedule):
    """Warmup from ``start`` to ``peak``, then a half cosine to ``final`` at the last step."""

    class Config(ScheduleConfig):
        kind: Literal["cosine"] = "cosine"

    def __call__(self, step: float) -> float:
        return warmup_cosine(step, warmup=self.warmup_steps, total=self.total_steps,
                             start=self.start, peak=self.peak, final=self.final)


class Linear(Schedule):
    """Warmup from ``start`` to ``peak``, then a straight line to ``final`` at the last step."""

    class Config(ScheduleConfig):
        kind: Literal["linear"] = "linear"

    def __call__(self, step: float) -> float:
        return warmup_linear(step, warmup=self.warmup_steps, total=self.total_steps,
                             start=self.start, peak=self.peak, final=self.final)


class Constant(Schedule):
    """Warmup from ``start`` to ``peak``, then ``peak`` to the end (``final`` is not used)."""

    class Config(ScheduleConfig):
        kind: Literal["constant"] = "constant"

    def __call__(self, step: float) -> float:
        return warmup_constant(step, warmup=self.warmup_steps, start=self.start, peak=self.peak)

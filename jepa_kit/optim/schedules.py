"""Per-step schedules: warmup + cosine (or linear, or constant) lr, cosine weight decay, EMA ramp.

The one home of these formulas: the trainer's schedule components, the probes' fitting loop
and fine-tuning all call them.

Every function takes the 1-based optimizer step ``k`` and returns the value that step uses, which
equals the reference's stateful schedulers (counter incremented before computing, called at the
start of each iteration): step 1 already runs with a warmed-up lr, not ``start_lr``.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243 (Sec. 5 and Appendix A)
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ScheduleLengths:
    """Schedule lengths derived from the run; ``ipe`` is iterations (optimizer steps) per epoch."""

    ipe: int
    epochs: int
    warmup_epochs: float
    ipe_scale: float = 1.0

    @property
    def warmup_steps(self) -> int:
        return int(self.warmup_epochs * self.ipe)

    @property
    def total_steps(self) -> int:
        return int(self.ipe_scale * self.epochs * self.ipe)

    @property
    def momentum_steps(self) -> float:
        # The reference ramps momentum over an un-truncated float number of steps.
        return self.ipe * self.epochs * self.ipe_scale


def warmup_cosine(k: float, *, warmup: float, total: float, start: float, peak: float,
                  final: float) -> float:
    """Linear warmup from ``start`` to ``peak`` over ``warmup`` steps, then a half cosine to
    ``final`` at ``total``; clamped at ``final`` (from above or below, as the ramp runs)."""
    if k < warmup:
        return start + (k / warmup) * (peak - start)
    progress = min((k - warmup) / max(1, total - warmup), 1.0)
    value = final + (peak - final) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return max(final, value) if final <= peak else min(final, value)


def warmup_linear(k: float, *, warmup: float, total: float, start: float, peak: float,
                  final: float) -> float:
    """Linear warmup from ``start`` to ``peak``, then a straight line to ``final`` at ``total``."""
    if k < warmup:
        return start + (k / warmup) * (peak - start)
    progress = min((k - warmup) / max(1, total - warmup), 1.0)
    return peak + progress * (final - peak)


def warmup_constant(k: float, *, warmup: float, start: float, peak: float) -> float:
    """Linear warmup from ``start`` to ``peak``, then ``peak`` for the rest of the run."""
    return start + (k / warmup) * (peak - start) if k < warmup else peak


def learning_rate(k: int, n: ScheduleLengths, start: float, peak: float, final: float) -> float:
    """Linear warmup from ``start`` to ``peak``, then a half cosine down to ``final``."""
    return warmup_cosine(k, warmup=n.warmup_steps, total=n.total_steps, start=start, peak=peak,
                         final=final)


def weight_decay(k: int, n: ScheduleLengths, start: float, final: float) -> float:
    """Half cosine from ``start`` to ``final`` over the whole schedule, clamped at ``final``."""
    return warmup_cosine(k, warmup=0, total=n.total_steps, start=start, peak=start, final=final)


def ema_momentum(k: int, n: ScheduleLengths, start: float, end: float) -> float:
    """Linear ramp: step k uses ``start + (k - 1) (end - start) / (ipe * epochs * ipe_scale)``."""
    return start + (k - 1) * (end - start) / n.momentum_steps

"""Per-step schedules of the reference trainer: warmup + cosine lr, cosine weight decay, EMA ramp.

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


def learning_rate(k: int, n: ScheduleLengths, start: float, peak: float, final: float) -> float:
    """Linear warmup from ``start`` to ``peak``, then a half cosine down to ``final``."""
    w, t = n.warmup_steps, n.total_steps
    if k < w:
        return start + (k / max(1, w)) * (peak - start)
    progress = (k - w) / max(1, t - w)
    return max(final, final + (peak - final) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def weight_decay(k: int, n: ScheduleLengths, start: float, final: float) -> float:
    """Half cosine from ``start`` to ``final`` over the whole schedule, clamped at ``final``."""
    progress = k / n.total_steps
    value = final + (start - final) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return max(final, value) if final <= start else min(final, value)


def ema_momentum(k: int, n: ScheduleLengths, start: float, end: float) -> float:
    """Linear ramp: step k uses ``start + (k - 1) (end - start) / (ipe * epochs * ipe_scale)``."""
    return start + (k - 1) * (end - start) / n.momentum_steps

"""Whether a run's teacher will have moved away from its random initialisation by the end.

An EMA teacher with the paper's momentum (0.996 -> 1.0, for 300 epochs) still holds most of its
initial weights after a short run, and so does the encoder that I-JEPA and V-JEPA evaluate by
default: the run may look like it learned nothing. ``validate`` and the start of ``run`` say
so, with the fix.
"""

from __future__ import annotations

from typing import Any

from jepa_kit.config import ComponentConfig
from jepa_kit.registry import registry

#: Above this share of initial weights left at the end, the teacher is mostly untrained.
LIMIT = 0.5


def retention_warning(config: ComponentConfig, *, total_steps: float, run_steps: int
                      ) -> str | None:
    """The warning for a target updater that keeps more than ``LIMIT`` of its initial weights
    after ``run_steps`` (its schedule spans ``total_steps``), or None."""
    updater: Any = registry("target_updater").load(config.kind)(config, total_steps=total_steps)
    retained = getattr(updater, "retained", None)
    if retained is None or run_steps < 1:
        return None
    share = float(retained(run_steps))
    if share <= LIMIT:
        return None
    start = updater.value(1)
    # A horizon already set (a very short run, or one stopped early by train.max_steps) is
    # fixed by more steps, not by the same setting again.
    horizon_set = any(getattr(config, key, 0) for key in ("horizon_fraction", "horizon_steps"))
    fix = ("train for more steps" if horizon_set else
           "shorten the teacher's horizon (--set target_updater.horizon_fraction=0.1 averages "
           "over a tenth of the run), or train for more steps")
    return (f"target_updater: after the run's {run_steps} steps the target encoder will still "
            f"hold {share:.0%} of its random initial weights (momentum {start:g} at step 1 "
            f"averages over ~{1 / max(1e-12, 1 - start):.0f} steps), so the encoder evaluated by "
            f"default will have learned little; {fix}")

"""Sampling planners that keep their last plan: the next call starts from it, shifted by the
steps the caller executed (receding horizon), as ``cem`` and ``mppi`` do."""

from __future__ import annotations

import torch

from jepa_kit.planners.base import Planner, PlannerConfig


class WarmStartPlanner(Planner):
    """A planner whose config has ``warm_start``: ``start_mean`` gives the first iteration's
    mean, ``keep`` stores the final one (clamped to [-1, 1]) and returns the plan."""

    def __init__(self, config: PlannerConfig, *, action_dim: int) -> None:
        super().__init__(config, action_dim=action_dim)
        self._mean: torch.Tensor | None = None

    def reset(self) -> None:
        self._mean = None

    def start_mean(self) -> torch.Tensor:
        """(horizon, A): zeros, or the last plan shifted by ``execute`` steps when warm."""
        c = self.config
        mean = torch.zeros((c.horizon, self.action_dim))
        if c.warm_start and self._mean is not None:  # type: ignore[attr-defined]
            mean[: c.horizon - c.execute] = self._mean[c.execute:]
        return mean

    def keep(self, mean: torch.Tensor) -> torch.Tensor:
        self._mean = mean.clamp(-1.0, 1.0)
        return self._mean.clone()

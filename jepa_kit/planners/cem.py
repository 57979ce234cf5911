"""The cross-entropy method, as V-JEPA 2-AC plans with it.

Per iteration: draw ``samples`` sequences from a diagonal Gaussian over (horizon, A), clip
them to the action box, score them with the energy, refit the mean and std to the ``elites``
lowest-energy ones. The plan is the final mean. Between calls of one episode the mean shifts
by the executed steps (warm start) and the std restarts, a common receding-horizon choice
(Assran et al. 2025, arXiv:2506.09985, Sec. 4; Rubinstein 1999).
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator

from jepa_kit.planners.base import Energy, PlannerConfig
from jepa_kit.planners.warm_start import WarmStartPlanner


class CEM(WarmStartPlanner):
    """Cross-entropy method over action sequences."""

    class Config(PlannerConfig):
        kind: Literal["cem"] = "cem"
        elites: int = Field(16, ge=1, le=100_000, description="Lowest-energy samples the "
                            "distribution is refitted to.")
        init_std: float = Field(1.0, gt=0, le=10, description="Initial std of each action "
                                "entry.")
        min_std: float = Field(0.05, ge=0, le=10, description="Floor of the refitted std.")
        warm_start: bool = Field(True, description="Start each call from the previous plan "
                                 "shifted by the executed steps.")

        @model_validator(mode="after")
        def _elites(self) -> CEM.Config:
            if self.elites > self.samples:
                raise ValueError(f"planner.elites={self.elites} exceeds planner.samples="
                                 f"{self.samples}")
            return self

    config: Config

    def plan(self, energy: Energy, *, generator: torch.Generator) -> torch.Tensor:
        c = self.config
        shape = (c.horizon, self.action_dim)
        mean = self.start_mean()
        std = torch.full(shape, c.init_std)
        for _ in range(c.iterations):
            noise = torch.randn((c.samples, *shape), generator=generator)
            candidates = (mean + std * noise).clamp(-1.0, 1.0)
            candidates[0] = mean.clamp(-1.0, 1.0)  # the current mean is always a candidate
            scores = energy(candidates).float().cpu()
            elite = candidates[torch.topk(scores, c.elites, largest=False).indices]
            mean = elite.mean(0)
            std = elite.std(0, unbiased=False).clamp_min(c.min_std) if c.elites > 1 else \
                torch.full(shape, c.min_std)
        return self.keep(mean)

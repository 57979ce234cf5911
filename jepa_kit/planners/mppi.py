"""Model-predictive path integral control (MPPI): a softmin-weighted average of samples.

Per iteration: perturb the mean sequence with Gaussian noise of std ``noise_std``, score the
samples, and move the mean to their average weighted by ``softmax(-(E - min E) / temperature)``
(Williams et al. 2017, "Information theoretic MPC for model-based reinforcement learning").
The energy is normalised by its spread across samples first, so one temperature suits energies
of any scale. Between calls of one episode the mean shifts by the executed steps.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field

from jepa_kit.planners.base import Energy, PlannerConfig
from jepa_kit.planners.warm_start import WarmStartPlanner


class MPPI(WarmStartPlanner):
    """MPPI over action sequences."""

    class Config(PlannerConfig):
        kind: Literal["mppi"] = "mppi"
        noise_std: float = Field(0.7, gt=0, le=10, description="Std of the Gaussian "
                                 "perturbations of each action entry.")
        temperature: float = Field(0.1, gt=0, le=100, description="Softmin temperature, in "
                                   "units of the energies' std across samples.")
        warm_start: bool = Field(True, description="Start each call from the previous plan "
                                 "shifted by the executed steps.")

    config: Config

    def plan(self, energy: Energy, *, generator: torch.Generator) -> torch.Tensor:
        c = self.config
        shape = (c.horizon, self.action_dim)
        mean = self.start_mean()
        for _ in range(c.iterations):
            noise = torch.randn((c.samples, *shape), generator=generator) * c.noise_std
            candidates = (mean + noise).clamp(-1.0, 1.0)
            candidates[0] = mean.clamp(-1.0, 1.0)
            scores = energy(candidates).float().cpu()
            spread = scores.std().clamp_min(1e-12)
            weights = torch.softmax(-(scores - scores.min()) / (spread * c.temperature), dim=0)
            mean = (weights[:, None, None] * candidates).sum(0)
        return self.keep(mean)

"""The planner interface: an energy over action sequences -> the sequence to act on.

A world model gives the energy (``jepa_kit.methods.ac_jepa.world_model.WorldModel.energy``:
the L1 distance between the representation predicted after the sequence and the goal's); a
planner searches the box [-1, 1]^A of actions for ``horizon`` steps. The caller executes the
first action (or a few) and plans again from what it then observes: receding-horizon control
as in V-JEPA 2-AC (Assran et al. 2025, arXiv:2506.09985, Sec. 4). ``reset`` forgets the
previous plan between episodes; planners may warm-start from it within one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

import torch
from pydantic import Field

from jepa_kit.config import ComponentConfig

#: actions (S, H, A) in [-1, 1] -> energies (S,); lower is better.
Energy = Callable[[torch.Tensor], torch.Tensor]


class PlannerConfig(ComponentConfig):
    """Base of planner configs: what every planner has."""

    component_kind: ClassVar[str] = "planner"

    horizon: int = Field(3, ge=1, le=256, description="Steps of each planned sequence.")
    samples: int = Field(128, ge=2, le=1_000_000, description="Action sequences evaluated "
                         "per iteration.")
    iterations: int = Field(3, ge=1, le=1000, description="Refinements of the sampling "
                            "distribution per planning call.")
    execute: int = Field(1, ge=1, le=256, description="Actions of each plan executed before "
                         "planning again (receding horizon); at most horizon.")


class Planner(ABC):
    """Built as ``cls(config, action_dim=A)``; ``plan`` returns (horizon, A) in [-1, 1].

    Not for: running the environment or the world model (the caller's), nor choosing how many
    actions to execute (``config.execute`` tells the caller)."""

    Config: ClassVar[type[PlannerConfig]]

    def __init__(self, config: PlannerConfig, *, action_dim: int) -> None:
        if config.execute > config.horizon:
            raise ValueError(f"planner.execute={config.execute} exceeds planner.horizon="
                             f"{config.horizon}")
        self.config = config
        self.action_dim = action_dim

    def reset(self) -> None:
        """Forget any plan kept from the previous call (a new episode starts)."""
        return None

    @abstractmethod
    def plan(self, energy: Energy, *, generator: torch.Generator) -> torch.Tensor:
        """The best action sequence found, (horizon, A), every entry in [-1, 1]. Draw every
        random number from ``generator``."""

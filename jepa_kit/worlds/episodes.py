"""Goal-reaching episodes in the room: a policy acts until the agent is within ``radius`` of the
goal or ``max_steps`` pass; success rate, final distance and steps are what ``jepa-kit plan``
reports, for the planner and for two baselines that need no model:

* ``random``: uniform actions in [-1, 1]^2, the floor any planner must beat;
* ``oracle``: full speed along the straight line to the goal (knows both positions), the
  ceiling in the open room (behind a wall it stalls, which is why it is a straight line and not
  a path planner).

Start and goal of episode ``i`` are drawn from ``(seed, i)`` alone, so every policy meets the
same episodes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from jepa_kit.worlds.room import Room

#: policy(room, goal, rng) -> the next actions to execute, (K, 2) in [-1, 1] (K >= 1).
Policy = Callable[[Room, np.ndarray, np.random.Generator], np.ndarray]


@dataclass
class Episode:
    """One episode: positions (steps + 1, 2), the goal, whether it was reached."""

    start: np.ndarray
    goal: np.ndarray
    positions: list[np.ndarray] = field(default_factory=list)
    success: bool = False

    @property
    def final_distance(self) -> float:
        return float(np.linalg.norm(self.positions[-1] - self.goal))

    @property
    def steps(self) -> int:
        return len(self.positions) - 1


def episode_task(room: Room, seed: int, index: int, min_distance: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(start, goal) of episode ``index``: free positions at least ``min_distance`` apart."""
    rng = np.random.default_rng([seed, 0x6F616C, index])
    start = room.sample_free(rng)
    while True:
        goal = room.sample_free(rng)
        if np.linalg.norm(goal - start) >= min_distance:
            return start, goal


def run_episode(room: Room, policy: Policy, start: np.ndarray, goal: np.ndarray, *,
                radius: float, max_steps: int, rng: np.random.Generator) -> Episode:
    """Act with ``policy`` from ``start`` until within ``radius`` of ``goal`` or ``max_steps``."""
    episode = Episode(start.copy(), goal.copy(), [room.reset(start)])
    while episode.steps < max_steps:
        if np.linalg.norm(room.position - goal) <= radius:
            episode.success = True
            break
        for action in np.atleast_2d(policy(room, goal, rng))[: max_steps - episode.steps]:
            episode.positions.append(room.step(action))
    episode.success = episode.success or bool(np.linalg.norm(room.position - goal) <= radius)
    return episode


def random_policy(room: Room, goal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(-1.0, 1.0, size=(1, 2))


def oracle_policy(room: Room, goal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.clip((goal - room.position) / room.spec.max_step, -1.0, 1.0)[None]


def summarise(episodes: list[Episode]) -> dict[str, float]:
    """Success rate, mean final distance and mean steps of ``episodes``."""
    return {
        "episodes": len(episodes),
        "success_rate": float(np.mean([e.success for e in episodes])),
        "final_distance": float(np.mean([e.final_distance for e in episodes])),
        "steps": float(np.mean([e.steps for e in episodes])),
    }

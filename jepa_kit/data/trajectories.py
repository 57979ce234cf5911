"""Trajectories of a point agent in the built-in room (``jepa_kit.worlds.room``): the data of
action-conditioned world models.

An item is one clip: ``num_frames`` rendered frames and the ``num_frames - 1`` actions between
them, drawn lazily from a numpy ``Generator`` seeded with ``(data.seed, split, index)``, so an
index gives the same clip in any process and the train and val splits are disjoint streams.
The agent's positions come with the clip for evaluation only (the ``states`` of a
``Trajectory``); a method that reads them as proprioception says so (``predictor.use_state``).

Policies: ``random`` draws each action uniformly in [-1, 1]^2, kept for ``action_repeat``
steps (a random walk that covers more of the room than fresh noise every step); ``scripted``
heads for a random waypoint at full speed with noise, a new waypoint when it arrives or is
stuck (so clips through the door occur often in the walled room).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch
from pydantic import Field, model_validator

from jepa_kit.data.base import Dataset, DatasetConfig
from jepa_kit.worlds.room import Room, RoomSpec

_SPLIT_KEYS = {True: 0x7472616A, False: 0x7476616C}  # "traj", "tval"


@dataclass(frozen=True)
class Trajectory:
    """One clip: frames uint8 (T, 3, H, W), actions float32 (T - 1, 2) in [-1, 1], states
    float32 (T, 2) (the agent's (x, y) in room units, for evaluation)."""

    frames: torch.Tensor
    actions: torch.Tensor
    states: torch.Tensor


class TrajectoriesConfig(DatasetConfig):
    """Options of the built-in room trajectories."""

    kind: Literal["trajectories"] = "trajectories"
    img_size: int = Field(32, ge=16, le=256, description="Side of the rendered frames, px.")
    num_workers: int = Field(0, ge=0, le=128, description="Data-loader worker processes per "
                             "rank (0: main process; clips are cheap to draw).")
    train_size: int = Field(4096, ge=1, le=10_000_000, description="Clips in the train split.")
    val_size: int = Field(512, ge=1, le=10_000_000, description="Clips in the val split.")
    num_frames: int = Field(4, ge=2, le=64, description="Frames per clip (T); T - 1 actions.")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed of the clips (independent of "
                      "run.seed).")
    policy: Literal["random", "scripted"] = Field(
        "random", description="random: uniform actions in [-1, 1]^2 held for action_repeat "
        "steps; scripted: toward random waypoints at full speed, with noise.")
    action_repeat: int = Field(1, ge=1, le=64, description="Steps a random action is held.")
    max_step: float = Field(0.08, gt=0, le=0.5, description="Largest move along each axis per "
                            "step, room units (the room is the unit square).")
    agent_radius: float = Field(0.06, gt=0, lt=0.25, description="Radius of the agent, room "
                                "units.")
    glow: float = Field(0.25, ge=0, le=2, description="Width of the agent's lamp (a Gaussian "
                        "glow on the floor), room units; 0: the agent alone.")
    wall: bool = Field(False, description="Split the room with a vertical wall at x = 0.5.")
    door_y: float = Field(0.5, gt=0, lt=1, description="Centre of the door in the wall (y).")
    door_width: float = Field(0.3, gt=0, le=1, description="Opening of the door, room units.")

    @model_validator(mode="after")
    def _door(self) -> TrajectoriesConfig:
        if self.wall and self.door_width <= 2 * self.agent_radius:
            raise ValueError(f"data.door_width={self.door_width} must exceed the agent's "
                             f"diameter 2 * data.agent_radius={2 * self.agent_radius}")
        return self

    def room_spec(self) -> RoomSpec:
        """The room these clips are drawn in (``jepa-kit plan`` runs its episodes there)."""
        return RoomSpec(img_size=self.img_size, max_step=self.max_step,
                        agent_radius=self.agent_radius, glow=self.glow, wall=self.wall,
                        door_y=self.door_y, door_width=self.door_width)


def _policy_actions(room: Room, start: np.ndarray, steps: int, config: TrajectoriesConfig,
                    rng: np.random.Generator) -> np.ndarray:
    """(steps, 2) actions of the configured policy from ``start`` (scripted: closed loop)."""
    actions = np.zeros((steps, 2))
    if config.policy == "random":
        for t in range(0, steps, config.action_repeat):
            actions[t:t + config.action_repeat] = rng.uniform(-1.0, 1.0, size=2)
        return actions
    position, waypoint = start.copy(), room.sample_free(rng)
    for t in range(steps):
        gap = (waypoint - position) / room.spec.max_step
        action = np.clip(gap, -1.0, 1.0) + rng.normal(0.0, 0.3, size=2)
        actions[t] = np.clip(action, -1.0, 1.0)
        moved = room.move(position, actions[t])
        if np.abs(moved - waypoint).max() < room.spec.max_step or np.allclose(moved, position):
            waypoint = room.sample_free(rng)
        position = moved
    return actions


class Trajectories(Dataset):
    """``(Trajectory, -1)`` items: clips of the agent moving under the configured policy."""

    #: Items are ``Trajectory`` clips, not images; the ``ac_jepa`` method reads them.
    modality: ClassVar[str] = "trajectory"
    Config = TrajectoriesConfig

    def __init__(self, config: TrajectoriesConfig, *, train: bool = True, seed: int = 0) -> None:
        self.config = config
        self.train = train
        self.classes: list[str] = []
        self.room = Room(config.room_spec())

    def __len__(self) -> int:
        return self.config.train_size if self.train else self.config.val_size

    def __getitem__(self, index: int) -> tuple[Trajectory, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"clip {index} out of range [0, {len(self)})")
        c = self.config
        rng = np.random.default_rng([c.seed, _SPLIT_KEYS[self.train], index])
        start = self.room.sample_free(rng)
        actions = _policy_actions(self.room, start, c.num_frames - 1, c, rng)
        states = [start]
        for action in actions:
            states.append(self.room.move(states[-1], action))
        frames = np.stack([self.room.render(p) for p in states])
        return Trajectory(torch.from_numpy(frames),
                          torch.from_numpy(actions.astype(np.float32)),
                          torch.from_numpy(np.stack(states).astype(np.float32))), -1

"""A point agent in a 2-D room, optionally split by a wall with a door, rendered to RGB frames.

The room is the unit square, x to the right and y downwards (image rows). An action is a move
``(dx, dy)`` in the box [-1, 1]^2, scaled by ``max_step`` (room units per step), so the agent
moves at most ``max_step`` along each axis. The agent is a disc of radius ``agent_radius``
whose centre stays inside the room, off the wall: a move that would enter the wall (inflated by
the agent's radius, so the disc never overlaps it) stops where it first would, which is how
the agent slides through the door and nowhere else.

The agent carries a lamp: a wide Gaussian glow of width ``glow`` around it lights the floor.
A planner that minimises a distance between representations needs the distance to change
with the agent's position everywhere in the room, not only where the agent overlaps its goal
(a sharp dot on a blank floor gives a flat energy beyond one agent radius); ``glow = 0``
draws the dot alone. This mirrors the simple navigation rooms world-model papers plan in
(e.g. the two-rooms environment of PLDM / eb_jepa).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FLOOR = np.array([0.15, 0.15, 0.18])
GLOW = np.array([0.75, 0.65, 0.35])
AGENT = np.array([1.0, 0.15, 0.1])
WALL = np.array([0.2, 0.35, 0.9])
#: Sub-steps of one move when checking for the wall: each is at most max_step / 8, far less
#: than the inflated wall's width, so no move tunnels through it.
SUBSTEPS = 8


@dataclass(frozen=True)
class RoomSpec:
    """Geometry and look of a room; every length is in room units (the room is [0, 1]^2)."""

    img_size: int = 32
    max_step: float = 0.08
    agent_radius: float = 0.06
    glow: float = 0.25
    wall: bool = False
    wall_x: float = 0.5
    wall_thickness: float = 0.04
    door_y: float = 0.5
    door_width: float = 0.3

    def __post_init__(self) -> None:
        if not 0 < self.max_step <= 0.5:
            raise ValueError(f"max_step must be in (0, 0.5], got {self.max_step}")
        if not 0 < self.agent_radius < 0.25:
            raise ValueError(f"agent_radius must be in (0, 0.25), got {self.agent_radius}")
        if self.wall and self.door_width <= 2 * self.agent_radius:
            raise ValueError(f"door_width {self.door_width} must exceed the agent's diameter "
                             f"{2 * self.agent_radius}, or the door is shut")


class Room:
    """The simulator: ``reset``, ``step``, ``render``; positions are numpy (2,) float64 (x, y)."""

    def __init__(self, spec: RoomSpec) -> None:
        self.spec = spec
        self.position = np.array([0.5, 0.5])
        side = spec.img_size
        centres = (np.arange(side) + 0.5) / side
        self._xs, self._ys = np.meshgrid(centres, centres)  # (S, S): pixel centres
        self._wall_pixels = self._wall_mask()

    # -- geometry --------------------------------------------------------------------------
    def blocked(self, position: np.ndarray) -> bool:
        """Whether an agent centred at ``position`` (x, y) overlaps the wall or leaves the
        room."""
        s, (x, y) = self.spec, position
        r = s.agent_radius
        if not (r <= x <= 1 - r and r <= y <= 1 - r):
            return True
        if not s.wall:
            return False
        in_band = abs(x - s.wall_x) < s.wall_thickness / 2 + r
        in_door = abs(y - s.door_y) <= s.door_width / 2 - r
        return bool(in_band and not in_door)

    def clip_action(self, action: np.ndarray) -> np.ndarray:
        return np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)

    def move(self, position: np.ndarray, action: np.ndarray) -> np.ndarray:
        """Where a move ``action`` (in [-1, 1]^2, clipped) from ``position`` ends."""
        s = self.spec
        delta = self.clip_action(action) * s.max_step
        r = s.agent_radius
        current = np.asarray(position, dtype=np.float64)
        for _ in range(SUBSTEPS):
            nxt = current + delta / SUBSTEPS
            # The room's edges stop one axis only, so the agent slides along them.
            nxt = np.clip(nxt, r, 1 - r)
            if self.blocked(nxt):
                return current
            current = nxt
        return current

    def sample_free(self, rng: np.random.Generator) -> np.ndarray:
        """A uniform position the agent may occupy."""
        r = self.spec.agent_radius
        while True:
            p = rng.uniform(r, 1 - r, size=2)
            if not self.blocked(p):
                return p

    def side(self, position: np.ndarray) -> int:
        """-1 left of the wall, +1 right of it (0 without a wall)."""
        if not self.spec.wall:
            return 0
        return -1 if position[0] < self.spec.wall_x else 1

    # -- simulation ------------------------------------------------------------------------
    def reset(self, position: np.ndarray) -> np.ndarray:
        p = np.asarray(position, dtype=np.float64)
        if self.blocked(p):
            raise ValueError(f"position {p.tolist()} is not free")
        self.position = p.copy()
        return self.position.copy()

    def step(self, action: np.ndarray) -> np.ndarray:
        self.position = self.move(self.position, action)
        return self.position.copy()

    # -- rendering -------------------------------------------------------------------------
    def _wall_mask(self) -> np.ndarray:
        s = self.spec
        if not s.wall:
            return np.zeros_like(self._xs, dtype=bool)
        in_band = np.abs(self._xs - s.wall_x) < s.wall_thickness / 2
        in_door = np.abs(self._ys - s.door_y) <= s.door_width / 2
        return in_band & ~in_door

    def render(self, position: np.ndarray | None = None) -> np.ndarray:
        """uint8 (3, S, S) frame of the agent at ``position`` (default: where it is)."""
        s = self.spec
        x, y = self.position if position is None else position
        d2 = (self._xs - x) ** 2 + (self._ys - y) ** 2
        image = np.broadcast_to(FLOOR, (*d2.shape, 3)).copy()
        if s.glow > 0:
            image += np.exp(-d2 / (2 * s.glow**2))[..., None] * GLOW
        # An anti-aliased edge one pixel wide, so sub-pixel moves change the frame.
        px = 1.0 / s.img_size
        cover = np.clip((s.agent_radius - np.sqrt(d2)) / px + 0.5, 0.0, 1.0)[..., None]
        image = image * (1 - cover) + AGENT * cover
        image[self._wall_pixels] = WALL
        return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8).transpose(2, 0, 1)

"""A PNG of one episode: the frames the agent saw, the goal image, and a map of the path."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from jepa_kit.worlds.episodes import Episode
from jepa_kit.worlds.room import Room

TILE = 64


def _tile(frame: np.ndarray) -> Image.Image:
    return Image.fromarray(frame.transpose(1, 2, 0)).resize((TILE, TILE), Image.NEAREST)


def episode_strip(room: Room, episode: Episode, plan: np.ndarray | None = None,
                  max_frames: int = 12) -> Image.Image:
    """Top row: up to ``max_frames`` frames of the episode (evenly spaced, first and last
    included), then the goal image framed in green. Bottom row: the room with the path (white),
    the start (blue), the goal (green), the success radius and, when given, where the first
    plan's actions (``plan`` (H, 2)) would take the agent from the start (yellow)."""
    positions = episode.positions
    picks = np.unique(np.linspace(0, len(positions) - 1, min(max_frames, len(positions)))
                      .round().astype(int))
    tiles = [_tile(room.render(positions[i])) for i in picks]
    goal = _tile(room.render(episode.goal))
    width = (len(tiles) + 1) * (TILE + 4)
    sheet = Image.new("RGB", (max(width, 4 * TILE), TILE + 8 + 4 * TILE), "black")
    for i, tile in enumerate(tiles):
        sheet.paste(tile, (i * (TILE + 4), 0))
    x0 = len(tiles) * (TILE + 4)
    sheet.paste(goal, (x0, 0))
    draw = ImageDraw.Draw(sheet)
    draw.rectangle([x0, 0, x0 + TILE - 1, TILE - 1], outline=(0, 255, 0), width=2)
    side = 4 * TILE
    top = TILE + 8
    room_map = Image.fromarray(room.render(episode.start).transpose(1, 2, 0)).resize(
        (side, side), Image.NEAREST)
    sheet.paste(room_map, (0, top))

    def at(p: np.ndarray) -> tuple[float, float]:
        return float(p[0] * side), float(top + p[1] * side)

    draw.line([at(p) for p in positions], fill=(255, 255, 255), width=2)
    if plan is not None:
        planned, p = [positions[0]], positions[0]
        for action in plan:
            p = room.move(p, action)
            planned.append(p)
        draw.line([at(q) for q in planned], fill=(255, 220, 0), width=2)
    gx, gy = at(episode.goal)
    r = 0.1 * side
    draw.ellipse([gx - r, gy - r, gx + r, gy + r], outline=(0, 255, 0), width=2)
    sx, sy = at(episode.start)
    draw.ellipse([sx - 4, sy - 4, sx + 4, sy + 4], fill=(60, 120, 255))
    return sheet

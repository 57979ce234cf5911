"""The room simulator by value: moves, edges, the wall and its door, rendering; the
trajectories data kind built on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jepa_kit.data.trajectories import Trajectories, TrajectoriesConfig
from jepa_kit.worlds.room import AGENT, FLOOR, WALL, Room, RoomSpec


def colour(rgb: np.ndarray) -> list[int]:
    return [int(v * 255 + 0.5) for v in rgb]


def test_moves_are_scaled_and_clipped_to_the_action_box() -> None:
    room = Room(RoomSpec())
    room.reset(np.array([0.5, 0.5]))
    np.testing.assert_allclose(room.step(np.array([1.0, 0.0])), [0.58, 0.5])
    np.testing.assert_allclose(room.step(np.array([2.0, -3.0])), [0.66, 0.42])  # (1, -1)
    np.testing.assert_allclose(room.step(np.array([-0.5, 0.25])), [0.62, 0.44])


def test_edges_stop_one_axis_and_the_agent_slides_along_them() -> None:
    room = Room(RoomSpec())
    room.reset(np.array([0.1, 0.5]))
    np.testing.assert_allclose(room.step(np.array([-1.0, 1.0])), [0.06, 0.58])
    assert room.blocked(np.array([0.05, 0.5])) and not room.blocked(np.array([0.06, 0.5]))


def test_the_wall_stops_a_move_and_the_door_lets_it_through() -> None:
    room = Room(RoomSpec(wall=True))  # wall at x = 0.5 (0.04 thick), door y in [0.35, 0.65]
    room.reset(np.array([0.4, 0.1]))
    x = room.step(np.array([1.0, 0.0]))[0]
    assert 0.41 - 1e-9 <= x <= 0.42  # stops one sub-step (0.01) before the inflated wall
    for _ in range(3):
        room.step(np.array([1.0, 0.0]))
    assert room.position[0] <= 0.42 and room.side(room.position) == -1
    room.reset(np.array([0.4, 0.5]))
    for _ in range(3):
        room.step(np.array([1.0, 0.0]))
    np.testing.assert_allclose(room.position, [0.64, 0.5])
    assert room.side(room.position) == 1
    assert room.blocked(np.array([0.5, 0.2])) and not room.blocked(np.array([0.5, 0.5]))
    # The door is narrowed by the agent's radius: its centre must keep 0.06 from the jambs.
    assert room.blocked(np.array([0.5, 0.5 + 0.15 - 0.05]))
    assert not room.blocked(np.array([0.5, 0.5 + 0.15 - 0.07]))


def test_a_shut_door_is_refused() -> None:
    with pytest.raises(ValueError, match="door_width 0.1 must exceed the agent's diameter"):
        RoomSpec(wall=True, door_width=0.1)


def test_rendering_by_value() -> None:
    room = Room(RoomSpec(img_size=32, glow=0.0, wall=True))
    frame = room.render(np.array([0.25, 0.25]))
    assert frame.shape == (3, 32, 32) and frame.dtype == np.uint8
    assert frame[:, 7, 7].tolist() == colour(AGENT)  # pixel centre (0.234, 0.234)
    assert frame[:, 28, 4].tolist() == colour(FLOOR)
    assert frame[:, 2, 16].tolist() == colour(WALL)  # x = 0.516: inside the wall
    assert frame[:, 16, 16].tolist() == colour(FLOOR)  # the door
    lit = Room(RoomSpec(img_size=32)).render(np.array([0.25, 0.25]))
    brightness = lit.astype(int).sum(0)[7, 10:]  # along the row, away from the agent
    assert (np.diff(brightness) <= 0).all() and brightness[0] > brightness[-1] + 100
    shifted = room.render(np.array([0.26, 0.25]))
    assert not np.array_equal(shifted, frame)  # sub-pixel moves change the anti-aliased edge


def test_trajectories_follow_the_simulator_and_are_seeded() -> None:
    config = TrajectoriesConfig(train_size=4, val_size=2, num_frames=5)
    data = Trajectories(config, train=True)
    clip, label = data[1]
    assert label == -1
    assert clip.frames.shape == (5, 3, 32, 32) and clip.frames.dtype == torch.uint8
    assert clip.actions.shape == (4, 2) and clip.states.shape == (5, 2)
    assert bool((clip.actions.abs() <= 1).all())
    room = Room(config.room_spec())
    position = clip.states[0].double().numpy()
    for t, action in enumerate(clip.actions.double().numpy(), start=1):
        position = room.move(position, action)
        np.testing.assert_allclose(clip.states[t].numpy(), position, atol=1e-6)
        assert np.array_equal(clip.frames[t].numpy(), room.render(position))
    again, _ = Trajectories(config, train=True)[1]
    assert torch.equal(again.frames, clip.frames) and torch.equal(again.actions, clip.actions)
    val, _ = Trajectories(config, train=False)[1]
    assert not torch.equal(val.states, clip.states)
    with pytest.raises(IndexError, match="clip 4 out of range"):
        data[4]


def test_scripted_clips_cross_the_door() -> None:
    config = TrajectoriesConfig(train_size=64, num_frames=16, policy="scripted", wall=True)
    data = Trajectories(config)
    room = Room(config.room_spec())
    crossed = 0
    for i in range(len(data)):
        sides = {room.side(s.numpy()) for s in data[i][0].states}
        crossed += sides == {-1, 1}
    assert crossed >= 4

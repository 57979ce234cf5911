"""The world model planners use: frame encoding (image and video encoders), rollout, energy."""

from __future__ import annotations

import torch

from jepa_kit.encoders.vit import ViTEncoder
from jepa_kit.encoders.vit_video import VideoViTEncoder
from jepa_kit.methods.ac_jepa.world_model import WorldModel, encode_frames
from jepa_kit.predictors.action_conditioned import ActionConditionedPredictor


def tiny_predictor(use_state: bool) -> ActionConditionedPredictor:
    config = ActionConditionedPredictor.Config(embed_dim=16, depth=1, num_heads=2,
                                               action_dim=2, state_dim=2, use_state=use_state)
    return ActionConditionedPredictor(config, grid=(2, 2), embed_dim=24)


def test_encode_frames_image_and_video_encoders() -> None:
    torch.manual_seed(0)
    frames = torch.randn(2, 3, 3, 32, 32)
    image = ViTEncoder(ViTEncoder.Config(embed_dim=24, depth=1, num_heads=2, patch_size=16),
                       img_size=32)
    z = encode_frames(image, frames, img_size=32)
    assert z.shape == (2, 3, 4, 24)
    torch.testing.assert_close(z[1, 2], image(frames[1, 2:3])[0])
    # Frames of another size are resized to the encoder's.
    assert encode_frames(image, torch.randn(1, 2, 3, 64, 64), img_size=32).shape == (1, 2, 4, 24)
    video = VideoViTEncoder(VideoViTEncoder.Config(embed_dim=24, depth=1, num_heads=2,
                                                   patch_size=16, num_frames=4,
                                                   tubelet_size=2), img_size=32)
    zv = encode_frames(video, frames, img_size=32, clip_frames=4)
    assert zv.shape == (2, 3, 4, 24)
    still = frames[0, 1][:, None].expand(-1, 4, -1, -1)[None]  # (1, 3, 4, S, S)
    torch.testing.assert_close(zv[0, 1], video(still)[0].view(2, 4, 24).mean(0))


def test_rollout_feeds_predictions_back_and_energy_reads_the_last_step() -> None:
    torch.manual_seed(0)
    encoder = ViTEncoder(ViTEncoder.Config(embed_dim=24, depth=1, num_heads=2, patch_size=16),
                         img_size=32)
    model = WorldModel(encoder, tiny_predictor(False), img_size=32)
    z0 = model.encode(torch.randn(1, 3, 32, 32))
    goal = model.encode(torch.randn(1, 3, 32, 32))
    actions = torch.rand(5, 3, 2) * 2 - 1
    out = model.rollout(z0, actions)
    assert out.shape == (5, 3, 4, 24)
    # Step 2 by hand: the predictor on [z0, step 1] with the first two actions.
    seq = torch.cat([z0.expand(5, -1, -1), out[:, 0]], dim=1)
    step2 = model.predictor(seq, actions[:, :2], None)[:, -4:]
    torch.testing.assert_close(out[:, 1], torch.nn.functional.layer_norm(step2, (24,)))
    energy = model.energy(z0, goal, actions)
    torch.testing.assert_close(energy, (out[:, -1] - goal).abs().mean(dim=(1, 2)))
    # Changing only the last action changes only the last step.
    moved = actions.clone()
    moved[:, 2] = -moved[:, 2]
    again = model.rollout(z0, moved)
    torch.testing.assert_close(again[:, :2], out[:, :2])


def test_states_advance_by_the_actions() -> None:
    torch.manual_seed(0)
    encoder = ViTEncoder(ViTEncoder.Config(embed_dim=24, depth=1, num_heads=2, patch_size=16),
                         img_size=32)
    seen: list[torch.Tensor] = []
    predictor = tiny_predictor(True)
    original = predictor.forward

    def spy(tokens: torch.Tensor, actions: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        seen.append(states.clone())
        return original(tokens, actions, states)

    predictor.forward = spy  # type: ignore[method-assign]
    model = WorldModel(encoder, predictor, img_size=32, max_step=0.1)
    z0 = model.encode(torch.randn(1, 3, 32, 32))
    model.rollout(z0, torch.tensor([[[1.0, 0.0], [0.5, -1.0]]]), torch.tensor([0.2, 0.3]))
    torch.testing.assert_close(seen[-1], torch.tensor([[[0.2, 0.3], [0.3, 0.3]]]))

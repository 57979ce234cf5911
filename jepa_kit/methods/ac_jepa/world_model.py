"""A trained action-conditioned world model as planners use it: encode, roll out, energy.

The energy of an action sequence is V-JEPA 2-AC's planning objective: the L1 distance between
the representation the predictor rolls out to after the last action and the goal image's
representation, ``mean |P(a_1..a_H; z_0) - z_goal|`` over tokens and features ([0], Sec. 4,
Eq. 4). Rollouts are autoregressive from the current frame's tokens, as in training.

- [0]: V-JEPA 2, Assran et al. 2025, arXiv:2506.09985
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def encode_frames(encoder: nn.Module, frames: torch.Tensor, *, img_size: int,
                  clip_frames: int = 1) -> torch.Tensor:
    """(B, T, N, D) tokens of ``frames`` (B, T, 3, H, W), each frame encoded on its own.

    An image encoder takes the frames as a batch of images; a video encoder
    (``clip_frames > 1`` frames per clip) takes each frame repeated into a still clip, its
    tokens averaged over the temporal grid (V-JEPA 2-AC repeats each frame over one tubelet).
    Frames are resized to the encoder's ``img_size`` when they differ.
    """
    b, t = frames.shape[:2]
    x = frames.flatten(0, 1)  # (B*T, 3, H, W)
    if x.shape[-1] != img_size or x.shape[-2] != img_size:
        x = F.interpolate(x, size=(img_size, img_size), mode="bilinear", align_corners=False,
                          antialias=True)
    if clip_frames > 1:
        x = x.unsqueeze(2).expand(-1, -1, clip_frames, -1, -1)  # (B*T, 3, F, S, S)
    tokens = encoder(x)  # (B*T, Tg*N, D)
    n = encoder.grid[-2] * encoder.grid[-1]
    tokens = tokens.view(b * t, -1, n, tokens.shape[-1]).mean(1)  # (B*T, N, D)
    return tokens.view(b, t, n, -1)


class WorldModel(nn.Module):
    """Encoder + action-conditioned predictor, in eval mode, for planning without gradients.

    ``max_step`` turns actions into the change of the proprioceptive state when the predictor
    reads states (the agent's position moves by ``action * max_step``, ignoring walls)."""

    def __init__(self, encoder: nn.Module, predictor: nn.Module, *, img_size: int,
                 clip_frames: int = 1, normalize: bool = True, max_step: float = 1.0) -> None:
        super().__init__()
        self.encoder, self.predictor = encoder.eval(), predictor.eval()
        self.img_size, self.clip_frames = img_size, clip_frames
        self.normalize = normalize
        self.max_step = max_step
        self.use_state = getattr(predictor, "state_encoder", None) is not None

    @torch.no_grad()
    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, N, D) normalised tokens of images (B, 3, H, W)."""
        z = encode_frames(self.encoder, frames.unsqueeze(1), img_size=self.img_size,
                          clip_frames=self.clip_frames)[:, 0]
        return F.layer_norm(z, (z.shape[-1],)) if self.normalize else z

    @torch.no_grad()
    def rollout(self, z0: torch.Tensor, actions: torch.Tensor,
                state0: torch.Tensor | None = None) -> torch.Tensor:
        """(S, H, N, D) predicted tokens after each of ``actions`` (S, H, A), from ``z0``
        (1, N, D) or (S, N, D) and, for a predictor with states, ``state0`` (A,) or (S, A)."""
        s, horizon = actions.shape[:2]
        n = z0.shape[-2]
        z = z0.expand(s, -1, -1)
        states = None
        if self.use_state:
            if state0 is None:
                raise ValueError("this world model's predictor reads states: pass state0")
            moves = torch.cumsum(actions.clamp(-1, 1) * self.max_step, dim=1)
            start = state0.expand(s, -1).unsqueeze(1)
            states = torch.cat([start, start + moves[:, :-1]], dim=1)  # (S, H, A)
        out = []
        for k in range(horizon):
            st = None if states is None else states[:, :k + 1]
            nxt = self.predictor(z, actions[:, :k + 1], st)[:, -n:]
            if self.normalize:
                nxt = F.layer_norm(nxt, (nxt.shape[-1],))
            out.append(nxt)
            z = torch.cat([z, nxt], dim=1)
        return torch.stack(out, dim=1)

    @torch.no_grad()
    def energy(self, z0: torch.Tensor, goal: torch.Tensor, actions: torch.Tensor,
               state0: torch.Tensor | None = None) -> torch.Tensor:
        """(S,) L1 energy of each action sequence (S, H, A): the last predicted frame against
        the goal's tokens ``goal`` (1, N, D)."""
        final = self.rollout(z0, actions, state0)[:, -1]
        return (final - goal).abs().mean(dim=(-2, -1))

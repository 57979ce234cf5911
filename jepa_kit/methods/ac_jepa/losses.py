"""V-JEPA 2-AC's two losses, as pure functions of the predictor and the target tokens.

With ``h`` the (normalised) target tokens of frames 0..T-1, flattened (B, T*N, D):

* teacher forcing: the predictor reads the true tokens of frames 0..T-2 with actions 0..T-2
  and predicts frames 1..T-1 in one pass (block-causal, so each output sees only the past);
* rollout: from the true frame 0 and the teacher-forced prediction of frame 1, the predictor
  is run autoregressively on its own outputs for ``auto_steps - 1`` more steps.

Both are ``mean(|z - h| ** p) / p`` against the matching true frames, p = 1 (L1 in feature
space) in the paper; the loss is their sum ([0], Sec. 3.1, Eqs. 2-3; the official
``app/vjepa_droid/train.py``: ``forward_predictions``, ``loss_fn``, ``loss = jloss + sloss``).
Predictions are layer-normed over the feature dim when the targets are (``normalize_reps``).

- [0]: V-JEPA 2, Assran et al. 2025, arXiv:2506.09985
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

#: predictor(tokens (B, t*N, D), actions (B, t, A), states (B, t, S) | None) -> (B, t*N, D)
PredictorFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


def feature_loss(z: torch.Tensor, h: torch.Tensor, tokens_per_frame: int, loss_exp: float = 1.0
                 ) -> torch.Tensor:
    """``mean(|z - h'| ** p) / p`` where h' is ``h`` from frame 1 on, cut to ``z``'s length."""
    target = h[:, tokens_per_frame: z.shape[1] + tokens_per_frame]
    return torch.mean(torch.abs(z - target) ** loss_exp) / loss_exp


def ac_predictions(predictor: PredictorFn, h: torch.Tensor, actions: torch.Tensor,
                   states: torch.Tensor | None, tokens_per_frame: int, auto_steps: int,
                   normalize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """``(z_tf, z_ar)``: teacher-forced predictions of frames 1..T-1 (B, (T-1)*N, D) and the
    rollout's predictions of frames 1..auto_steps (B, auto_steps*N, D).

    ``h`` (B, T*N, D) the tokens the predictor reads (the frozen encoder's: the targets
    themselves), ``actions`` (B, T-1, A), ``states`` (B, T, S) or None.
    """
    n = tokens_per_frame

    def step(z: torch.Tensor, a: torch.Tensor, s: torch.Tensor | None) -> torch.Tensor:
        out = predictor(z, a, s)
        return F.layer_norm(out, (out.shape[-1],)) if normalize else out

    z_tf = step(h[:, :-n], actions, None if states is None else states[:, :-1])
    z = torch.cat([h[:, :n], z_tf[:, :n]], dim=1)
    for k in range(1, auto_steps):
        s = None if states is None else states[:, :k + 1]
        z = torch.cat([z, step(z, actions[:, :k + 1], s)[:, -n:]], dim=1)
    return z_tf, z[:, n:]


def ac_losses(predictor: PredictorFn, h: torch.Tensor, actions: torch.Tensor,
              states: torch.Tensor | None, tokens_per_frame: int, auto_steps: int,
              normalize: bool = True, loss_exp: float = 1.0,
              targets: torch.Tensor | None = None
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(loss, teacher_forcing, rollout)`` with ``loss = teacher_forcing + rollout``.

    The predictor reads ``h``; the losses compare with ``targets`` (default ``h``: the frozen
    case; an end-to-end model reads its online tokens and compares with stopped targets)."""
    z_tf, z_ar = ac_predictions(predictor, h, actions, states, tokens_per_frame, auto_steps,
                                normalize)
    h = h if targets is None else targets
    jloss = feature_loss(z_tf, h, tokens_per_frame, loss_exp)
    sloss = feature_loss(z_ar, h, tokens_per_frame, loss_exp)
    return jloss + sloss, jloss, sloss

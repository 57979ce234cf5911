"""The small supervised fitting loop the evaluation probes share.

Trains one or more models on the same stream of ``(inputs, labels)`` mini-batches: before each
step the model's ``values(step)`` (0-based) gives the learning rate and weight decay written
into its optimizer (``stepper.set_values``: ``lr x lr_scale`` in every group, the weight decay
in groups not marked ``WD_exclude``; None leaves it as built), then loss, backward, optional
gradient-norm clipping and the optimizer step. Several models on one stream is how a grid of
probe settings shares each batch of on-the-fly features (DINO's linear-head grid, [0]).

- [0]: DINO, Caron et al. 2021, arXiv:2104.14294 (``eval_linear.py``)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from jepa_kit.optim.stepper import set_values

#: ``values(step)`` -> (lr, weight decay or None), for 0-based ``step``.
Values = Callable[[int], tuple[float, float | None]]


@dataclass
class Fitted:
    """One model of a fit: the model, its optimizer, its schedule and its clipping norm."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    values: Values
    grad_clip: float | None = None


@torch.enable_grad()
def fit(runs: Sequence[Fitted], batches: Iterable[tuple[torch.Tensor, torch.Tensor]], *,
        loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy) -> int:
    """Train every run's model on each batch of ``batches`` in turn; returns the steps taken.

    Models are put in train mode first and left in eval mode with gradients off.
    """
    for run in runs:
        run.model.train()
    step = 0
    for x, y in batches:
        for run in runs:
            lr, wd = run.values(step)
            set_values(run.optimizer, lr, wd)
            value = loss(run.model(x), y)
            run.optimizer.zero_grad(set_to_none=True)
            value.backward()
            if run.grad_clip is not None:
                nn.utils.clip_grad_norm_(run.model.parameters(), run.grad_clip)
            run.optimizer.step()
        step += 1
    for run in runs:
        run.model.eval().requires_grad_(False)
    return step

"""One I-JEPA step, written as the paper's phases.

    masks (sampled in the loader) -> encode context -> predict target representations
    -> encode targets (no grad) -> loss

The backward pass, optimizer step and target update live in the trainer, which owns the
optimizer. Everything here is pure with respect to its inputs.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243 (Sec. 3, Fig. 3)
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from jepa_kit.losses.base import Loss
from jepa_kit.maskers.base import Masks
from jepa_kit.ops.masks import apply_masks


@dataclass
class StepOutput:
    loss: torch.Tensor  # scalar, fp32
    predictions: torch.Tensor  # (M * B, Kt, D), detached
    targets: torch.Tensor  # (M * B, Kt, D)
    target_features: torch.Tensor  # (B, N, D) full target-encoder output, normalised


def autocast(device_type: str, precision: str) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device_type=device_type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def jepa_forward(
    encoder: nn.Module,
    predictor: nn.Module,
    target_encoder: nn.Module,
    loss_fn: Loss,
    images: torch.Tensor,
    masks: Masks,
    *,
    precision: str = "fp32",
) -> StepOutput:
    """Loss of one batch; ``images`` (B, C, H, W), masks as sampled by the masker."""
    amp = autocast(images.device.type, precision)

    # 1. Encode the context block: only the kept patches enter the encoder.
    with amp:
        context = encoder(images, masks.context)  # (B, Kc, D)

        # 2. Predict the target blocks' representations from the context.
        predictions = predictor(context, masks.context, masks.targets)  # (M*B, Kt, D)

    # 3. Encode the whole image with the target encoder; no gradient flows into it.
    with torch.no_grad(), amp:
        features = loss_fn.prepare_targets(target_encoder(images).float())  # (B, N, D)
    targets = apply_masks(features, masks.targets)  # (M*B, Kt, D), block-major like predictions

    # 4. Distance in representation space, in fp32.
    loss = loss_fn(predictions.float(), targets)
    return StepOutput(loss, predictions.detach(), targets, features)

"""I-JEPA: predict the representations of target blocks from one context block.

    masks (sampled in the loader) -> encode context -> predict target representations
    -> encode targets (no grad) -> loss; after the optimizer step, EMA of the target encoder.

"The target encoder weights are updated via an exponential moving average of the context-encoder
weights" and "the loss is the average L2 distance between the predicted patch-level
representations and the target patch-level representations" ([0], Sec. 3).

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243 (Sec. 3, Fig. 3)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from jepa_kit.build import build_loss
from jepa_kit.config import ComponentConfig
from jepa_kit.data.loader import Batch
from jepa_kit.errors import UserError
from jepa_kit.losses.base import Loss
from jepa_kit.maskers.base import Masks
from jepa_kit.methods.base import MethodConfig, StepOutput, autocast, check_networks
from jepa_kit.methods.checks import Check
from jepa_kit.methods.ijepa.eval_defaults import IJEPAProbeViews
from jepa_kit.methods.ijepa.importer import IJEPAImporter
from jepa_kit.methods.teacher_student import TeacherStudent
from jepa_kit.ops.masks import apply_masks, bucket_length, pad_indices
from jepa_kit.optim.schedules import ScheduleLengths
from jepa_kit.registry import registry


def ijepa_forward(encoder: nn.Module, predictor: nn.Module, target_encoder: nn.Module,
                  loss_fn: Loss, images: torch.Tensor, masks: Masks, *,
                  precision: str = "fp32", check: Check | None = None,
                  length_bucket: int = 0, num_patches: int = 0) -> StepOutput:
    """Loss of one batch; ``images`` (B, C, H, W), masks as sampled by the masker.

    ``check(slot, what, tensor, shape)``, when given, sees each component's output (the
    method's first-step checks). ``length_bucket`` > 0 is the fixed-shape path: the context
    and target index sets are padded up to a multiple of it (at most ``num_patches``) and the
    padded tokens masked out of attention, so the networks see a few shapes instead of one per
    batch; the loss reads the real target tokens only, so it equals the unpadded loss up to
    float rounding."""
    amp = autocast(images.device.type, precision)
    (m, b, kt), kc = masks.targets.shape, masks.context.shape[1]
    context_idx, target_idx = masks.context, masks.targets
    encoder_padding: dict[str, torch.Tensor] = {}
    padding: dict[str, torch.Tensor] = {}
    if length_bucket:
        context_idx, context_valid = pad_indices(
            masks.context, bucket_length(kc, length_bucket, num_patches))
        target_idx, target_valid = pad_indices(
            masks.targets, bucket_length(kt, length_bucket, num_patches))
        encoder_padding = {"keep_valid": context_valid}
        padding = {"context_valid": context_valid, "target_valid": target_valid}
    lc, lt = context_idx.shape[1], target_idx.shape[2]

    # 1. Encode the context block: only the kept patches enter the encoder.
    with amp:
        context = encoder(images, context_idx, **encoder_padding)  # (B, Kc, D)
        if check is not None:
            check("encoder", "forward(images, context indices)", context, (b, lc, None))

        # 2. Predict the target blocks' representations from the context.
        predictions = predictor(context, context_idx, target_idx, **padding)  # (M*B, Kt, D)
        if check is not None:
            check("predictor", "forward(context, context_idx, target_idx)", predictions,
                  (m * b, lt, context.shape[-1]))
        predictions = predictions[:, :kt]  # the real target tokens (all of them unpadded)

    # 3. Encode the whole image with the target encoder; no gradient flows into it.
    with torch.no_grad(), amp:
        features = loss_fn.prepare_targets(target_encoder(images).float())  # (B, N, D)
    if check is not None:
        check("loss", "prepare_targets(target features)", features,
              (b, None, context.shape[-1]))
    targets = apply_masks(features, masks.targets)  # (M*B, Kt, D), block-major like predictions

    # 4. Distance in representation space, in fp32.
    loss = loss_fn(predictions.float(), targets)
    if check is not None:
        check("loss", "forward(predictions, targets)", loss, ())
    metrics = {"context_len": int(masks.context.shape[1]),
               "target_len": int(masks.targets.shape[2])}
    real = context[:, :kc]  # the context tokens without padding
    embeddings = {"context": real.reshape(-1, real.shape[-1]), "pooled_context": real.mean(1),
                  "predictions": predictions.reshape(-1, predictions.shape[-1])}
    return StepOutput(loss, metrics, features=features, predictions=predictions.detach(),
                      targets=targets, embeddings=embeddings)


class IJEPA(TeacherStudent):
    """Networks: ``encoder`` (trained), ``target_encoder`` (its EMA), ``predictor`` (trained)."""

    class Config(MethodConfig):
        kind: Literal["ijepa"] = "ijepa"
        length_bucket: int = Field(
            0, ge=0, le=65536, description="Fixed-shape path for compiled / CUDA-graph steps: "
            "pad the context and target token counts up to a multiple of this many tokens "
            "(capped at the patch grid) and mask the padding out of attention and the loss, "
            "so the networks see a few shapes instead of one per batch. 0 (default): no "
            "padding, the reference's shapes. Needs an encoder and predictor that accept "
            "padding (vit, timm; vit_predictor)."
        )

    slots: ClassVar[dict[str, str | None]] = {
        "encoder": "vit", "predictor": "vit_predictor", "masker": "multiblock",
        "target_updater": "ema", "loss": "l2", "views": "single",
    }
    reference_importer = IJEPAImporter
    eval_augmentation = IJEPAProbeViews
    embeddings: ClassVar[dict[str, str]] = {
        "context": "the context encoder's tokens of every context block, (B * Kc, D)",
        "pooled_context": "the context tokens averaged per image, (B, D)",
        "predictions": "the predictor's output tokens, (M * B * Kt, D)",
    }

    def __init__(self, config: Config, *, sections: Mapping[str, ComponentConfig],
                 img_size: int, lengths: ScheduleLengths, precision: str = "fp32",
                 seed: int = 0) -> None:
        super().__init__(config, sections=sections, img_size=img_size, lengths=lengths,
                         precision=precision, seed=seed)
        self.static_shapes = config.length_bucket > 0
        self.check_recipe(config, sections)  # also when built without a validated recipe
        check_networks(self)

    def build_parts(self, sections: Mapping[str, ComponentConfig]) -> None:
        self.loss_fn = build_loss(sections["loss"])

    @classmethod
    def check_recipe(cls, config: MethodConfig, sections: Mapping[str, ComponentConfig]
                     ) -> None:
        super().check_recipe(config, sections)
        bucket = getattr(config, "length_bucket", 0)
        if not bucket:
            return
        # The padded path passes keep_valid / context_valid, which only these classes take.
        for slot, article in (("encoder", "an"), ("predictor", "a")):
            kind = sections[slot].kind
            if not getattr(registry(slot).load(kind), "accepts_padding", False):
                raise UserError(
                    f"method.length_bucket={bucket} needs {article} {slot} that accepts padded "
                    f"indices; {slot}.kind={kind!r} does not (set method.length_bucket = 0, "
                    f"or use vit / timm / vit_predictor)")

    def _check(self, slot: str, what: str, value: torch.Tensor,
               shape: tuple[int | None, ...]) -> None:
        if slot == "encoder":  # the width it declared, which the predictor was built for
            shape = (*shape[:-1], self.networks["encoder"].embed_dim)  # type: ignore[assignment]
        super()._check(slot, what, value, shape)

    def to(self, device: torch.device | str) -> IJEPA:
        super().to(device)
        self.loss_fn.to(device)
        return self

    def forward(self, batch: Batch, nets: Mapping[str, nn.Module]) -> StepOutput:
        assert batch.masks is not None, "I-JEPA batches carry masks (IJEPA.collator)"
        out = ijepa_forward(nets["encoder"], nets["predictor"], nets["target_encoder"],
                            self.loss_fn, batch.images, batch.masks, precision=self.precision,
                            check=None if self._checked else self._check,
                            length_bucket=self.config.length_bucket,
                            num_patches=self.networks["encoder"].num_patches)
        self._checked = True
        return out

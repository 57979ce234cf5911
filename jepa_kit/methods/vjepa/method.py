"""V-JEPA: predict the features of masked spatio-temporal regions of a clip from the rest.

    masks of every generator (sampled in the loader) -> target encoder on the whole clip
    (no grad, layer-normed) -> per generator: encode its context, predict its target tokens
    -> L1 loss averaged over generators; after the optimizer step, EMA of the target encoder.

"The target encoder ... weights are an exponential moving average of the x-encoder" and the
objective is the L1 distance between predicted and target features, ``mean(|P(z) - sg(h)|)``
([0], Sec. 3.1, Eq. 1). The official loss (``app/vjepa/train.py``) is, per mask generator,
``mean(|z - h| ** loss_exp) / loss_exp`` with ``loss_exp = 1``, summed over generators and
divided by their number; targets are the target encoder's output layer-normed over the feature
dim (no affine, eps 1e-5). Each generator's context goes through the encoder on its own (the
official ``MultiMaskWrapper``) and its prediction uses mask token ``g`` (the official
``PredictorMultiMaskWrapper``).

- [0]: V-JEPA, Bardes et al. 2024, arXiv:2404.08471
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from jepa_kit.config import ComponentConfig
from jepa_kit.data.loader import Batch
from jepa_kit.maskers.base import Masks
from jepa_kit.maskers.multiblock3d import mask_groups
from jepa_kit.methods.base import MethodConfig, StepOutput, autocast, check_networks
from jepa_kit.methods.checks import Check
from jepa_kit.methods.teacher_student import TeacherStudent
from jepa_kit.methods.vjepa.eval_defaults import VJEPAProbeViews
from jepa_kit.methods.vjepa.importer import VJEPAImporter
from jepa_kit.ops.masks import apply_masks
from jepa_kit.optim.schedules import ScheduleLengths


def feature_loss(predictions: torch.Tensor, targets: torch.Tensor, loss_exp: float
                 ) -> torch.Tensor:
    """``mean(|predictions - targets| ** loss_exp) / loss_exp`` (the official per-mask loss)."""
    return torch.mean(torch.abs(predictions - targets) ** loss_exp) / loss_exp


def vjepa_forward(encoder: nn.Module, predictor: nn.Module, target_encoder: nn.Module,
                  clips: torch.Tensor, masks: Masks, *, loss_exp: float = 1.0,
                  precision: str = "fp32", indexed: bool = True,
                  check: Check | None = None) -> StepOutput:
    """Loss of one batch of ``clips`` (B, C, T, H, W) under every generator's masks.

    ``indexed``: pass ``mask_index=g`` to the predictor (V-JEPA's per-generator mask tokens).
    ``check(slot, what, tensor, shape)``, when given, sees each component's first output.
    """
    amp = autocast(clips.device.type, precision)
    groups = mask_groups(masks)
    b = clips.shape[0]

    # 1. Target features of the whole clip, layer-normed; no gradient flows into them.
    with torch.no_grad(), amp:
        h = target_encoder(clips)
    h = F.layer_norm(h.float(), (h.shape[-1],))  # (B, N, D), eps 1e-5 as the official
    if check is not None:
        check("encoder", "forward(clips) of the target encoder", h, (b, None, None))

    losses, predictions, targets, metrics = [], [], [], {}
    contexts: list[torch.Tensor] = []
    for g, m in enumerate(groups):
        (blocks, _, kt), kc = m.targets.shape, m.context.shape[1]
        # 2. Encode this generator's context: only its tokens enter the encoder.
        with amp:
            z = encoder(clips, m.context)  # (B, Kc, D)
            if check is not None:
                check("encoder", "forward(clips, context indices)", z, (b, kc, h.shape[-1]))
            # 3. Predict its target tokens with its own mask token.
            kwargs = {"mask_index": g} if indexed else {}
            p = predictor(z, m.context, m.targets, **kwargs)  # (M*B, Kt, D)
            if check is not None:
                check("predictor", "forward(context, context_idx, target_idx)", p,
                      (blocks * b, kt, h.shape[-1]))
        contexts.append(z)
        t = apply_masks(h, m.targets)  # (M*B, Kt, D), block-major like the predictions
        losses.append(feature_loss(p.float(), t, loss_exp))
        predictions.append(p.detach())
        targets.append(t)
        metrics[f"loss_mask{g}"] = losses[-1].detach()
        metrics[f"context_len{g}"] = int(kc)
        metrics[f"target_len{g}"] = int(kt)
    # 4. Averaged over generators, as the official loss_fn.
    loss = torch.stack(losses).sum() / len(groups)
    # The prediction monitors read (rows, Kt, D): generator 0's (lengths differ across them).
    embeddings = {"context": torch.cat([z.reshape(-1, z.shape[-1]) for z in contexts]),
                  "pooled_context": torch.stack([z.mean(1) for z in contexts])}
    return StepOutput(loss, metrics, features=h, predictions=predictions[0], targets=targets[0],
                      embeddings=embeddings)


class VJEPA(TeacherStudent):
    """Networks: ``encoder`` (trained), ``target_encoder`` (its EMA), ``predictor`` (trained)."""

    class Config(MethodConfig):
        kind: Literal["vjepa"] = "vjepa"
        loss_exp: float = Field(
            1.0, gt=0, le=4, description="Exponent p of the feature loss mean(|z - h|^p) / p "
            "(official: 1, the L1 loss of the paper)."
        )

    slots: ClassVar[dict[str, str | None]] = {
        "encoder": "vit_video", "predictor": "vit_video_predictor", "masker": "multiblock3d",
        "target_updater": "ema", "views": "video_clip",
    }
    reference_importer = VJEPAImporter
    eval_augmentation = VJEPAProbeViews
    embeddings: ClassVar[dict[str, str]] = {
        "context": "the context encoder's tokens of every mask generator, (sum of B * Kc, D)",
        "pooled_context": "the context tokens averaged per clip, per generator, (G, B, D)",
    }

    @classmethod
    def check_sections(cls, sections: Mapping[str, ComponentConfig]) -> None:
        masker, predictor = sections["masker"], sections["predictor"]
        generators = getattr(masker, "generators", None)
        tokens = getattr(predictor, "num_mask_tokens", None)
        if generators is not None and tokens is not None and tokens < len(generators):
            raise ValueError(
                f"predictor.num_mask_tokens={tokens} is fewer than the masker's "
                f"{len(generators)} generators (masker.generators); V-JEPA gives each "
                f"generator its own mask token: set predictor.num_mask_tokens={len(generators)}")

    def __init__(self, config: Config, *, sections: Mapping[str, ComponentConfig],
                 img_size: int, lengths: ScheduleLengths, precision: str = "fp32",
                 seed: int = 0) -> None:
        self.check_sections(sections)
        super().__init__(config, sections=sections, img_size=img_size, lengths=lengths,
                         precision=precision, seed=seed)
        predictor = self.networks["predictor"]
        self.indexed = "mask_index" in inspect.signature(predictor.forward).parameters
        check_networks(self)

    def forward(self, batch: Batch, nets: Mapping[str, nn.Module]) -> StepOutput:
        assert batch.masks is not None, "V-JEPA batches carry masks (VJEPA.collator)"
        out = vjepa_forward(nets["encoder"], nets["predictor"], nets["target_encoder"],
                            batch.images, batch.masks, loss_exp=self.config.loss_exp,
                            precision=self.precision, indexed=self.indexed,
                            check=None if self._checked else self._check)
        self._checked = True
        return out

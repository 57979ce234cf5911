"""Supervised fine-tuning as a method: MAE's protocol run by the engine's one training loop.

    batch (RandAugment views) -> Mixup/CutMix -> classifier (encoder, pool, LayerNorm, head)
    -> soft-target cross-entropy (label smoothing folded in)

The engine gives it everything else: AdamW over the layer-wise lr decay groups
(``param_groups``), the warmup + cosine lr, precision, DDP/FSDP, checkpoints, resume, signals
and validation (``eval.protocols = ["classify"]`` on the ``classifier`` network every epoch).
The encoder is built from the ``encoder`` section; ``train.init_from`` names the pre-trained
checkpoint whose ``method.encoder_network`` weights it starts from (absent: random init).
``jepa-kit eval finetune`` writes such a recipe from a checkpoint (``jepa_kit.eval.finetune``).

- [0]: MAE, He et al. 2021, arXiv:2111.06377
- [1]: mixup, Zhang et al. 2018, arXiv:1710.09412; CutMix, Yun et al. 2019, arXiv:1905.04899
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch
from pydantic import Field
from timm.data import Mixup
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
from torch import nn

from jepa_kit.build import build_encoder
from jepa_kit.config import ComponentConfig
from jepa_kit.data.seeds import mix_seed
from jepa_kit.errors import UserError
from jepa_kit.methods.base import Method, MethodConfig, StepOutput, autocast, check_networks
from jepa_kit.methods.finetune.augment import AugmentSettings
from jepa_kit.methods.finetune.classifier import Classifier, layer_decay_groups, make_head
from jepa_kit.methods.finetune.views import RandAugmentView
from jepa_kit.optim.schedules import ScheduleLengths

if TYPE_CHECKING:
    from jepa_kit.checkpoint.record import CheckpointRecord
    from jepa_kit.data.loader import Batch

# Keeps the mixing stream apart from the augmentation and mask streams for equal integers.
_MIX_TAG = 0xF17E


class FinetuneConfig(MethodConfig, AugmentSettings):
    """The ``[method]`` section of a fine-tuning recipe (MAE's ImageNet settings as defaults)."""

    kind: Literal["finetune"] = "finetune"
    num_classes: int = Field(1000, ge=2, le=1_000_000, description="Classes of the head "
                             "(`jepa-kit eval finetune` sets the dataset's).")
    encoder_network: str = Field("target_encoder", min_length=1, description="Network of the "
                                 "train.init_from checkpoint the encoder starts from (I-JEPA: "
                                 "target_encoder or encoder).")
    layer_decay: float = Field(0.75, gt=0, le=1, description="Layer-wise lr decay: block i of "
                               "L trains at lr x layer_decay^(L + 1 - i), the patch embedding "
                               "at layer_decay^(L + 1), the head at lr (MAE: 0.75; 1: off).")


class Finetune(Method):
    """Networks: ``encoder`` and ``head`` (LayerNorm + linear on pooled tokens), both trained.

    Periodic evaluation scores the two together as a classifier (``eval_network``), which the
    ``classify`` protocol reads; ``jepa-kit eval knn`` on a checkpoint scores the encoder."""

    Config = FinetuneConfig
    slots: ClassVar[dict[str, str | None]] = {"encoder": "vit"}
    eval_encoders: ClassVar[dict[str, str]] = {"encoder": "encoder"}

    def __init__(self, config: FinetuneConfig, *, sections: Mapping[str, ComponentConfig],
                 img_size: int, lengths: ScheduleLengths, precision: str = "fp32",
                 seed: int = 0) -> None:
        self.config = config
        self.precision = precision
        self.seed = seed
        self.encoder_kind = str(sections["encoder"].kind)
        # A target encoder comes frozen (it moves by EMA only); fine-tuning trains all of it.
        encoder = build_encoder(sections["encoder"], img_size=img_size).requires_grad_(True)
        head = make_head(int(encoder.embed_dim), config.num_classes, seed=seed)
        self.classifier = Classifier(encoder, head)
        self.networks = {"encoder": encoder, "head": head}
        self.trainable = ("encoder", "head")
        self.views = RandAugmentView(img_size=img_size, rand_augment=config.rand_augment,
                                     crop_scale=config.crop_scale, re_prob=config.re_prob)
        self.mixup = None if not config.mixes else Mixup(
            mixup_alpha=config.mixup, cutmix_alpha=config.cutmix, prob=config.mixup_prob,
            switch_prob=config.mixup_switch_prob, mode="batch",
            label_smoothing=config.smoothing, num_classes=config.num_classes)
        self.criterion: nn.Module = (
            SoftTargetCrossEntropy() if self.mixup is not None else
            LabelSmoothingCrossEntropy(config.smoothing) if config.smoothing > 0 else
            nn.CrossEntropyLoss())
        self._checked = False
        check_networks(self)

    def param_groups(self) -> list[dict[str, Any]]:
        return layer_decay_groups(self.classifier, layer_decay=self.config.layer_decay,
                                  encoder_kind=self.encoder_kind)

    def mix(self, images: torch.Tensor, labels: torch.Tensor, step: int
            ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mixup/CutMix of batch ``step`` with soft targets (B, K); labels unchanged when off.

        timm's Mixup draws from numpy's global generator: seeded from ``(seed, step, rank)`` for
        the call and restored, so a resumed run mixes its batches as an unbroken one."""
        if self.mixup is None:
            return images, labels
        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        state = np.random.get_state()
        try:
            np.random.seed(mix_seed(_MIX_TAG, self.seed, step, rank) % 2**32)
            return self.mixup(images.clone(), labels)
        finally:
            np.random.set_state(state)

    def forward(self, batch: Batch, nets: Mapping[str, nn.Module]) -> StepOutput:
        if not self._checked:  # once: a check per step would sync the device every step
            self._checked = True
            if int(batch.labels.min()) < 0:
                raise UserError("fine-tuning needs a label for every image; the data has "
                                "unlabelled ones (label -1)")
        images, targets = self.mix(batch.images, batch.labels, batch.step)
        with autocast(images.device.type, self.precision):
            logits = nets["head"](nets["encoder"](images).mean(dim=1))  # (B, K)
        loss = self.criterion(logits.float(), targets)
        return StepOutput(loss)

    def eval_network(self, which: str | None,
                     plain: Callable[[nn.Module], nn.Module] = lambda network: network
                     ) -> nn.Module:
        """The classifier (encoder, pool, head), whose logits the ``classify`` protocol
        scores."""
        self.encoder_for(which)  # the one choice, "encoder", or a clear error
        return Classifier(plain(self.networks["encoder"]), plain(self.networks["head"]))

    def load_state_dict(self, state: CheckpointRecord | Mapping[str, Any],
                        source: str = "checkpoint") -> None:
        """A fine-tuning checkpoint loads whole; any other (``train.init_from``: a pre-trained
        one) gives the encoder its ``method.encoder_network`` weights, the head kept."""
        from jepa_kit.checkpoint.record import CheckpointRecord

        networks = state.networks if isinstance(state, CheckpointRecord) else state
        if "head" in networks and getattr(state, "method", "finetune") == "finetune":
            super().load_state_dict(state, source)
            return
        name = self.config.encoder_network
        weights = networks.get(name)
        if not isinstance(weights, dict):
            raise UserError(f"{source} has no {name!r} weights to fine-tune "
                            f"(method.encoder_network; it holds {', '.join(networks)})")
        try:
            self.classifier.encoder.load_state_dict(weights, strict=True)
        except RuntimeError as exc:
            raise UserError(f"{source}: the {name} weights do not fit the recipe's encoder "
                            f"({self.encoder_kind}): {str(exc).splitlines()[0]}") from None

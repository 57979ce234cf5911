"""Settings of end-to-end fine-tuning, with the MAE recipe as defaults.

I-JEPA's fine-tuning results follow MAE's protocol; the defaults are MAE's ImageNet-1k
fine-tuning settings ([0], App. A.2, Table 9): AdamW (0.9, 0.999), base lr 1e-3 scaled by
``global batch / 256``, weight decay 0.05, layer-wise lr decay 0.75, cosine decay after 5
warmup epochs, RandAugment (9, 0.5), label smoothing 0.1, mixup 0.8, cutmix 1.0, drop path 0.1
(ViT-B/L; 0.2 for ViT-H). Random erasing 0.25 and the lr floor 1e-6 are the defaults of MAE's
fine-tuning code. The epoch count is Table 9's for ViT-B (100; 50 for ViT-L/H).

- [0]: MAE, He et al. 2021, arXiv:2111.06377
"""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from jepa_kit.methods.finetune.augment import AugmentSettings


class FinetuneConfig(AugmentSettings):
    """Options of ``jepa-kit eval finetune`` (each one is a ``--flag`` of the same name)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    epochs: int = Field(100, ge=1, le=100_000, description="Passes over the train split "
                        "(MAE, ViT-B: 100; ViT-L/H: 50).")
    batch_size: int = Field(64, ge=2, le=65_536, description="Images per step and process; "
                            "the global batch is this times the number of processes. Even "
                            "when mixup or cutmix is on (they pair images within a batch).")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimizer "
                                  "steps (schedules keep their full length); for smoke tests.")
    blr: float = Field(1e-3, gt=0, le=10, description="Base learning rate, per 256 images: "
                       "lr = blr x global batch / 256 (MAE: 1e-3).")
    lr: float | None = Field(None, gt=0, le=10, description="Absolute peak learning rate; "
                             "overrides blr when set.")
    min_lr: float = Field(1e-6, ge=0, le=10, description="Floor of the cosine decay.")
    warmup_epochs: float = Field(5.0, ge=0, le=100_000, description="Linear warmup from 0 "
                                 "(MAE: 5 epochs).")
    weight_decay: float = Field(0.05, ge=0, le=10, description="AdamW weight decay on weight "
                                "matrices; biases, norms and position tables get none.")
    betas: tuple[float, float] = Field((0.9, 0.999), description="AdamW betas, each in [0, 1).")
    layer_decay: float = Field(0.75, gt=0, le=1, description="Layer-wise lr decay: block i of "
                               "L gets lr x layer_decay^(L - i), the patch embedding "
                               "layer_decay^(L + 1), the head 1 (MAE: 0.75; 1 turns it off).")
    drop_path: float = Field(0.1, ge=0, lt=1, description="Stochastic depth of the encoder's "
                             "last block, set as encoder.drop_path_rate (MAE: 0.1; ViT-H 0.2).")
    clip_grad: float | None = Field(None, gt=0, description="Clip the gradient norm to this "
                                    "(MAE: off).")
    eval_batch_size: int = Field(128, ge=1, le=65_536, description="Images per validation "
                                 "forward pass.")
    num_workers: int = Field(2, ge=0, le=256, description="Loader worker processes per rank.")
    precision: Literal["fp32", "bf16"] = Field("fp32", description="bf16 runs forward passes "
                                               "under autocast; weights stay fp32.")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed of the head, the data order "
                      "and the augmentations.")

    @model_validator(mode="after")
    def _consistent(self) -> FinetuneConfig:
        if not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must each lie in [0, 1), got {self.betas}")
        if self.mixes and self.batch_size % 2:
            raise ValueError(f"batch_size={self.batch_size} must be even when mixup or cutmix "
                             f"is on (timm's Mixup pairs each image with the batch reversed)")
        return self

    def peak_lr(self, global_batch: int) -> float:
        """The absolute peak lr: ``lr`` when set, else ``blr x global_batch / 256``."""
        return self.lr if self.lr is not None else self.blr * global_batch / 256

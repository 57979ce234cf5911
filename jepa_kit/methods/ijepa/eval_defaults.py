"""I-JEPA's evaluation defaults: the augmented views its linear probe trains on.

"RandomResizedCrop (area 0.08-1) and a horizontal flip" ([0], App. B, following DINO/MSN).
``jepa-kit eval ... --augment ijepa`` finds this through ``IJEPA.eval_augmentation``.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

import torch

from jepa_kit.data.transforms import TrainTransform


class IJEPAProbeViews:
    """One augmented view of an image, drawn from an integer ``key`` alone."""

    #: What ``--augment ijepa`` does, for help texts.
    summary = "RandomResizedCrop + flip, I-JEPA's linear protocol"

    def __init__(self, img_size: int) -> None:
        self.transform = TrainTransform(img_size, scale=(0.08, 1.0), flip=True)

    def __call__(self, image: torch.Tensor, key: int) -> torch.Tensor:
        return self.transform(image, torch.Generator().manual_seed(key))

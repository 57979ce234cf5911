"""The dataset interface: where images come from."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from pydantic import Field

from jepa_kit.config import ComponentConfig


class DatasetConfig(ComponentConfig):
    """Base of dataset configs; the fields here are shared by every dataset."""

    component_kind: ClassVar[str] = "dataset"

    img_size: int = Field(224, gt=0, le=4096, description="Side of the square training crop, px.")
    num_workers: int = Field(
        2, ge=0, le=128, description="Data-loader worker processes per rank (0: main process)."
    )


class Dataset(torch.utils.data.Dataset, ABC):
    """A map-style dataset of raw images with integer labels (-1 when unlabelled).

    Built as ``cls(config, train=True|False, seed=s)``. ``__getitem__`` returns an RGB
    ``PIL.Image`` or a uint8 tensor (3, H, W) and a label; augmentation happens in
    ``jepa_kit.data.transforms``. Not for: masking, batching or augmentation.
    """

    Config: ClassVar[type[DatasetConfig]]

    #: Class names, in label order (empty when unlabelled).
    classes: list[str]

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def __getitem__(self, index: int) -> tuple[object, int]: ...

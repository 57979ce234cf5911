"""Maskers: sample context and target patch indices."""

from jepa_kit.maskers.base import Masker, MaskerConfig, Masks
from jepa_kit.maskers.blocks import block_size, box_indices, cover, reachable_sizes, spans

__all__ = [
    "Masker",
    "MaskerConfig",
    "Masks",
    "block_size",
    "box_indices",
    "cover",
    "reachable_sizes",
    "spans",
]

"""Masking-ablation strategies as jepa-kit maskers: ``random``, ``block``, ``rasterized`` (I-JEPA)
and ``random_tube`` (V-JEPA).

The I-JEPA paper compares its multi-block masking with three simpler strategies (Sec. 7,
Table 6 of [0]); V-JEPA compares its 3-D multi-block masks with random tubes (Sec. 4, Table 4
of [1]). This package provides those so the comparisons can be rerun with ``masker.kind``. Each
is registered through the ``jepa_kit.maskers`` entry-point group.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
- [1]: V-JEPA, Bardes et al. 2024, arXiv:2404.08471
"""

from __future__ import annotations

from jepa_kit_maskers.block import BlockMasker
from jepa_kit_maskers.random_patches import RandomMasker
from jepa_kit_maskers.random_tube import RandomTubeMasker
from jepa_kit_maskers.rasterized import RasterizedMasker

__all__ = ["BlockMasker", "RandomMasker", "RandomTubeMasker", "RasterizedMasker"]
__version__ = "0.1.0"

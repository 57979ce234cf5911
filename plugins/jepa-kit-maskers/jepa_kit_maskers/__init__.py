"""I-JEPA's masking-ablation strategies as jepa-kit maskers: ``random``, ``block``, ``rasterized``.

The I-JEPA paper compares its multi-block masking with three simpler strategies (Sec. 7,
Table 6 of [0]); this package provides those three so the comparison can be rerun with
``masker.kind``. Each is registered through the ``jepa_kit.maskers`` entry-point group.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

from jepa_kit_maskers.block import BlockMasker
from jepa_kit_maskers.random_patches import RandomMasker
from jepa_kit_maskers.rasterized import RasterizedMasker

__all__ = ["BlockMasker", "RandomMasker", "RasterizedMasker"]
__version__ = "0.1.0"

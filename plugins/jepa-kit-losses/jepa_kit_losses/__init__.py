"""Alternative objectives for JEPA ablations: ``cosine`` and ``vicreg_l2`` jepa-kit losses.

I-JEPA regresses target representations with an L2 distance ([0], Eq. 1). These losses change
only the distance, keeping the reference's layer-normed targets, so an ablation isolates the
objective: ``cosine`` ignores feature norms (the normalised regression of BYOL [1]);
``vicreg_l2`` adds VICReg's variance and covariance terms on the predictions [2], an explicit
guard against collapse next to the EMA's implicit one.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
- [1]: BYOL, Grill et al. 2020, arXiv:2006.07733
- [2]: VICReg, Bardes et al. 2022, arXiv:2105.04906
"""

from __future__ import annotations

from jepa_kit_losses.cosine import CosineLoss
from jepa_kit_losses.vicreg import VICRegL2Loss

__all__ = ["CosineLoss", "VICRegL2Loss"]
__version__ = "0.1.0"

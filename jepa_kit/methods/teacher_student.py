"""The teacher-student set-up I-JEPA and V-JEPA share: a context encoder (the student), its
EMA copy as the target encoder (the teacher), a predictor, a masker and a target updater.

"The target encoder weights are updated via an exponential moving average of the
context-encoder weights" (I-JEPA [0], Sec. 3; V-JEPA [1], Sec. 3.1). A subclass adds its own
parts (``build_parts``: I-JEPA's loss) and its ``forward``; everything else is here: the
networks, the masks drawn in the loader workers, the EMA after each step and the first-step
checks of the components' outputs.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
- [1]: V-JEPA, Bardes et al. 2024, arXiv:2404.08471
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import ClassVar

import torch

from jepa_kit.build import (
    build_encoder,
    build_masker,
    build_predictor,
    build_target_updater,
    build_views,
)
from jepa_kit.config import ComponentConfig
from jepa_kit.data.batch import Collator
from jepa_kit.methods.base import Method, MethodConfig
from jepa_kit.methods.checks import check_output
from jepa_kit.optim.schedules import ScheduleLengths


class TeacherStudent(Method):
    """Networks: ``encoder`` (trained), ``target_encoder`` (its EMA), ``predictor`` (trained).

    Built in a fixed order (the engine seeds the RNG first, so the weights are reproducible):
    encoder, its copy, predictor, masker, the subclass's parts, target updater, views.
    """

    eval_encoders: ClassVar[dict[str, str]] = {"target": "target_encoder", "context": "encoder"}

    def __init__(self, config: MethodConfig, *, sections: Mapping[str, ComponentConfig],
                 img_size: int, lengths: ScheduleLengths, precision: str = "fp32",
                 seed: int = 0) -> None:
        self.config = config
        self.precision = precision
        encoder = build_encoder(sections["encoder"], img_size=img_size)
        target_encoder = copy.deepcopy(encoder)  # starts equal; moves only by the EMA
        target_encoder.requires_grad_(False)
        predictor = build_predictor(sections["predictor"], encoder)
        self.networks = {"encoder": encoder, "target_encoder": target_encoder,
                         "predictor": predictor}
        self.trainable = ("encoder", "predictor")
        self.masker = build_masker(sections["masker"], grid=encoder.grid)
        self.build_parts(sections)
        self.updater = build_target_updater(sections["target_updater"],
                                            total_steps=lengths.momentum_steps)
        self.views = build_views(sections["views"], img_size=img_size)
        self.sections = dict(sections)
        self._checked = False

    def build_parts(self, sections: Mapping[str, ComponentConfig]) -> None:
        """Build the subclass's own parts from its slot sections (after the masker)."""
        return None

    def _check(self, slot: str, what: str, value: torch.Tensor,
               shape: tuple[int | None, ...]) -> None:
        check_output(slot, self.sections[slot], what, value, shape)

    def collator(self, *, seed: int, rank: int) -> Collator:
        return Collator(self.masker, seed, rank)

    def after_step(self, step: int) -> dict[str, float]:
        self.updater.update(self.networks["encoder"], self.networks["target_encoder"], step)
        return {"momentum": self.updater.value(step)}

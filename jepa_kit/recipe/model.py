"""The recipe model of a method: the engine's sections plus the component sections the
method declares, typed over the components installed now, and the checks across sections.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    Field,
    create_model,
    model_validator,
)

from jepa_kit.errors import UserError
from jepa_kit.recipe.base import (
    COMPONENT_SECTIONS,
    ENGINE_DEFAULTS,
    LEGACY_METHOD,
    Section,
    component_union,
)
from jepa_kit.recipe.sections import (
    DistributedSection,
    EvalSection,
    ExpectSection,
    RunSection,
    TrainSection,
    optim_section,
)
from jepa_kit.registry import GROUPS, registry

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover
    pass


def method_slots(name: str) -> dict[str, str | None]:
    """The sections method ``name`` reads -> their default kinds (``RegistryError`` if unknown)."""
    return dict(registry("method").load(name).slots)


def sections_of(data: dict[str, Any]) -> dict[str, str | None]:
    """Component sections of a raw recipe -> default kind: the engine's and its method's.

    An unknown method contributes no slots (its own error is reported by validation)."""
    method = data.get("method", {})
    name = method.get("kind", LEGACY_METHOD) if isinstance(method, dict) else None
    try:
        slots = method_slots(name) if isinstance(name, str) else {}
    except UserError:
        slots = {}
    return {"method": LEGACY_METHOD, **ENGINE_DEFAULTS, **slots}


@functools.cache
def _recipe_model(method: str, signature: tuple[tuple[int, tuple[str, ...]], ...]
                  ) -> type[BaseModel]:
    fields: dict[str, Any] = {
        "run": (RunSection, Field(default_factory=RunSection)),
        "optim": (optim := optim_section(), Field(default_factory=optim)),
        "train": (TrainSection, Field(default_factory=TrainSection)),
        "eval": (EvalSection, Field(default_factory=EvalSection)),
        "distributed": (DistributedSection, Field(default_factory=DistributedSection)),
        "expect": (ExpectSection | None, Field(None, description="The recipe card: the gain "
                                               "over random init a run should show.")),
        "method": (registry("method").load(method).Config,
                   Field(description="The method: the algorithm a run trains.")),
    }
    for section in ("data", *method_slots(method)):
        kind = COMPONENT_SECTIONS[section]
        fields[section] = (component_union(kind), Field(description=f"The {kind} component."))
    fields["regularizers"] = (
        list[component_union("regularizer")],  # type: ignore[misc]
        Field(default_factory=list, description="Terms added to the method's loss, each "
              "reading one of the method's embeddings (`on`); none by default."))
    fields["loggers"] = (
        list[component_union("logger")],  # type: ignore[misc]
        Field(default_factory=list, description="Where the run's records go besides "
              "metrics.jsonl (always written): trackers and files, one of each kind; none "
              "by default."))
    return create_model("Recipe", __base__=RecipeBase, **fields)


class RecipeBase(Section):
    """Cross-section checks shared by every recipe model."""

    @property
    def img_size(self) -> int:
        return self.data.img_size  # type: ignore[attr-defined, no-any-return]

    @property
    def patch_size(self) -> int:
        return self.encoder.resolved_patch_size()  # type: ignore[attr-defined, no-any-return]

    @property
    def grid(self) -> tuple[int, ...]:
        """The encoder's patch grid: (H, W), or (T, H, W) for a video encoder (whose config
        has ``temporal_patches()``)."""
        side = self.img_size // self.patch_size
        temporal = getattr(self.encoder, "temporal_patches", None)  # type: ignore[attr-defined]
        frames = temporal() if temporal is not None else None
        return (side, side) if frames is None else (frames, side, side)

    @property
    def output_dir(self) -> Path:
        return Path(self.run.expanded_output_dir())  # type: ignore[attr-defined]

    @model_validator(mode="after")
    def _cross_checks(self) -> RecipeBase:
        fields = type(self).model_fields
        if "encoder" in fields:
            patch = self.patch_size
            if self.img_size % patch:
                raise ValueError(
                    f"data.img_size={self.img_size} is not divisible by the encoder's patch "
                    f"size {patch} (encoder.patch_size)"
                )
        if "masker" in fields:
            self.masker.check_grid(self.grid)  # type: ignore[attr-defined]
        clip = getattr(self.data, "num_frames", None)  # type: ignore[attr-defined]
        built = getattr(getattr(self, "encoder", None), "num_frames", None)
        if clip is not None and built is not None and built > 1 and clip != built:
            raise ValueError(f"data.num_frames={clip} but the encoder is built for clips of "
                             f"encoder.num_frames={built}; set them equal")
        method = registry("method").load(self.method.kind)  # type: ignore[attr-defined]
        # The method's own options against its sections (check_recipe calls check_sections).
        method.check_recipe(self.method,  # type: ignore[attr-defined]
                            {slot: getattr(self, slot) for slot in method.slots})
        for i, term in enumerate(self.regularizers):  # type: ignore[attr-defined]
            if term.on not in method.embeddings:
                offered = ", ".join(repr(e) for e in method.embeddings) or "none"
                raise ValueError(f"regularizers[{i}].on={term.on!r}: method "
                                 f"{self.method.kind!r} exposes the embeddings {offered}")  # type: ignore[attr-defined]
        card = self.expect  # type: ignore[attr-defined]
        if card is not None and card.which is not None and card.which not in method.eval_encoders:
            raise ValueError(f"expect.which={card.which!r}: method {self.method.kind!r} "  # type: ignore[attr-defined]
                             f"evaluates {', '.join(repr(c) for c in method.eval_encoders)}")
        which, choices = self.eval.which, method.eval_encoders  # type: ignore[attr-defined]
        if which is not None and which not in choices:
            raise ValueError(f"eval.which={which!r}: method {self.method.kind!r} "  # type: ignore[attr-defined]
                             f"evaluates {', '.join(repr(c) for c in choices)}")
        return self


def recipe_model(method: str = LEGACY_METHOD) -> type[BaseModel]:
    """The recipe model of ``method`` over the components installed now."""
    signature = tuple(
        (registry(k).generation, tuple(registry(k).names())) for k in GROUPS
    )
    return _recipe_model(method, signature)


def recipe_schema(method: str = LEGACY_METHOD) -> dict[str, Any]:
    """JSON Schema of a ``method`` recipe over the installed components (editor completion)."""
    return recipe_model(method).model_json_schema()



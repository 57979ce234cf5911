"""What every recipe module shares: the section <-> component kind table, the error
type, the strict base of every section and the discriminated union over a kind's components.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated, Any, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

from jepa_kit.errors import UserError
from jepa_kit.registry import GROUPS, registry

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover
    pass


#: Recipe section -> component kind, for every section that can name a component. Besides
#: ``method`` and ``data``, a section is named after its kind.
COMPONENT_SECTIONS: dict[str, str] = {kind: kind for kind in GROUPS} | {"data": "dataset"}
COMPONENT_SECTIONS.pop("dataset")
COMPONENT_SECTIONS.pop("regularizer")  # a list, ``[[regularizers]]``, not one section
COMPONENT_SECTIONS.pop("eval_protocol")  # named in eval.protocols, not a section of its own
COMPONENT_SECTIONS.pop("logger")  # a list, ``[[loggers]]``
COMPONENT_SECTIONS.pop("optimizer")  # optim.optimizer, a table inside [optim]
COMPONENT_SECTIONS.pop("schedule")  # optim.lr_schedule and optim.wd_schedule
#: The component the engine's own sections get when they name none.
ENGINE_DEFAULTS: dict[str, str] = {"data": "synthetic"}
#: The method of a recipe without ``[method] kind``: written before methods were plug-ins, it
#: is an I-JEPA recipe. Deprecated: read so with a warning for one release, then an error.
LEGACY_METHOD = "ijepa"
#: Augmentation settings that lived in ``[data]`` before views were a component.
LEGACY_VIEW_KEYS = ("crop_scale", "horizontal_flip", "color_jitter", "gaussian_blur")



class RecipeError(UserError):
    """A recipe is invalid. ``problems`` holds ``(dotted key, message)`` pairs."""

    def __init__(self, source: str, problems: Sequence[tuple[str, str]]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = [f"{key}: {msg}" if key else msg for key, msg in self.problems]
        super().__init__(f"{source}: invalid recipe\n  " + "\n  ".join(lines))


class Section(BaseModel):
    # inf and nan are refused in every float field: an lr of inf validates but trains NaN.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)



def component_union(kind: str) -> Any:
    configs = [cls.Config for cls in registry(kind).load_all().values()]
    if not configs:
        raise RecipeError("<registry>", [("", f"no {kind} component is installed")])
    union = configs[0] if len(configs) == 1 else Union[tuple(configs)]  # noqa: UP007
    return Annotated[union, Field(discriminator="kind")]



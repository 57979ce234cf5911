"""The base of every component's typed configuration."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class ComponentConfig(BaseModel):
    """Options of one component, as written in one recipe section.

    Subclasses declare ``kind: Literal["<name>"] = "<name>"`` (the registry key and entry-point
    name) and their own fields, each with a ``description`` and bounds. Unknown keys are errors,
    and so are inf and nan in any float field.
    """

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, frozen=False, allow_inf_nan=False
    )

    kind: str

    #: Which interface this config belongs to; set by each kind's base config.
    component_kind: ClassVar[str] = ""

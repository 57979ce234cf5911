"""Typed recipes: TOML files validated against the installed components.

A recipe has the sections ``run``, ``method``, ``data``, ``optim``, ``train`` and ``eval``,
plus the component sections its method declares (``Method.slots``; I-JEPA: ``encoder``,
``predictor``, ``masker``, ``target_updater``, ``loss``, ``views``). ``[method] kind`` picks
the method; a recipe without one is read as I-JEPA's, with a warning (see ``migrate``). A slot
section the recipe leaves out gets the method's
default component; a component section the method does not use is an error. Component
sections are discriminated unions over every installed component of that kind, keyed by
``kind``, so a plugin's options are validated exactly like a built-in's.

Composition: ``extends = "base.toml"`` (relative to the recipe; where no such file is beside it,
a shipped recipe's name such as ``"quickstart"``) deep-merges the recipe onto a base;
``--set dotted.key=value`` overrides one field, the value parsed as TOML (a bare word falls
back to a string). When either changes a section's ``kind``, that section starts afresh
from the new component's defaults instead of inheriting options the new component lacks; when
either changes ``method.kind``, the sections the new method does not use are dropped.

Recipes written before views were a component kept the augmentation settings in ``[data]``;
``migrate`` moves them to ``[views]`` (with a warning) so old files and checkpoints still load.
Recipes written before methods were plug-ins have no ``[method] kind``: they were I-JEPA's, and
``migrate`` reads them so (``LEGACY_METHOD``, with a warning naming the fix, until the next
release).

The package, each module reading only those before it: ``base`` (the section <-> kind table,
``RecipeError``, the strict ``Section``), ``sections`` (the engine's own sections), ``model`` (a
method's recipe model and its cross-section checks), ``files`` (TOML, ``extends``, ``--set``) and
``validation`` (``validate_recipe``, ``load_recipe``, errors that name the key).
"""

from __future__ import annotations

from jepa_kit.recipe.base import (
    COMPONENT_SECTIONS,
    ENGINE_DEFAULTS,
    LEGACY_METHOD,
    LEGACY_VIEW_KEYS,
    RecipeError,
    Section,
    component_union,
)
from jepa_kit.recipe.files import (
    apply_overrides,
    drop_unused_sections,
    flatten,
    load_raw,
    merge,
    parse_value,
    read_toml,
)
from jepa_kit.recipe.model import (
    RecipeBase,
    method_slots,
    recipe_model,
    recipe_schema,
    sections_of,
)
from jepa_kit.recipe.sections import (
    LEGACY_ADAMW_KEYS,
    OPTIM_SLOTS,
    DistributedSection,
    EvalSection,
    ExpectSection,
    OptimSection,
    RunSection,
    TrainSection,
    optim_section,
)
from jepa_kit.recipe.validation import (
    load_recipe,
    migrate,
    recipe_to_dict,
    recipe_to_toml,
    validate_recipe,
)

__all__ = [
    "COMPONENT_SECTIONS",
    "ENGINE_DEFAULTS",
    "LEGACY_ADAMW_KEYS",
    "LEGACY_METHOD",
    "LEGACY_VIEW_KEYS",
    "OPTIM_SLOTS",
    "DistributedSection",
    "EvalSection",
    "ExpectSection",
    "OptimSection",
    "RecipeBase",
    "RecipeError",
    "RunSection",
    "Section",
    "TrainSection",
    "apply_overrides",
    "component_union",
    "drop_unused_sections",
    "flatten",
    "load_raw",
    "load_recipe",
    "merge",
    "method_slots",
    "migrate",
    "optim_section",
    "parse_value",
    "read_toml",
    "recipe_model",
    "recipe_schema",
    "recipe_to_dict",
    "recipe_to_toml",
    "sections_of",
    "validate_recipe",
]

"""docs/recipes-reference.md is generated from the recipe models and must match them."""

from __future__ import annotations

import importlib.util
import sys
import typing

from tests.docs.snippets import REPO


def _generator():  # type: ignore[no-untyped-def]
    path = REPO / "docs" / "gen_recipe_reference.py"
    spec = importlib.util.spec_from_file_location("gen_recipe_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_reference_matches_the_code() -> None:
    gen = _generator()
    committed = gen.OUTPUT.read_text()
    assert committed == gen.generate(), (
        "docs/recipes-reference.md is stale: run `.venv/bin/python docs/gen_recipe_reference.py`"
    )


def test_reference_lists_every_field_of_every_section() -> None:
    from jepa_kit.recipe import COMPONENT_SECTIONS, recipe_model
    from jepa_kit.registry import registry

    text = (REPO / "docs" / "recipes-reference.md").read_text()
    for section, field in recipe_model().model_fields.items():
        if section in COMPONENT_SECTIONS:
            for name, cls in registry(COMPONENT_SECTIONS[section]).load_all().items():
                assert f'`{section}.kind = "{name}"`' in text
                for key in cls.Config.model_fields:
                    assert key == "kind" or f"`{section}.{key}`" in text
        elif section == "regularizers":
            for name, cls in registry("regularizer").load_all().items():
                assert f'`[[regularizers]] kind = "{name}"`' in text
                for key in cls.Config.model_fields:
                    assert key == "kind" or f"`regularizers[i].{key}`" in text
        elif section == "loggers":
            for name, cls in registry("logger").load_all().items():
                assert f'`[[loggers]] kind = "{name}"`' in text
                for key in cls.Config.model_fields:
                    assert key == "kind" or f"`loggers[i].{key}`" in text
        else:
            model = field.annotation
            if not hasattr(model, "model_fields"):  # an optional section: SECTION | None
                model = next(a for a in typing.get_args(model) if a is not type(None))
            for key in model.model_fields:
                assert f"`{section}.{key}`" in text

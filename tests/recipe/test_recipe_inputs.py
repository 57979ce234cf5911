"""Recipe inputs that used to slip through or crash: non-finite numbers, encodings, a BOM."""

from __future__ import annotations

import math
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from jepa_kit.cli.app import main
from jepa_kit.recipe import (
    EvalSection,
    OptimSection,
    RecipeError,
    RunSection,
    TrainSection,
    load_recipe,
)
from jepa_kit.registry import GROUPS, registry
from tests.conftest import REPO

QUICKSTART = REPO / "recipes" / "quickstart.toml"
SECTIONS: list[type[BaseModel]] = [RunSection, OptimSection, TrainSection, EvalSection]


def in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0), capsys.readouterr().err


def float_fields(model: type[BaseModel]) -> list[str]:
    """Fields whose type is a float or holds floats (``float | None``, ``tuple[float, ...]``)."""
    def has_float(tp: object) -> bool:
        return tp is float or any(has_float(arg) for arg in typing.get_args(tp))

    return [name for name, info in model.model_fields.items() if has_float(info.annotation)]


def all_models() -> list[type[BaseModel]]:
    configs = [cls.Config for kind in GROUPS for cls in registry(kind).load_all().values()]
    return [*SECTIONS, *configs]


@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_non_finite_lr_is_refused_naming_the_key(value: str) -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe(QUICKSTART, [f"optim.lr={value}"])
    (key, msg), = info.value.problems
    assert key == "optim.lr" and "finite" in msg


def test_non_finite_values_inside_arrays_and_components_are_refused() -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe(QUICKSTART, ["optim.betas=[0.9, nan]", "eval.min_rankme=nan",
                                 "masker.target_aspect_ratio=[0.75, inf]"])
    found = dict(info.value.problems)
    assert set(found) == {"optim.betas.1", "eval.min_rankme", "masker.target_aspect_ratio.1"}
    assert all("finite" in msg for msg in found.values())


def test_every_float_field_of_every_section_and_component_refuses_inf_and_nan() -> None:
    checked = 0
    for model in all_models():
        assert model.model_config.get("allow_inf_nan") is False, model.__qualname__
        for name in float_fields(model):
            annotation = model.model_fields[name].annotation
            origin, args = typing.get_origin(annotation), typing.get_args(annotation)
            for bad in (math.inf, math.nan):
                value: object = bad
                if origin is tuple:
                    value = (bad,) * len(args)
                elif origin is dict:
                    value = {"key": bad}
                with pytest.raises(ValidationError) as info:
                    model(**{name: value})
                assert any(e["type"] == "finite_number" for e in info.value.errors()), \
                    f"{model.__qualname__}.{name}: {info.value}"
            checked += 1
    assert checked > 20  # the sweep reached the sections' and the components' floats


def test_cli_exits_2_on_a_non_finite_value(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = in_process(capsys, "validate", str(QUICKSTART), "--set", "optim.lr=inf")
    assert code == 2 and "optim.lr:" in err and "finite" in err and "Traceback" not in err


# -- encodings -------------------------------------------------------------------------------
RECIPE = '[run]\nname = "café"\n\n[train]\nepochs = 2\n'


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + RECIPE.encode())
    recipe = load_recipe(path)
    assert recipe.run.name == "café" and recipe.train.epochs == 2
    child = tmp_path / "child.toml"  # a BOM on a base recipe, too
    child.write_bytes(b"\xef\xbb\xbfextends = \"bom.toml\"\n[train]\nepochs = 3\n")
    assert load_recipe(child).train.epochs == 3
    code, _ = in_process(capsys, "validate", str(path))
    assert code == 0


def test_a_recipe_that_is_not_utf8_names_the_file_and_the_byte(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(RECIPE.encode("latin-1"))
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert info.value.source == str(path)
    (key, msg), = info.value.problems
    assert key == "" and "not UTF-8 text" in msg
    assert "byte 0xe9 at offset 17 (line 2)" in msg
    code, err = in_process(capsys, "validate", str(path))
    assert code == 2 and str(path) in err and "not UTF-8 text" in err
    assert "UnicodeDecodeError" not in err and "Traceback" not in err


def test_a_utf16_recipe_is_named_as_such(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "utf16.toml"
    path.write_bytes(RECIPE.encode("utf-16"))  # with its byte-order mark, as Notepad writes
    code, err = in_process(capsys, "validate", str(path))
    assert code == 2 and str(path) in err and "UTF-16" in err and "save it as UTF-8" in err

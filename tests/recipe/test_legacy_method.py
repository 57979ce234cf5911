"""A recipe without ``[method] kind`` (written before methods were plug-ins) is I-JEPA's:
read so, with a warning naming the fix, for one release."""

from __future__ import annotations

import warnings

import pytest

from jepa_kit.checkpoint import CheckpointRecord
from jepa_kit.eval.checkpoint_model import recipe_from_checkpoint
from jepa_kit.recipe import validate_recipe

OLD = {"data": {"kind": "synthetic", "img_size": 64},
       "encoder": {"size": "tiny", "patch_size": 8}, "masker": {"min_keep": 4}}


def test_a_recipe_without_a_method_is_read_as_ijepa_with_a_warning() -> None:
    with pytest.warns(FutureWarning, match=r'old\.toml: no \[method\] kind; read as \'ijepa\'.*'
                      r'add \[method\] kind = "ijepa"'):
        recipe = validate_recipe(OLD, "old.toml")
    assert recipe.method.kind == "ijepa" and recipe.predictor.kind == "vit_predictor"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # naming the method: no warning
        assert validate_recipe({**OLD, "method": {"kind": "ijepa"}}).method.kind == "ijepa"


def test_a_checkpoint_recipe_without_a_method_takes_the_records() -> None:
    record = CheckpointRecord(step=0, epoch=0, method="ijepa", networks={}, recipe=OLD)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert recipe_from_checkpoint(record, "old.pt").method.kind == "ijepa"

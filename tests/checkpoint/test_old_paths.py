"""The module paths checkpoints had before jepa_kit.checkpoint still import, with a warning."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import torch

from jepa_kit import checkpoint


@pytest.mark.parametrize(("old", "new"), [
    ("jepa_kit.rundir.sharded", "sharded"), ("jepa_kit.rundir.dcp_io", "dcp_io"),
    ("jepa_kit.rundir.digest", "digest"), ("jepa_kit.rundir.failures", "failures"),
    ("jepa_kit.train.checkpointer", "writer"),
])
def test_a_moved_module_is_the_new_one_under_its_old_name(old: str, new: str) -> None:
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=f"moved to jepa_kit.checkpoint.{new}"):
        module = importlib.import_module(old)
    assert module is importlib.import_module(f"jepa_kit.checkpoint.{new}")


def test_the_old_checkpoint_functions_still_return_dicts(tmp_path: Path) -> None:
    sys.modules.pop("jepa_kit.rundir.checkpoint", None)
    with pytest.warns(DeprecationWarning, match="moved to jepa_kit.checkpoint"):
        old = importlib.import_module("jepa_kit.rundir.checkpoint")
    record = checkpoint.CheckpointRecord(step=2, recipe={},
                                         networks={"encoder": {"w": torch.ones(2)}})
    checkpoint.write_checkpoint(tmp_path / checkpoint.checkpoint_name(2), record)
    found = old.resume_checkpoint(tmp_path)
    assert found is not None and found[1]["step"] == 2 and found[1]["networks"] == ["encoder"]
    assert old.load_checkpoint(found[0])["encoder"]["w"].sum() == 2

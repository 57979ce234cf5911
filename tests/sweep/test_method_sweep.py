"""A sweep over ``method.kind``: I-JEPA and LeJEPA trained and compared side by side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jepa_kit.rundir.checkpoint import list_checkpoints, load_checkpoint
from tests.sweep.helpers import SMALL, cli, sets

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
ABLATION = REPO / "recipes" / "ablations" / "method.toml"


def test_method_ablation_trains_both_and_compares_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "method"
    code, _, err = cli(capsys, "sweep", str(ABLATION), *sets(*SMALL), "-o", str(out), "-q")
    assert code == 0, err
    for run, method, networks in (("ijepa", "ijepa", ["encoder", "target_encoder", "predictor"]),
                                  ("lejepa", "lejepa", ["encoder", "projector"])):
        state = load_checkpoint(list_checkpoints(out / run / "checkpoints")[-1])
        assert state["method"] == method and state["networks"] == networks
        assert state["step"] == 4
    code, table, err = cli(capsys, "compare", str(out), "--eval", "knn")
    assert code == 0, err
    assert "ijepa" in table and "lejepa" in table and 'method.kind="lejepa"' in table
    # Each run is scored on the encoder its recipe's eval.which names (the ablation file
    # sets context for I-JEPA), the one its periodic kNN watched.
    which = {run: json.loads((out / run / "eval_knn.json").read_text())["which"]
             for run in ("ijepa", "lejepa")}
    assert which == {"ijepa": "context", "lejepa": "encoder"}

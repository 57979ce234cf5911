"""A run evaluates the recipe's ``eval.protocols`` every ``eval.every_epochs``, and ``compare``
reads each protocol's logged score."""

from __future__ import annotations

from pathlib import Path

import pytest

from jepa_kit.cli.app import main
from jepa_kit.recipe import RecipeError, load_recipe
from jepa_kit.rundir.metrics import read_metrics
from tests.eval.helpers import QUICKSTART, make_checkpoint


def test_a_run_logs_every_listed_protocol_and_compare_shows_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    # 64 images in batches of 16: an epoch ends at step 4.
    make_checkpoint(run, "train.max_steps=4", "train.checkpoint_every=4", "eval.every_epochs=1",
                    'eval.protocols=["knn", "linear"]')
    rows = [r for r in read_metrics(run / "metrics.jsonl") if "knn_top1" in r]
    assert len(rows) == 1 and rows[0]["step"] == 4
    assert 0.0 <= rows[0]["linear_top1"] <= 1.0 and "attentive_top1" not in rows[0]
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", str(run), "-m", "knn", "-m", "linear"])
    table = capsys.readouterr().out
    assert exit_info.value.code in (0, None)
    assert f"{100 * rows[0]['linear_top1']:.1f}%" in table and "linear top-1" in table


def test_an_unknown_protocol_is_a_recipe_error_naming_the_closest() -> None:
    with pytest.raises(RecipeError) as info:
        load_recipe(QUICKSTART, ['eval.protocols=["knn", "linaer"]'])
    (key, msg), = info.value.problems
    assert key.startswith("eval.protocols") and "Did you mean 'linear'" in msg

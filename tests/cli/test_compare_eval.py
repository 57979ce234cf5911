"""``jepa-kit compare --eval`` scores each run on the encoder its recipe's eval.which names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jepa_kit.cli.app import main
from tests.eval.helpers import make_checkpoint


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


def test_compare_eval_honours_eval_which(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "context_run"
    make_checkpoint(run, "eval.which=context")
    # A result scored on the target encoder of the same checkpoint is not current for it.
    stale = {"checkpoint_step": 2, "which": "target", "metrics": {"top1": 0.0}}
    (run / "eval_knn.json").write_text(json.dumps(stale))
    code, table, err = run_cli(capsys, "compare", str(run), "--eval", "knn", "--eval",
                               "attentive")
    assert code == 0, err
    for protocol in ("knn", "attentive"):
        result = json.loads((run / f"eval_{protocol}.json").read_text())
        assert result["which"] == "context" and result["checkpoint_step"] == 2
    assert "attentive top-1" in table and "kNN top-1" in table
    attentive = json.loads((run / "eval_attentive.json").read_text())["metrics"]
    assert attentive["optim"]["epochs"] == 20 and attentive["optim"]["batch_size"] == 1024

    code, _, err = run_cli(capsys, "compare", str(run), "--eval", "svm")
    assert code == 2 and "expected knn, linear or attentive" in err

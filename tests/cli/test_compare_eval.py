"""``jepa-kit compare --eval`` scores each run on the encoder its recipe's eval.which names."""

from __future__ import annotations

import json
import statistics
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
    assert code == 2 and "expected attentive, classify, knn or linear, got 'svm'" in err
    # Each score carries its gain over the random-init baseline, in points.
    for protocol, title in (("knn", "kNN gain"), ("attentive", "attentive gain")):
        gain = json.loads((run / f"eval_{protocol}.json").read_text())["gain"]
        assert title in table and f"{100 * gain['top1']:+.1f}" in table


def fake_run(path: Path, gain: float, within_noise: bool, *, periodic_knn_step: int = 0
             ) -> Path:
    """A run folder with one logged step and an ``eval_knn.json`` of its step-4 checkpoint."""
    path.mkdir(parents=True)
    rows = [{"step": 4, "loss": 1.0}]
    if periodic_knn_step:
        rows.append({"step": periodic_knn_step, "knn_top1": 0.4})
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (path / "eval_knn.json").write_text(json.dumps({
        "checkpoint_step": 4, "metrics": {"top1": 0.6},
        "gain": {"top1": gain, "standard_error": 0.05, "within_noise": within_noise}}))
    return path


def test_compare_shows_the_gain_and_says_when_it_is_within_noise(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small = fake_run(tmp_path / "small" / "run", 0.02, True)
    large = fake_run(tmp_path / "large" / "run", 0.3, False)
    code, table, err = run_cli(capsys, "compare", str(small))
    assert code == 0, err
    assert "kNN gain" in table and "+2.0 (within noise)" in table
    assert "gain: points over the random-init encoder" in table
    csv_path = tmp_path / "runs.csv"
    code, table, err = run_cli(capsys, "compare", str(large), "--csv", str(csv_path))
    assert code == 0, err
    assert "+30.0" in table and "noise" not in table
    assert "knn_gain" in csv_path.read_text().splitlines()[0]
    # Two runs of one variant (no recipe tells them apart): mean ± std, and how many are noise.
    code, table, err = run_cli(capsys, "compare", str(small), str(large), "-m", "knn-gain")
    assert code == 0, err
    assert f"+16.0 ± {100 * statistics.stdev([0.02, 0.3]):.1f} (1/2 within noise)" in table

    # A later periodic kNN replaces the JSON's score, and with it the JSON's gain.
    later = fake_run(tmp_path / "later" / "run", 0.3, False, periodic_knn_step=8)
    code, table, err = run_cli(capsys, "compare", str(later))
    assert code == 0, err
    assert "40.0%" in table and "kNN gain" not in table

"""metrics.jsonl: a torn last line is dropped with a warning, and resume rewrites atomically."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest

from jepa_kit.rundir.metrics import MetricsError, MetricsLog, read_metrics
from jepa_kit.sweep.compare import summarize

ROWS = [{"step": s, "loss": 1.0 / s} for s in range(1, 5)]
TORN = '{"step": 5, "loss": 0.1'


def write_rows(path: Path, tail: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS) + tail)
    return path


def test_read_metrics_drops_a_torn_last_line_naming_file_and_line(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "metrics.jsonl", TORN)
    with pytest.warns(UserWarning, match=r"metrics\.jsonl:5: dropping a torn last line"):
        assert read_metrics(path) == ROWS


def test_a_malformed_line_above_the_last_is_a_user_error(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "metrics.jsonl", TORN + "\n" + json.dumps({"step": 6}) + "\n")
    with pytest.raises(MetricsError, match=r"metrics\.jsonl:5: not a metrics row"):
        read_metrics(path)


def test_resume_drops_the_torn_line_and_appends_cleanly(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "metrics.jsonl", TORN)
    with pytest.warns(UserWarning, match="torn last line"):
        log = MetricsLog(path, resume_step=3)
    log.write({"step": 4, "loss": 0.5})
    log.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_metrics(path) == [*ROWS[:3], {"step": 4, "loss": 0.5}]


def test_a_last_row_without_its_newline_is_not_glued_to_the_next(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps(ROWS[0]))
    log = MetricsLog(path)
    log.write(ROWS[1])
    log.close()
    assert read_metrics(path) == ROWS[:2]


def test_a_kill_during_the_resume_rewrite_keeps_the_old_file(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    path = write_rows(tmp_path / "metrics.jsonl")
    before = path.read_bytes()

    def killed(fd: int) -> None:
        raise KeyboardInterrupt  # as a signal arriving mid-write

    monkeypatch.setattr(os, "fsync", killed)
    with pytest.raises(KeyboardInterrupt):
        MetricsLog(path, resume_step=2)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]


def test_compare_summarizes_a_run_with_a_torn_last_line(tmp_path: Path) -> None:
    write_rows(tmp_path / "metrics.jsonl", TORN)
    with pytest.warns(UserWarning, match="torn last line"):
        run = summarize(tmp_path, group="g", diff=[], seed=None)
    assert run.steps == 4 and [s for s, _ in run.curve] == [1, 2, 3, 4]

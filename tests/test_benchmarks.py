"""The benchmark scripts' plumbing (not their timings: speed is never a unit test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

BENCH = REPO / "benchmarks"


@pytest.fixture
def run_module(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import run

    return run


@pytest.mark.parametrize("script", ["run.py", "bench_step.py", "bench_masker.py",
                                    "bench_data.py", "bench_memory.py", "bench_levers.py"])
def test_every_script_has_working_help(script: str) -> None:
    proc = subprocess.run([sys.executable, str(BENCH / script), "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "--quick" in proc.stdout


def test_check_flags_only_changes_beyond_the_tolerance(run_module) -> None:
    here = run_module.machine_class(run_module.machine())
    baseline = {"machine_class": here, "metrics": {
        "step/a/images_per_s": {"value": 10.0, "higher_is_better": True},
        "masker/b/ms": {"value": 1.0, "higher_is_better": False},
    }}
    ok = {"step/a/images_per_s": {"value": 8.5, "higher_is_better": True},
          "masker/b/ms": {"value": 1.15, "higher_is_better": False}}
    assert run_module.compare(ok, baseline) == ([], [])
    bad = {"step/a/images_per_s": {"value": 7.5, "higher_is_better": True},
           "masker/b/ms": {"value": 1.3, "higher_is_better": False},
           "new/metric": {"value": 1.0, "higher_is_better": True}}
    regressions, notes = run_module.compare(bad, baseline)
    assert regressions == ["step/a/images_per_s: 7.5 vs baseline 10 (-25%)",
                           "masker/b/ms: 1.3 vs baseline 1 (+30%)"]
    assert notes == ["new/metric: not in the baseline"]


def test_check_skips_another_machine_class(run_module) -> None:
    baseline = {"machine_class": "Some CPU x64", "metrics": {}}
    regressions, notes = run_module.compare({"x": {"value": 1, "higher_is_better": True}}, baseline)
    assert regressions == [] and "not compared" in notes[0]


def test_shipped_baseline_names_its_machine() -> None:
    import json

    baseline = json.loads(Path(BENCH / "baseline.json").read_text())
    assert baseline["machine_class"] and baseline["metrics"]
    assert all({"value", "higher_is_better"} <= set(m) for m in baseline["metrics"].values())

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
                                    "bench_data.py", "bench_memory.py", "bench_levers.py",
                                    "bench_reference.py", "bench_targets.py",
                                    "bench_video_decode.py", "bench_fixed_shapes.py",
                                    "bench_quality.py", "bench_run_vs_step.py",
                                    "bench_peers.py", "bench_bf16_levers.py",
                                    "bench_optimizer.py"])
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


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch):
    """Import a benchmark script as a module (they import their neighbours by name)."""
    monkeypatch.syspath_prepend(str(BENCH))
    import importlib

    return importlib.import_module


def test_bench_reference_skips_cleanly_without_the_official_tree() -> None:
    env = {k: v for k, v in __import__("os").environ.items() if k != "IJEPA_OFFICIAL"}
    proc = subprocess.run([sys.executable, str(BENCH / "bench_reference.py"), "--quick"],
                          capture_output=True, text=True, timeout=120, env=env, cwd=BENCH)
    assert proc.returncode == 0, proc.stderr
    assert "IJEPA_OFFICIAL is not set, skipped" in proc.stdout
    assert "ms_per_step" not in proc.stdout  # nothing was measured


def test_bench_reference_refuses_a_folder_without_the_official_code(tmp_path: Path) -> None:
    env = {**__import__("os").environ, "IJEPA_OFFICIAL": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(BENCH / "bench_reference.py"), "--quick"],
                          capture_output=True, text=True, timeout=120, env=env, cwd=BENCH)
    assert proc.returncode == 1
    assert f"IJEPA_OFFICIAL={tmp_path}: no src/helper.py there" in proc.stderr


def test_ratio_rows_arithmetic(bench) -> None:
    ratio_rows = bench("bench_reference").ratio_rows
    times = {"official fp32": [1.0, 3.0, 2.0], "jepa-kit fp32": [1.0, 1.2, 0.8],
             "jepa-kit bf16": [0.5, 0.4, 0.6, 0.7]}
    rows = {r["variant"]: r for r in ratio_rows("cfg", times)}
    assert rows["official fp32"]["ms_per_step"] == pytest.approx(2000.0)
    assert rows["official fp32"]["vs_official"] == pytest.approx(1.0)
    assert rows["jepa-kit fp32"]["ms_per_step"] == pytest.approx(1000.0)
    assert rows["jepa-kit fp32"]["vs_official"] == pytest.approx(2.0)
    assert rows["jepa-kit bf16"]["ms_per_step"] == pytest.approx(550.0)  # median of four
    assert rows["jepa-kit bf16"]["vs_official"] == pytest.approx(2.0 / 0.55)
    assert rows["jepa-kit bf16"]["steps"] == 4
    assert rows["jepa-kit fp32"]["spread"] == pytest.approx(0.4)  # (1.2 - 0.8) / 1.0
    alone = ratio_rows("cfg", {"a": [1.0]}, None)
    assert alone[0]["vs_official"] is None and alone[0]["config"] == "cfg"
    other = ratio_rows("cfg", {"per_block": [2.0], "joint": [1.0]}, "per_block",
                       column="vs_per_block")
    assert [r["vs_per_block"] for r in other] == [pytest.approx(1.0), pytest.approx(2.0)]


def test_interleave_warms_each_variant_then_alternates_the_order(bench) -> None:
    interleave = bench("bench_reference").interleave
    calls: list[tuple[str, int]] = []
    variants = {name: (lambda m, n=name: calls.append((n, m))) for name in ("a", "b")}
    times = interleave(variants, [1, 2], rounds=2)
    assert calls[:4] == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]  # untimed warm-up
    assert calls[4:] == [("a", 1), ("b", 1), ("a", 2), ("b", 2),
                         ("b", 1), ("a", 1), ("b", 2), ("a", 2)]
    assert {k: len(v) for k, v in times.items()} == {"a": 4, "b": 4}


def test_official_masks_layout(bench) -> None:
    import torch

    from jepa_kit.maskers.base import Masks

    official_masks = bench("bench_reference").official_masks
    targets = torch.arange(2 * 3 * 4).view(2, 3, 4)
    enc, pred = official_masks(Masks(context=torch.zeros(3, 5, dtype=torch.long),
                                     targets=targets))
    assert len(enc) == 1 and enc[0].shape == (3, 5)
    assert len(pred) == 2 and torch.equal(pred[1], targets[1])


@pytest.mark.slow
def test_memory_child_audits_a_checkpointed_step(bench) -> None:
    """Activation checkpointing re-runs each trained block's attention in the backward pass; the
    audit counts those calls and still finds no materialised attention."""
    bench_memory = bench("bench_memory")
    StepConfig = bench("bench_step").StepConfig
    row = bench_memory.child(StepConfig("tiny", 64, 8, 2, batch=2, checkpointing=True))
    assert row["attention_ok"], row["problems"]
    assert row["config"].endswith(" ckpt") and row["checkpointing"] is True
    assert row["step_mib_per_image"] == pytest.approx(row["step_mib"] / 2)
    assert [c.checkpointing for c in bench_memory.configs(False, scale=True)] == [False, True] * 2


def test_fixed_shapes_counts_fewer_shapes_when_padded(bench) -> None:
    rows = bench("bench_fixed_shapes").shape_rows(20)
    by = {(r["config"], r["variant"]): r for r in rows}
    for config in {r["config"] for r in rows}:
        plain = by[(config, "unpadded")]["value"]
        assert 1 <= by[(config, "pad32")]["value"] <= by[(config, "pad8")]["value"] <= plain
        assert by[(config, "pad8")]["note"].startswith("+")


def test_machine_class_tells_native_bf16_apart(run_module) -> None:
    base = {"cpu_model": "AMD EPYC", "cores": 2}
    assert run_module.machine_class({**base, "cpu_flags": ["avx2"]}) == "AMD EPYC x2"
    native = run_module.machine_class({**base, "cpu_flags": ["avx2", "avx512_bf16"]})
    assert native == "AMD EPYC x2 native-bf16"
    # A baseline is matched by the machine it records, whatever class string it stored.
    baseline = {"machine": {**base, "cpu_flags": ["avx512_bf16"]}, "machine_class": "AMD EPYC x2",
                "metrics": {}}
    here = run_module.machine_class(run_module.machine())
    _, notes = run_module.compare({"x": {"value": 1, "higher_is_better": True}}, baseline)
    assert (here == native) == (not notes or "not compared" not in notes[0])


def test_precisions_leave_emulated_bf16_out(bench, monkeypatch: pytest.MonkeyPatch) -> None:
    common = bench("common")
    import jepa_kit.train.cpu_bf16 as cpu_bf16

    assert common.precisions("both") == ("fp32", "bf16") and common.precisions("fp32") == ("fp32",)
    monkeypatch.setattr(cpu_bf16, "emulated_bf16", lambda: True)
    assert common.precisions("auto") == ("fp32",)
    monkeypatch.setattr(cpu_bf16, "emulated_bf16", lambda: False)
    assert common.precisions("auto") == ("fp32", "bf16")


def test_memory_child_stops_at_its_cap_instead_of_exhausting_the_machine() -> None:
    import json

    cfg = {"size": "tiny", "img": 64, "patch": 8, "pred_depth": 2, "batch": 2}
    proc = subprocess.run([sys.executable, str(BENCH / "bench_memory.py"), "--child",
                           json.dumps(cfg), "64"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stderr[-2000:]  # OVER_CAP: torch alone is > 64 MiB
    assert proc.stdout == ""


def test_data_benchmark_builds_the_trainers_loader(bench) -> None:
    bench_data = bench("bench_data")
    recipe = bench("bench_step").recipe_for(bench("bench_step").StepConfig("quickstart", 32, 4, 2,
                                                                            batch=8))
    loader = bench_data.make_loader(recipe, (8, 8), num_workers=0)
    images, masks = bench_data._parts(next(iter(loader)))
    assert images.shape == (8, 3, 32, 32)
    assert masks.context.shape[0] == 8 and masks.targets.shape[:2] == (4, 8)

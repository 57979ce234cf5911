"""benchmarks/gpu_check.py on the CPU: its arithmetic, its budget, and the whole path (--dry-run).

The numbers it exists for need a GPU; what is tested here is that they are computed right and
that the script keeps to its time budget and reports what it could not measure.
"""

from __future__ import annotations

import json
import math
import signal
import time
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
import torch

from tests.conftest import REPO

BENCH = REPO / "benchmarks"


@pytest.fixture
def gpu_check(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))
    import gpu_check

    return gpu_check


# -- peaks and MFU -----------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "peak"), [
    ("NVIDIA H100 80GB HBM3", 989.0),  # the SXM part
    ("NVIDIA H100 PCIe", 756.0),
    ("NVIDIA H100 NVL", 835.0),
    ("NVIDIA H200", 989.0),
    ("NVIDIA GH200 480GB", 989.0),
    ("NVIDIA A100-SXM4-80GB", 312.0),
    ("NVIDIA A100 80GB PCIe", 312.0),
    ("NVIDIA L4", 121.0),
    ("NVIDIA L40S", 362.0),
    ("NVIDIA A10", 125.0),
    ("NVIDIA GeForce RTX 4090", None),
    ("cpu", None),
])
def test_peak_is_looked_up_by_device_name(gpu_check: ModuleType, name: str,
                                          peak: float | None) -> None:
    assert gpu_check.peak_tflops(name) == peak


def test_peak_flag_wins_and_table_agrees_with_gpu_estimate(gpu_check: ModuleType) -> None:
    import gpu_estimate

    assert gpu_check.peak_tflops("NVIDIA H100 80GB HBM3", 700.0) == 700.0
    assert gpu_check.peak_tflops("mystery accelerator", 123.0) == 123.0
    peaks = gpu_estimate.GPU_PEAK_TFLOPS
    assert gpu_check.peak_tflops("NVIDIA A100-SXM4-40GB") == peaks["A100 SXM"]
    assert gpu_check.peak_tflops("NVIDIA H100 80GB HBM3") == peaks["H100 SXM"]


def test_mfu_arithmetic(gpu_check: ModuleType) -> None:
    # 128 images of 800 GFLOP each (ViT-H/14's step) in 0.26 s on a 989 TFLOP/s GPU.
    flops = [128 * 800e9]
    tflops = gpu_check.achieved_tflops(flops, steps=30, seconds=30 * 0.26)
    assert tflops == pytest.approx(128 * 800e9 / 0.26 / 1e12)  # 393.8
    assert gpu_check.mfu(tflops, 989.0) == pytest.approx(0.3982, abs=1e-4)
    assert gpu_check.images_per_s(128, 30, 30 * 0.26) == pytest.approx(492.3, abs=0.1)
    assert math.isnan(gpu_check.mfu(tflops, None))


def test_flops_follow_the_mask_batches_cycled(gpu_check: ModuleType) -> None:
    # steps cycle through the batches: 1, 3, 1, 3, 1 -> 9e12 FLOPs in 3 s
    assert gpu_check.achieved_tflops([1e12, 3e12], steps=5, seconds=3.0) == pytest.approx(3.0)
    assert gpu_check.achieved_tflops([1e12, 3e12], steps=4, seconds=2.0) == pytest.approx(4.0)


# -- the budget --------------------------------------------------------------------------------
def test_budget_share_gives_left_over_time_to_later_checks(gpu_check: ModuleType) -> None:
    weights = [1.0, 1.5, 1.5, 3.0, 4.5]
    assert gpu_check.budget_share(420.0, weights) == pytest.approx(420 / 11.5)
    # the first check took 10 s of its 36.5: the next gets a share of the 410 left
    assert gpu_check.budget_share(410.0, weights[1:]) == pytest.approx(410 * 1.5 / 10.5)
    assert gpu_check.budget_share(100.0, weights[-1:]) == pytest.approx(100.0)


@pytest.mark.parametrize(("seconds", "step_s", "expected"), [
    (10.0, 0.1, 99),  # 100 fit, rounded down to whole cycles of 3
    (10.0, 1.0, 9),
    (1.0, 2.0, 3),  # not even one step fits: still one cycle
    (-5.0, 0.5, 3),  # over budget already: one cycle
    (100.0, 0.01, 198),  # capped at 200, whole cycles
    (10.0, 0.0, 198),  # an immeasurably fast step: the cap
])
def test_timed_steps(gpu_check: ModuleType, seconds: float, step_s: float, expected: int) -> None:
    assert gpu_check.timed_steps(seconds, step_s, cycle=3, lo=3, hi=200) == expected


def test_quickstart_epochs_hold_the_steps(gpu_check: ModuleType) -> None:
    assert gpu_check.quickstart_epochs(200, 2048, 64) == 7  # 32 steps an epoch
    assert gpu_check.quickstart_epochs(160, 2048, 64) == 5
    assert gpu_check.quickstart_epochs(4, 2048, 64) == 1


def test_json_path(gpu_check: ModuleType) -> None:
    assert gpu_check.json_path(Path("runs/x.json")) == Path("runs/x.json")
    assert gpu_check.json_path(Path("runs/benchmarks")) == Path("runs/benchmarks/gpu_check.json")


def test_time_limit_interrupts_and_restores_the_alarm(gpu_check: ModuleType) -> None:
    before = signal.getsignal(signal.SIGALRM)
    tic = time.monotonic()
    with pytest.raises(gpu_check.CheckTimeout), gpu_check.time_limit(0.05):
        time.sleep(5)
    assert time.monotonic() - tic < 2
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is before
    with pytest.raises(gpu_check.CheckTimeout), gpu_check.time_limit(0):
        pass


def test_timeout_and_oom_become_statuses_even_when_wrapped(gpu_check: ModuleType) -> None:
    def wrapped_timeout() -> dict[str, Any]:
        try:
            time.sleep(5)
        except gpu_check.CheckTimeout as exc:  # what torch.compile's error wrapping does
            raise RuntimeError("backend compiler failed") from exc
        return {}

    def oom() -> dict[str, Any]:
        raise torch.OutOfMemoryError("CUDA out of memory")

    row = gpu_check.guarded({"check": "a"}, 0.05, wrapped_timeout)
    assert row["status"].startswith("timeout: stopped at its budget")
    assert gpu_check.guarded({"check": "b"}, 5, oom)["status"] == "out of memory"
    with pytest.raises(ValueError, match="a bug"):
        gpu_check.guarded({"check": "c"}, 5, lambda: (_ for _ in ()).throw(ValueError("a bug")))


def test_run_keeps_to_its_budget_and_goes_on_after_an_error(
        gpu_check: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    def slow_step(check: Any, opts: Any, limit: float, cache: Any) -> dict[str, Any]:
        time.sleep(30)
        return {}

    def broken_quickstart(opts: Any) -> dict[str, Any]:
        raise ValueError("a bug in the quickstart check")

    monkeypatch.setattr(gpu_check, "measure_step", slow_step)
    monkeypatch.setattr(gpu_check, "run_quickstart", broken_quickstart)
    monkeypatch.setattr(gpu_check, "fsdp_available", lambda: False)
    # gc.collect() between checks takes seconds on a loaded machine: not what this test times.
    monkeypatch.setattr(gpu_check, "reset_memory", lambda device: None)
    opts = gpu_check.Options(device=torch.device("cpu"), peak=None, timed_s=1.0, cycle=1,
                             compile_backend="eager", quickstart_steps=4)
    tic = time.monotonic()
    result = gpu_check.run(opts, budget_s=0.6, batch=2)
    assert time.monotonic() - tic < 5
    statuses = [(row["check"], row.get("compile"), row["status"].split(":")[0])
                for row in result.rows]
    assert statuses == [("quickstart fp32 b2", "off", "timeout"),
                        ("quickstart 4 steps", "off", "error"),
                        ("quickstart fp32 b2", "dynamic", "timeout"),
                        ("quickstart fp32 b2", "buckets", "timeout"),
                        ("fsdp (1 GPU)", None, "fsdp")]
    assert result.rows[-1]["status"] == "fsdp: not available in this jepa-kit"
    assert result.failures == ["quickstart 4 steps: ValueError: a bug in the quickstart check"]


# -- what runs on the GPU ----------------------------------------------------------------------
def test_gpu_checks_are_the_paper_models_eager_then_compiled(gpu_check: ModuleType) -> None:
    checks = gpu_check.step_checks(torch.device("cuda"), 128)
    models = ["ViT-B/16 pred6 bf16 b128", "ViT-H/14 pred12 bf16 b128"]
    assert [(c.name, c.compile) for c in checks] == [
        (name, mode) for mode in ("off", "dynamic", "buckets", "buckets+cudagraphs")
        for name in models]
    assert {(c.cfg.img, c.cfg.precision) for c in checks} == {(224, "bf16")}
    # Only the bucketed modes pad: the fixed shapes the static graphs and CUDA graphs need.
    assert [c.cfg.length_bucket for c in checks] == [0, 0, 0, 0, 8, 8, 8, 8]
    assert checks[0].mfu_assumed == "30%-45%"
    # No CUDA graphs without CUDA.
    cpu = gpu_check.step_checks(torch.device("cpu"), 8)
    assert [c.compile for c in cpu] == ["off", "dynamic", "buckets"]


def test_compile_step_compiles_as_train_compile_does(gpu_check: ModuleType,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def fake(net: Any, *, static: bool, backend: Any = None, mode: Any = None) -> Any:
        calls.append((type(net).__name__, {"static": static, "backend": backend, "mode": mode}))
        return net

    monkeypatch.setattr(gpu_check, "compile_network", fake)
    check = gpu_check.step_checks(torch.device("cuda"), 2)
    for c in check[:1] + check[2:3] + check[4:5] + check[6:7]:
        with torch.device("meta"):
            step = gpu_check.TrainStep(gpu_check.recipe_for(c.cfg))
        calls.clear()
        gpu_check.compile_step(step, c.compile, "inductor")
        if c.compile == "off":
            assert calls == []
            continue
        static = c.compile.startswith("buckets")
        mode = "reduce-overhead" if c.compile.endswith("cudagraphs") else None
        assert calls == [(name, {"static": static, "backend": "inductor", "mode": mode})
                         for name in ("ViTEncoder", "ViTPredictor")]


def test_gpu_step_is_built_on_the_device_it_runs_on(gpu_check: ModuleType) -> None:
    """Built under ``torch.device(...)`` (meta stands in for cuda): nothing left on the CPU."""
    check = gpu_check.step_checks(torch.device("cuda"), 128)[0]
    with torch.device("meta"):
        step = gpu_check.TrainStep(gpu_check.recipe_for(check.cfg))
    for net in (step.encoder, step.target_encoder, step.predictor, step.loss_fn):
        assert {t.device.type for t in [*net.parameters(), *net.buffers()]} <= {"meta"}


def test_fsdp_is_detected_from_the_recipe(gpu_check: ModuleType,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from jepa_kit.recipe import RecipeError

    def refuses(path: Any, overrides: Any = ()) -> Any:
        raise RecipeError(str(path), [("distributed", "unknown section")])

    monkeypatch.setattr(gpu_check, "load_recipe", refuses)
    assert gpu_check.fsdp_available() is False
    fsdp = SimpleNamespace(distributed=SimpleNamespace(strategy="fsdp"))
    monkeypatch.setattr(gpu_check, "load_recipe", lambda path, overrides=(): fsdp)
    assert gpu_check.fsdp_available() is True


def test_without_a_gpu_it_says_so_and_exits_0(gpu_check: ModuleType, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main(["--out", str(tmp_path)]) == 0
    assert "no CUDA GPU found" in capsys.readouterr().out
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_dry_run_runs_every_check_on_the_cpu(gpu_check: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    assert gpu_check.main(["--dry-run", "--peak-tflops", "2", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    rows = {(r["check"], r.get("compile")): r for r in data["rows"]}
    assert data["device_name"] == "cpu" and data["peak_bf16_tflops"] == 2.0
    assert data["elapsed_s"] < data["budget_s"]
    for mode in ("off", "dynamic", "buckets"):
        row = rows["quickstart fp32 b8", mode]
        assert row["status"] == "ok" and row["steps"] >= 1
        assert row["images_per_s"] == pytest.approx(8 / row["ms_per_step"] * 1e3, rel=1e-6)
        assert row["mfu"] == pytest.approx(row["tflops"] / 2.0)
        assert row["gflop_per_image"] > 0
    quickstart = rows["quickstart 4 steps", "off"]
    assert quickstart["status"] == "ok" and quickstart["steps"] == 4
    assert math.isfinite(quickstart["final_loss"]) and quickstart["wall_s"] > 0
    assert rows["fsdp (1 GPU)", None]["status"] in (
        "fsdp: not available in this jepa-kit", "available in jepa-kit, not measured here")

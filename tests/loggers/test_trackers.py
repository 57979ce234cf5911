"""W&B (offline) and MLflow (a file store) get the run's records, read back with the
packages' own formats; a resumed run continues the same tracker run; a sweep tags its runs."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from jepa_kit.loggers.hub import read_state
from jepa_kit.loggers.provenance import source_commit
from jepa_kit.recipe import load_recipe
from jepa_kit.rundir.metrics import read_metrics
from jepa_kit.train.trainer import train
from tests.loggers.wandb_records import read_run
from tests.train.helpers import QUICKSTART, TINY

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the baseline cache
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _run(out: Path, store: Path, steps: int, *, resume: bool = False,
         tags: dict[str, str] | None = None) -> None:
    loggers = f'loggers=[{{kind="wandb"}}, {{kind="mlflow", uri="file:{store}"}}]'
    recipe = load_recipe(QUICKSTART, [*TINY, f"train.max_steps={steps}", loggers])
    train(recipe, output_dir=out, resume=resume, quiet=True, tags=tags)


def _jsonl_losses(out: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in read_metrics(out / "metrics.jsonl") if "loss" in r}


def test_wandb_and_mlflow_hold_the_losses_of_metrics_jsonl_and_a_resume_continues_them(
        tmp_path: Path) -> None:
    from mlflow import MlflowClient

    out, store = tmp_path / "run", tmp_path / "mlruns"
    _run(out, store, 3, tags={"variant": "lr-high", "seed": "1"})
    first = read_state(out)
    _run(out, store, 5, resume=True)  # the checkpoint of step 3 continues to step 5
    assert read_state(out) == first  # the same tracker runs, by the ids kept in the run
    losses = _jsonl_losses(out)
    assert sorted(losses) == [1, 2, 3, 4, 5]

    # W&B: two offline sessions of one run id, for `wandb sync` to append.
    sessions = sorted((out / "wandb").glob("offline-run-*"))
    assert len(sessions) == 2
    runs = [read_run(next(s.glob("run-*.wandb"))) for s in sessions]
    run_id = first["wandb"]["run_id"]
    assert [r["run_id"] for r in runs] == [run_id, run_id]
    logged = {h["_step"]: h["loss"] for r in runs for h in r["history"] if "loss" in h}
    assert logged == losses
    config = runs[0]["config"]
    assert config["recipe"]["train"]["max_steps"] == 3
    assert config["jepa_kit_version"] == __import__("jepa_kit").__version__
    # The checkout's commit (HEAD may move while the test runs, so its form is checked).
    commit = config["git_commit"]
    assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", commit) if source_commit() else \
        commit == "none"
    assert runs[0]["group"] == "lr-high" and "seed=1" in runs[0]["tags"]
    # The mask preview went in as an image at step 0, once (not again on resume).
    previews = [h for r in runs for h in r["history"] if "masks/preview/_type" in h]
    assert [(h["_step"], h["masks/preview/_type"]) for h in previews] == [(0, "image-file")]

    # MLflow: one run, read back with MLflow's own client.
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=f"file:{store}")
    mlflow_id = first["mlflow"]["run_id"]
    history = client.get_metric_history(mlflow_id, "loss")
    assert {m.step: m.value for m in history} == losses
    assert len(history) == 5  # appended, nothing logged twice
    run = client.get_run(mlflow_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["recipe.train.batch_size"] == "16"
    assert run.data.params["recipe.train.max_steps"] == "3"  # a param is written once ...
    assert "recipe.train.max_steps: 3 -> 5" in run.data.tags["resume_changes.step3"]  # ... and
    assert run.data.params["git_commit"] == commit
    assert run.data.tags["variant"] == "lr-high" and run.data.tags["seed"] == "1"
    images = [a.path for a in client.list_artifacts(mlflow_id, "images")]
    assert any(p.startswith("images/masks/preview") or "masks" in p for p in images), images
    runs_in_store = client.search_runs([run.info.experiment_id])
    assert [r.info.run_id for r in runs_in_store] == [mlflow_id]

    # `jepa-kit eval` of the run's checkpoint: its scores and their random-init baseline join
    # the same tracker runs, at the checkpoint's step.
    import jepa_kit

    checkpoint = out / "checkpoints" / "step_00000005.pt"
    scored = jepa_kit.evaluate(checkpoint, "knn", settings={"k": 5}, device="cpu",
                               overrides=["data.val_size=64"])
    assert scored is not None
    result = scored.result
    top1 = client.get_metric_history(mlflow_id, "eval_knn_top1")
    assert [(m.step, m.value) for m in top1] == [(5, result["metrics"]["top1"])]
    base = client.get_metric_history(mlflow_id, "eval_knn_top1_baseline")
    assert [m.value for m in base] == [result["baseline"]["metrics"]["top1"]]
    gain = client.get_metric_history(mlflow_id, "eval_knn_top1_gain")
    assert [m.value for m in gain] == [pytest.approx(result["gain"]["top1"])]
    tags = client.get_run(mlflow_id).data.tags
    assert [k for k in tags if k.startswith("resume_changes")] == ["resume_changes.step3"]
    third = sorted((out / "wandb").glob("offline-run-*"))[-1]
    rows = read_run(next(third.glob("run-*.wandb")))["history"]
    assert [(h["_step"], h["eval_knn_top1"]) for h in rows if "eval_knn_top1" in h] == \
        [(5, result["metrics"]["top1"])]


def test_a_sweep_tags_each_run_with_its_variant_and_seed(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import jepa_kit.train.trainer as trainer
    from jepa_kit.sweep.plan import SweepPlan, Variant
    from jepa_kit.sweep.runner import run_sweep

    seen: list[dict[str, Any]] = []

    def fake_train(recipe: Any, **options: Any) -> None:
        seen.append({"dir": options["output_dir"].name, **options["tags"]})
        (options["output_dir"]).mkdir(parents=True, exist_ok=True)

    monkeypatch.setattr(trainer, "train", fake_train)
    plan = SweepPlan(QUICKSTART, (Variant("base", (), 0), Variant("lr", ("optim.lr=2e-3",), 1)),
                     common=tuple(TINY), name="lrs")
    run_sweep(plan, tmp_path / "sweep", quiet=True)
    assert seen == [{"dir": "base-seed0", "sweep": "lrs", "variant": "base", "seed": "0"},
                    {"dir": "lr-seed1", "sweep": "lrs", "variant": "lr", "seed": "1"}]

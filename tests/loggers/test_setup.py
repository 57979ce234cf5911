"""The logger kind in the registry and `jepa-kit plugins`; what a tracker refuses at set-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from jepa_kit.loggers import LoggerSetupError, RunInfo
from jepa_kit.loggers.hub import Loggers
from jepa_kit.registry import GROUPS, registry

BUILT_INS = {"csv", "jsonl", "mlflow", "tensorboard", "wandb"}


def test_plugins_lists_the_logger_kind_with_its_built_ins() -> None:
    from jepa_kit.cli.plugins import rows

    assert GROUPS["logger"] == "jepa_kit.loggers"
    listed = {r["name"]: r for r in rows(check=True) if r["kind"] == "logger"}
    assert BUILT_INS <= set(listed)
    assert all(listed[n]["status"] == "ok" and listed[n]["distribution"] == "jepa-kit"
               for n in BUILT_INS)


@pytest.mark.parametrize(("uri", "message"), [
    ("nosuch://x", r"loggers\[0\]\.uri: MLflow at nosuch://x failed: .*unsupported URI"),
    ("sqlite:///mlflow.db", r"loggers\[0\]\.uri: 'sqlite:///mlflow.db' is a database store, "
                            r"which needs the full MLflow package \(pip install mlflow\)"),
])
def test_a_bad_mlflow_uri_is_refused_naming_its_key(tmp_path: Path, uri: str,
                                                     message: str) -> None:
    pytest.importorskip("mlflow")
    if uri.startswith("sqlite"):
        import importlib.util

        if importlib.util.find_spec("sqlalchemy") is not None:
            pytest.skip("the full MLflow package takes database stores")
    mlflow = registry("logger").load("mlflow")
    run = RunInfo(run_dir=tmp_path, name="x", config={})
    with pytest.raises(LoggerSetupError, match=message):
        Loggers.open([mlflow.Config(uri=uri)], run)
    assert not (tmp_path / "metrics.jsonl").exists()
    assert not (tmp_path / "loggers.json").exists()


def test_an_unwritable_folder_names_the_option(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    run = RunInfo(run_dir=tmp_path, name="x", config={})
    csv_logger = registry("logger").load("csv")
    with pytest.raises(LoggerSetupError, match=r"loggers\[0\]\.path: cannot write "):
        Loggers.open([csv_logger.Config(path="file/metrics.csv")], run)
    tensorboard = registry("logger").load("tensorboard")
    with pytest.raises(LoggerSetupError, match=r"loggers\[0\]\.log_dir: cannot write "):
        Loggers.open([tensorboard.Config(log_dir="file/tb")], run)


def test_changing_the_loggers_of_a_resumed_run_needs_no_consent() -> None:
    from jepa_kit.recipe import load_recipe, recipe_to_dict
    from jepa_kit.train.resume import check_resume
    from tests.train.helpers import QUICKSTART

    old = recipe_to_dict(load_recipe(QUICKSTART))
    old.pop("loggers")  # a checkpoint from before loggers were a recipe list
    new = recipe_to_dict(load_recipe(QUICKSTART, ['loggers=[{kind="csv"}]']))
    lines = check_resume(old, new, source="step_3.pt", allow_changes=False)
    assert lines == ["loggers: [] -> [{'kind': 'csv', 'path': 'metrics.csv'}]"]

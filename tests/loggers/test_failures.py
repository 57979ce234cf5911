"""A logger that cannot start stops the run at set-up (exit 2, naming the recipe key); one that
raises mid-run is reported once and the run goes on. The files loggers (CSV, TensorBoard) hold
the rows of metrics.jsonl."""

from __future__ import annotations

import csv
import sys
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest

from jepa_kit.loggers import Logger, LoggerConfig, LoggerSetupError, LoggerWarning, RunInfo
from jepa_kit.loggers.hub import Loggers
from jepa_kit.recipe import load_recipe
from jepa_kit.registry import registry
from jepa_kit.rundir.metrics import read_metrics
from jepa_kit.train.trainer import train
from tests.train.helpers import QUICKSTART, TINY, run_cli, sets


class Flaky(Logger):
    """Fails on its second row."""

    class Config(LoggerConfig):
        kind: Literal["flaky"] = "flaky"

    rows: ClassVar[list[int]] = []

    def start(self, run: RunInfo) -> dict[str, Any]:
        return {}

    def log_metrics(self, row: Mapping[str, Any]) -> None:
        Flaky.rows.append(row["step"])
        if len(Flaky.rows) == 2:
            raise ConnectionError("tracker went away")

    def finish(self, status: str) -> None:
        Flaky.rows.append(-1)


@pytest.fixture
def flaky() -> Iterator[None]:
    registry("logger").register("flaky", Flaky)
    Flaky.rows = []
    yield
    registry("logger").unregister("flaky")


@pytest.mark.slow
def test_a_logger_that_raises_mid_run_is_reported_once_and_the_run_goes_on(
        tmp_path: Path, flaky: None) -> None:
    out = tmp_path / "run"
    recipe = load_recipe(QUICKSTART, [
        *TINY, "train.max_steps=4", 'loggers=[{kind="flaky"}, {kind="csv"}, '
        '{kind="tensorboard"}]'])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(recipe, output_dir=out, quiet=True)
    assert result.step == 4
    reports = [str(w.message) for w in caught if issubclass(w.category, LoggerWarning)]
    assert reports == ["loggers[0] (flaky) failed at step 2: ConnectionError: tracker went "
                       "away; it is off for the rest of this run (metrics.jsonl keeps every "
                       "row)"]
    assert Flaky.rows == [1, 2]  # switched off: no more rows, no finish
    rows = read_metrics(out / "metrics.jsonl")
    losses = [r["loss"] for r in rows]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]

    # CSV: the same losses, to the last digit.
    with (out / "metrics.csv").open(newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in table] == [1, 2, 3, 4]
    assert [float(r["loss"]) for r in table] == losses
    # TensorBoard: the same losses (float32 in event files), read by TensorBoard's own reader.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    scalars = events.Scalars("loss")
    assert [s.step for s in scalars] == [1, 2, 3, 4]
    assert [s.value for s in scalars] == pytest.approx(losses, rel=1e-6)
    assert "masks/preview" in events.Tags()["images"]


@pytest.mark.slow
def test_a_tracker_that_cannot_start_stops_the_cli_at_set_up_with_exit_2(
        tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = tmp_path / "run"
    done = run_cli("run", str(QUICKSTART), *sets(
        *TINY, "train.max_steps=2", f'loggers=[{{kind="csv"}}, {{kind="mlflow", '
        f'uri="file:{blocker}/mlruns"}}]'), "-o", str(out))
    assert done.returncode == 2, done.stderr
    assert "loggers[1].uri: cannot write the file store" in done.stderr
    assert "Traceback" not in done.stderr
    # Nothing trained and nothing that makes the folder a run: the fixed command just runs.
    assert not (out / "metrics.jsonl").exists()
    assert not list((out / "checkpoints").glob("step_*"))


def test_a_missing_package_or_a_second_logger_of_a_kind_is_refused_at_set_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed
    wandb = registry("logger").load("wandb")
    csv_logger = registry("logger").load("csv")
    run = RunInfo(run_dir=tmp_path, name="x", config={})
    with pytest.raises(LoggerSetupError, match=r"loggers\[1\] \(wandb\): the wandb logger "
                       r"needs the wandb package: pip install 'jepa-kit\[wandb\]'"):
        Loggers.open([csv_logger.Config(), wandb.Config()], run)
    assert not (tmp_path / "metrics.jsonl").exists()
    with pytest.raises(LoggerSetupError, match=r"loggers\[1\]\.kind: a second 'csv' logger "
                       r"\(the first is loggers\[0\]\)"):
        Loggers.open([csv_logger.Config(), csv_logger.Config(path="b.csv")], run)


def test_the_recipe_names_a_bad_logger_option_by_its_key() -> None:
    from jepa_kit.recipe import RecipeError

    with pytest.raises(RecipeError) as info:
        load_recipe(QUICKSTART, ['loggers=[{kind="csv"}, {kind="wandb", projekt="x"}]'])
    assert "loggers[1].projekt: unknown key" in str(info.value)
    with pytest.raises(RecipeError, match=r"loggers\[0\]\.kind: unknown logger 'wandbb'.*"
                       r"Did you mean 'wandb'"):
        load_recipe(QUICKSTART, ['loggers=[{kind="wandbb"}]'])

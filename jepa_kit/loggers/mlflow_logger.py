"""``mlflow``: the run as an MLflow run, in any tracking store MLflow reaches.

``uri`` is the tracking URI: ``file:/path/mlruns`` (a local file store, no server; needs only
``mlflow-skinny``), ``sqlite:///mlflow.db`` (needs the full ``mlflow`` package), or an
``http(s)://`` tracking server; unset, ``MLFLOW_TRACKING_URI``, else ``./mlruns`` (MLflow's own
default is now a SQLite file, which ``mlflow-skinny`` cannot open). The MLflow run id is kept
in the run folder (``loggers.json``), so a resumed run appends to the same MLflow run. The
resolved recipe is logged as params (``recipe.<dotted key>``), with jepa-kit's version and git
commit; a sweep's variant and seed are tags. Images go in as MLflow images (``log_image``), at
their step.

MLflow 3 keeps the file store in maintenance mode and refuses it unless
``MLFLOW_ALLOW_FILE_STORE`` is set; for a ``file:`` URI (named in the recipe, or the ``./mlruns``
default) this logger sets it (when unset), since that store is what was asked for.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from PIL import Image
from pydantic import Field

from jepa_kit.loggers.base import (
    Logger,
    LoggerConfig,
    LoggerSetupError,
    RunInfo,
    numeric_items,
)
from jepa_kit.recipe import flatten

#: URI schemes of MLflow's database stores (SQLAlchemy: the full ``mlflow`` package).
DATABASES = ("sqlite", "postgresql", "mysql", "mssql")
#: MLflow's limits: a param value's length, and the entries of one ``log_batch``.
MAX_PARAM_VALUE, BATCH = 6000, 100


class MLflowLogger(Logger):
    """Step metrics, evaluation results and images to an MLflow run."""

    class Config(LoggerConfig):
        kind: Literal["mlflow"] = "mlflow"
        uri: str | None = Field(None, min_length=1, description="Tracking URI (file:/path, "
                                "sqlite:///file.db, http://host:5000); None: the "
                                "MLFLOW_TRACKING_URI environment variable, else ./mlruns (a "
                                "file store in the folder jepa-kit runs from).")
        experiment: str = Field("jepa-kit", min_length=1, description="MLflow experiment; "
                                "created when missing.")
        tags: dict[str, str] = Field(default_factory=dict, description="Extra run tags.")

    config: Config
    takes_images = True

    def __init__(self, config: LoggerConfig) -> None:
        super().__init__(config)
        self._client: Any = None
        self._run_id: str | None = None
        self._records_only = False  # the run's status is the run's to set

    def start(self, run: RunInfo) -> dict[str, Any]:
        try:
            from mlflow import MlflowClient
        except ImportError as exc:
            raise LoggerSetupError("the mlflow logger needs MLflow: pip install "
                                   "'jepa-kit[mlflow]' (mlflow-skinny)") from exc
        uri = self.config.uri or os.environ.get("MLFLOW_TRACKING_URI") or \
            Path("mlruns").resolve().as_uri()
        if uri is not None and _local_path(uri) is not None:
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
            folder = _local_path(uri)
            try:
                assert folder is not None
                folder.mkdir(parents=True, exist_ok=True)
                probe = folder / ".jepa-kit-write-probe"
                probe.write_text("")
                probe.unlink()
            except OSError as exc:
                raise LoggerSetupError(f"cannot write the file store {folder}: {exc}",
                                       "uri") from exc
        scheme = urlparse(uri).scheme.split("+")[0] if uri else ""
        if scheme in DATABASES and importlib.util.find_spec("sqlalchemy") is None:
            raise LoggerSetupError(f"{uri!r} is a database store, which needs the full MLflow "
                                   f"package (pip install mlflow); mlflow-skinny logs to a "
                                   f"file: store or an http(s):// tracking server", "uri")
        try:
            self._client = client = MlflowClient(tracking_uri=uri)
            experiment = client.get_experiment_by_name(self.config.experiment)
            experiment_id = (experiment.experiment_id if experiment is not None
                             else client.create_experiment(self.config.experiment))
            old = self._previous_run(run)
            self._records_only = run.records_only and old is not None
            tags = {**run.tags, **self.config.tags}
            if old is None:
                created = client.create_run(experiment_id, run_name=run.name, tags=tags)
                self._run_id = created.info.run_id
                self._log_params(run, {})
            else:
                self._run_id = old.info.run_id
                if not run.records_only:
                    client.update_run(self._run_id, status="RUNNING")
                    self._log_params(run, dict(old.data.params))
        except LoggerSetupError:
            raise
        except Exception as exc:
            raise LoggerSetupError(f"MLflow at {uri} failed: "
                                   f"{type(exc).__name__}: {exc}", "uri") from exc
        return {"run_id": self._run_id, "experiment": self.config.experiment}

    def _previous_run(self, run: RunInfo) -> Any:
        run_id = run.state.get("run_id") if run.resumed else None
        if run_id is None:
            return None
        try:
            return self._client.get_run(run_id)
        except Exception:  # not in this store (the URI changed): a new MLflow run
            return None

    def _log_params(self, run: RunInfo, logged: Mapping[str, str]) -> None:
        from mlflow.entities import Param, RunTag

        values = {f"recipe.{k}": v for k, v in flatten(dict(run.config)).items()}
        values.update(run.params)
        params, changed = [], []
        for key, value in values.items():
            text = str(value)[:MAX_PARAM_VALUE]
            if key not in logged:
                params.append(Param(key, text))
            elif logged[key] != text:  # a param is written once; a resume records the change
                changed.append(f"{key}: {logged[key]} -> {text}")
        for i in range(0, len(params), BATCH):
            self._client.log_batch(self._run_id, params=params[i:i + BATCH])
        if changed:
            self._client.log_batch(self._run_id, tags=[RunTag(
                f"resume_changes.step{run.start_step}", "; ".join(changed)[:MAX_PARAM_VALUE])])

    def log_metrics(self, row: Mapping[str, Any]) -> None:
        from mlflow.entities import Metric

        now, step = int(time.time() * 1000), int(row["step"])
        metrics = [Metric(k, v, now, step) for k, v in numeric_items(row).items()]
        for i in range(0, len(metrics), 10 * BATCH):
            self._client.log_batch(self._run_id, metrics=metrics[i:i + 10 * BATCH])

    def log_image(self, key: str, image: Image.Image, step: int) -> None:
        self._client.log_image(self._run_id, image.convert("RGB"), key=key, step=step)

    def finish(self, status: str) -> None:
        if self._client is not None and self._run_id is not None and not self._records_only:
            run_id, self._run_id = self._run_id, None
            self._client.set_terminated(run_id, status={"finished": "FINISHED", "stopped":
                                                        "KILLED"}.get(status, "FAILED"))


def _local_path(uri: str) -> Path | None:
    """The folder of a file-store URI (``file:...`` or a plain path); None for others."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(parsed.path)
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and uri[1:2] == ":"):  # C:\ on Windows
        return Path(uri)
    return None

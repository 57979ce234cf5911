"""The logger interface: the trainer emits records, loggers write them somewhere.

A record is a metrics row (``{"step": 10, "epoch": 0, "loss": 0.41, ...}``: a train step, a
periodic evaluation, an evaluation result with its random-init baseline) or an image (the
mask preview, ``diagnose``'s maps). ``metrics.jsonl`` is one logger, always on; a recipe adds
others as ``[[loggers]]`` tables (``kind = "wandb"``, ``"mlflow"``, ``"tensorboard"``,
``"csv"`` or a plug-in's). Only rank 0 of a job builds loggers.

``start`` does everything that can fail for a reason the user must fix (a package missing, a
tracking URI that does not answer, a folder that cannot be written) and raises
``LoggerSetupError`` naming the option at fault, so a run stops at set-up, never mid-run.
After ``start``, an exception from ``log_metrics``/``log_image`` is reported once by the
engine and that logger is switched off; the run goes on.

Not for: deciding what to log or when (the trainer does), formatting the terminal display
(``jepa_kit.train.progress``), reading metrics back (``jepa_kit.rundir.metrics``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image

from jepa_kit.config import ComponentConfig
from jepa_kit.errors import UserError


class LoggerConfig(ComponentConfig):
    """Base of logger configs: the options of one ``[[loggers]]`` table."""

    component_kind: ClassVar[str] = "logger"


class LoggerSetupError(UserError):
    """A logger cannot start; ``option`` names the config field at fault (None: the logger as
    a whole, e.g. its package is missing)."""

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


@dataclass
class RunInfo:
    """What a logger learns about the run when it starts.

    ``config`` is the resolved recipe (nested, JSON-compatible); ``params`` the facts beside it
    (jepa-kit version, git commit, world size, ...); ``tags`` labels that group runs (a sweep's
    variant and seed). ``state`` is this logger's saved state from an earlier start of the same
    run (e.g. the tracker's run id), empty for a new run; ``resumed`` whether this start
    continues a checkpoint. ``records_only``: a later command (``eval``, ``diagnose``) adds
    records to a finished run; config and params were recorded by the run and stay as they are.
    """

    run_dir: Path
    name: str
    config: Mapping[str, Any]
    params: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    state: Mapping[str, Any] = field(default_factory=dict)
    resumed: bool = False
    start_step: int = 0
    records_only: bool = False


class Logger(ABC):
    """Writes the records of one run to one place (a file, a tracker)."""

    Config: ClassVar[type[LoggerConfig]]
    #: Whether ``log_image`` stores images (the engine draws previews only when one does).
    takes_images: ClassVar[bool] = False

    def __init__(self, config: LoggerConfig) -> None:
        self.config = config

    @abstractmethod
    def start(self, run: RunInfo) -> dict[str, Any]:
        """Open the destination and record ``run``'s config; return the state to keep in the
        run folder for a resumed start (e.g. ``{"run_id": ...}``), or ``{}``.

        Raise ``LoggerSetupError`` for anything the user must fix."""

    @abstractmethod
    def log_metrics(self, row: Mapping[str, Any]) -> None:
        """Write one metrics row; ``row["step"]`` is the optimizer step. Values are numbers,
        strings or lists of strings (a backend keeps the kinds it can)."""

    def log_image(self, key: str, image: Image.Image, step: int) -> None:  # noqa: B027
        """Store an RGB image under ``key`` at ``step``; loggers without images ignore it."""

    @abstractmethod
    def finish(self, status: str) -> None:
        """Flush and close; ``status`` is ``finished``, ``stopped`` or ``failed``."""


def numeric_items(row: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of a metrics row but its ``step`` (bools and NaN kept as floats): what a
    scalar tracker stores."""
    return {k: float(v) for k, v in row.items()
            if k != "step" and isinstance(v, (int, float))}

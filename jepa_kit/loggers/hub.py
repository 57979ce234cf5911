"""The run's loggers as one: ``metrics.jsonl`` always, plus the recipe's ``[[loggers]]``.

Rank 0 of a run opens them at set-up (``Loggers.open``); the trainer hands every record to
``write`` / ``image`` and closes them with the run's outcome. A logger that cannot start stops
the run there, with a ``LoggerSetupError`` naming its recipe key (``loggers[0].uri``); one that
raises later is reported once, as a ``LoggerWarning``, and switched off, and the run goes on
(``metrics.jsonl``, whose failure does stop the run, keeps every row).

Each logger's state (a tracker's run id) is kept in ``<run>/loggers.json`` under its kind, so a
resumed run continues the same tracker run; a recipe therefore lists each kind once.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from jepa_kit.atomic import atomic_write
from jepa_kit.errors import UserError
from jepa_kit.loggers.base import Logger, LoggerConfig, LoggerSetupError, RunInfo
from jepa_kit.loggers.jsonl import JsonlLogger
from jepa_kit.registry import registry

STATE_FILE = "loggers.json"


class LoggerWarning(UserWarning):
    """A logger failed mid-run and was switched off."""


class Loggers:
    """Fans each record out to the run's loggers; ``metrics.jsonl`` first."""

    def __init__(self, jsonl: Logger, extra: Sequence[tuple[str, Logger]] = ()) -> None:
        self._jsonl = jsonl
        self._extra = list(extra)  # (recipe key, logger), working ones only
        self._closed = False

    @classmethod
    def open(cls, configs: Sequence[LoggerConfig], run: RunInfo) -> Loggers:
        """Start every logger of ``configs`` and the ``jsonl`` one; ``LoggerSetupError``
        naming the recipe key when one cannot start (those started are closed again)."""
        saved = read_state(run.run_dir) if run.resumed else {}
        started: list[tuple[str, Logger]] = []
        state: dict[str, Any] = {}
        seen: dict[str, int] = {}
        try:
            for i, config in enumerate(configs):
                key = f"loggers[{i}]"
                if config.kind == "jsonl":
                    warnings.warn(f"{key}: the jsonl logger (metrics.jsonl) is always on; "
                                  f"this entry adds nothing", LoggerWarning, stacklevel=2)
                    continue
                if config.kind in seen:
                    raise LoggerSetupError(
                        f"{key}.kind: a second {config.kind!r} logger (the first is "
                        f"loggers[{seen[config.kind]}]); a run keeps one of each kind")
                seen[config.kind] = i
                logger = registry("logger").load(config.kind)(config)
                own = RunInfo(**{**vars(run), "state": saved.get(config.kind, {})})
                kept = _start(logger, own, key)
                if kept:
                    state[config.kind] = kept
                started.append((key, logger))
            jsonl = JsonlLogger()
            jsonl.start(run)  # last: a refused set-up leaves no metrics.jsonl behind
        except BaseException:
            for _, logger in started:
                _quietly(logger.finish, "failed")
            raise
        if state:
            write_state(run.run_dir, {**saved, **state})
        return cls(jsonl, started)

    @property
    def takes_images(self) -> bool:
        """Whether any logger keeps images (previews are drawn only then)."""
        return any(logger.takes_images for _, logger in self._extra)

    def write(self, row: Mapping[str, Any]) -> None:
        """One metrics row to every logger."""
        self._jsonl.log_metrics(row)
        self._each(lambda logger: logger.log_metrics(row), row.get("step"))

    def image(self, key: str, image: Image.Image, step: int) -> None:
        """One image to every logger that keeps images."""
        self._each(lambda logger: logger.log_image(key, image, step), step)

    def close(self, status: str = "finished") -> None:
        """Finish every logger (once); ``status``: finished, stopped or failed."""
        if self._closed:
            return
        self._closed = True
        try:
            self._jsonl.finish(status)
        finally:
            self._each(lambda logger: logger.finish(status), None)

    def _each(self, call: Any, step: Any) -> None:
        for entry in list(self._extra):
            key, logger = entry
            try:
                call(logger)
            except Exception as exc:
                self._extra.remove(entry)
                where = f" at step {step}" if step is not None else ""
                warnings.warn(f"{key} ({logger.config.kind}) failed{where}: "
                              f"{type(exc).__name__}: {exc}; it is off for the rest of this "
                              f"run (metrics.jsonl keeps every row)", LoggerWarning,
                              stacklevel=3)


def _start(logger: Logger, run: RunInfo, key: str) -> dict[str, Any]:
    try:
        found = logger.start(run)
    except LoggerSetupError as exc:
        where = f"{key}.{exc.option}" if exc.option else f"{key} ({logger.config.kind})"
        raise LoggerSetupError(f"{where}: {exc}", exc.option) from exc
    except Exception as exc:
        raise LoggerSetupError(f"{key} ({logger.config.kind}) could not start: "
                               f"{type(exc).__name__}: {exc}") from exc
    return dict(found or {})


def _quietly(call: Any, *args: Any) -> None:
    try:
        call(*args)
    except Exception as exc:
        warnings.warn(f"closing a logger failed: {type(exc).__name__}: {exc}", LoggerWarning,
                      stacklevel=3)


def read_state(run_dir: Path) -> dict[str, Any]:
    """``loggers.json`` of ``run_dir``: logger kind -> its saved state ({} when none)."""
    path = Path(run_dir) / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: unreadable logger state ({exc}); delete it to start new "
                        f"tracker runs") from exc
    return data if isinstance(data, dict) else {}


def write_state(run_dir: Path, state: Mapping[str, Any]) -> None:
    text = json.dumps(dict(state), indent=2, sort_keys=True)
    atomic_write(Path(run_dir) / STATE_FILE, lambda handle: handle.write(text))

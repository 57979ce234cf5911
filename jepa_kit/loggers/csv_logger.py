"""``csv``: the step metrics as ``<run>/metrics.csv``, for a spreadsheet or pandas.

One row per logged record; the columns are the keys seen so far, in first-seen order. A key
that first appears later (the periodic evaluation's ``knn_top1``) widens the table: the file is
rewritten once with the new header, earlier rows left blank in that column. Lists (collapse
warnings) are joined with ``; ``. A resumed run keeps the rows up to its checkpoint's step.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from jepa_kit.atomic import atomic_write
from jepa_kit.loggers.base import Logger, LoggerConfig, LoggerSetupError, RunInfo


class CSVLogger(Logger):
    """Writes every metrics row to one CSV file."""

    class Config(LoggerConfig):
        kind: Literal["csv"] = "csv"
        path: str = Field("metrics.csv", min_length=1, description="The CSV file, relative to "
                          "the run folder (or absolute).")

    config: Config

    def __init__(self, config: LoggerConfig) -> None:
        super().__init__(config)
        self._path: Path | None = None
        self._columns: list[str] = []
        self._rows: list[dict[str, str]] = []

    def start(self, run: RunInfo) -> dict[str, Any]:
        path = run.run_dir / self.config.path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            rows = _read(path) if path.exists() else []
            with path.open("a", encoding="utf-8"):
                pass  # probe: the run must not learn at the first row that it cannot write
        except OSError as exc:
            raise LoggerSetupError(f"cannot write {path}: {exc}", "path") from exc
        self._rows = [r for r in rows if _step(r) <= run.start_step]
        self._columns = list(dict.fromkeys(k for r in self._rows for k in r))
        self._path = path
        self._rewrite()
        return {}

    def log_metrics(self, row: Mapping[str, Any]) -> None:
        assert self._path is not None, "start() first"
        cells = {k: _cell(v) for k, v in row.items()}
        self._rows.append(cells)
        new = [k for k in cells if k not in self._columns]
        if new:
            self._columns += new
            self._rewrite()
            return
        with self._path.open("a", encoding="utf-8", newline="") as handle:
            csv.DictWriter(handle, self._columns).writerow(cells)

    def finish(self, status: str) -> None:
        self._path = None

    def _rewrite(self) -> None:
        assert self._path is not None
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, self._columns)
        if self._columns:
            writer.writeheader()
        writer.writerows(self._rows)
        atomic_write(self._path, lambda handle: handle.write(text.getvalue()))


def _cell(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def _step(row: Mapping[str, str]) -> int:
    try:
        return int(row.get("step") or 0)
    except ValueError:
        return 0


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [{k: v for k, v in row.items() if v not in (None, "")}
                for row in csv.DictReader(handle)]

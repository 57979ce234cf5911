"""``jsonl``: ``metrics.jsonl`` in the run folder, one JSON object per row. Always on.

The file every jepa-kit tool reads (``compare``, ``sweep``, the plots); its format is
``jepa_kit.rundir.metrics``'s. A resumed run first drops the rows written after the checkpoint
it continues, so the file reads as one uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from jepa_kit.loggers.base import Logger, LoggerConfig, RunInfo
from jepa_kit.rundir.metrics import MetricsLog

FILE_NAME = "metrics.jsonl"


class JsonlLogger(Logger):
    """Appends each row to ``<run>/metrics.jsonl``; images are not kept."""

    class Config(LoggerConfig):
        kind: Literal["jsonl"] = "jsonl"

    def __init__(self, config: LoggerConfig | None = None) -> None:
        super().__init__(config or self.Config())
        self._log: MetricsLog | None = None

    def start(self, run: RunInfo) -> dict[str, Any]:
        self._log = MetricsLog(run.run_dir / FILE_NAME, resume_step=run.start_step)
        return {}

    def log_metrics(self, row: Mapping[str, Any]) -> None:
        assert self._log is not None, "start() first"
        self._log.write(row)

    def finish(self, status: str) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

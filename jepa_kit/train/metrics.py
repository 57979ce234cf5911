"""Metrics: one JSON object per logged step in ``metrics.jsonl``, plus a human-facing display.

The display is a rich live progress bar on a terminal and plain periodic lines otherwise (CI,
SLURM logs). TensorBoard scalars are written too when the optional ``tensorboard`` extra is
installed.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn


class MetricsLog:
    """Append-only ``metrics.jsonl`` that a resumed run truncates back to its checkpoint."""

    def __init__(self, path: Path, *, resume_step: int | None = None) -> None:
        self.path = path
        if resume_step is not None and path.exists():
            kept = [line for line in path.read_text().splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= resume_step]
            path.write_text("".join(line + "\n" for line in kept))
        self._handle = path.open("a", encoding="utf-8")
        self._tb = _tensorboard_writer(path.parent)

    def write(self, row: dict[str, Any]) -> None:
        self._handle.write(json.dumps(row, allow_nan=True) + "\n")
        self._handle.flush()
        if self._tb is not None:
            for key, value in row.items():
                if isinstance(value, (int, float)) and key != "step":
                    self._tb.add_scalar(key, value, row["step"])

    def close(self) -> None:
        self._handle.close()
        if self._tb is not None:
            self._tb.close()


def _tensorboard_writer(directory: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except (ImportError, ModuleNotFoundError):
        return None
    return SummaryWriter(log_dir=str(directory / "tensorboard"))


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class ProgressDisplay:
    """Live progress on a terminal, periodic plain lines elsewhere."""

    def __init__(self, total_steps: int, start_step: int, *, enabled: bool = True,
                 console: Console | None = None) -> None:
        self.enabled = enabled
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.live = enabled and sys.stdout.isatty()
        self.total = total_steps
        self._start = time.perf_counter()
        self._progress: Progress | None = None
        if self.live:
            self._progress = Progress(
                TextColumn("[bold]step {task.completed}/{task.total}"), BarColumn(),
                TextColumn("{task.fields[info]}"), TimeRemainingColumn(), console=self.console,
            )
            self._task = self._progress.add_task("train", total=total_steps, completed=start_step,
                                                 info="")
            self._progress.start()

    def update(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        info = (f"loss {row['loss']:.4f}  lr {row['lr']:.2e}  {row['images_per_s']:.1f} img/s")
        if self._progress is not None:
            self._progress.update(self._task, completed=row["step"], info=info)
        else:
            self.console.print(f"step {row['step']}/{self.total}  epoch {row['epoch']}  {info}")

    def message(self, text: str) -> None:
        if self.enabled:
            self.console.print(text)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


def fmt_float(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.4f}"

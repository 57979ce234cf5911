"""The human-facing training display: a rich live progress bar on a terminal, plain periodic
lines otherwise (CI, SLURM logs)."""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn


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

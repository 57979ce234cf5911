"""How a run ends: its result, and the ways it stops itself on a bad state (each with the status a
sweep records for it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class CollapseWarning(UserWarning):
    """A collapse monitor crossed its threshold."""


class RunStopped(RuntimeError):
    """The run stopped itself on a bad state; its last good checkpoint was kept.

    ``status`` is what a sweep records for it."""

    status = "failed"


class NonFiniteLossError(RunStopped):
    """The loss became NaN or infinite; the last good checkpoint was left untouched."""


class CollapseStopped(RunStopped):
    """The collapse monitors reported collapse for ``train.stop_on_collapse`` log steps."""

    status = "collapsed"


@dataclass
class RunResult:
    output_dir: Path
    step: int
    losses: list[float] = field(default_factory=list)
    checkpoint: Path | None = None

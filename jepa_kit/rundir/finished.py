"""``finished.json``: the record a run writes when its loop ends normally.

A final checkpoint alone does not say a run is done: a longer ``train.max_steps`` given on
resume makes an old "last" checkpoint an intermediate one, and a run whose data ran short of
``total_steps`` (skipped bad steps) ends without one. The trainer removes the record when a run
(re)starts and writes it, atomically, when the loop ends, so its presence means "the run in this
directory, with the ``recipe.toml`` beside it, reached its end". Sweeps skip such runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jepa_kit.atomic import atomic_write

FINISHED = "finished.json"


def clear_finished(run_dir: Path) -> dict[str, Any] | None:
    """Remove ``run_dir/finished.json``; returns the record it held (None: there was none)."""
    previous = read_finished(run_dir)
    (run_dir / FINISHED).unlink(missing_ok=True)
    return previous


def write_finished(run_dir: Path, record: dict[str, Any], *,
                   previous: dict[str, Any] | None = None) -> Path:
    """Write ``record`` to ``run_dir/finished.json`` via a temporary file and a rename.

    ``previous`` is the record the run held when it (re)started (``clear_finished``'s). A
    resume that trained no step (``record["step"]`` is its ``resumed_from_step``, the step
    the previous record ended at) writes ``previous`` back unchanged: its wall time and
    resume point describe the training that happened, a no-op restart's 0 s would not."""
    step = record.get("step")
    if (previous is not None and step == record.get("resumed_from_step")
            and previous.get("step") == step):
        record = previous
    text = json.dumps(record, indent=2) + "\n"
    return atomic_write(run_dir / FINISHED, lambda handle: handle.write(text))


def read_finished(run_dir: Path) -> dict[str, Any] | None:
    """The finished record of ``run_dir``, or None when the run has not ended (or never ran)."""
    try:
        data = json.loads((run_dir / FINISHED).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None

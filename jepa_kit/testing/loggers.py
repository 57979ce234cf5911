"""Conformance of loggers: a logger starts in a fresh run folder, takes metric rows (numbers,
strings, lists, NaN) and images without raising, returns JSON-serialisable state, finishes,
starts again as a resumed run from that state, and once more to add records only."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image

from jepa_kit.testing.base import ConfigLike, check_config, expect, label

#: The rows a check writes: a train step, one with a warning list and a NaN, an eval row.
ROWS: tuple[dict[str, Any], ...] = (
    {"step": 1, "epoch": 0, "loss": 0.5, "lr": 1e-3},
    {"step": 2, "epoch": 0, "loss": math.nan, "lr": 1e-3, "collapse_warnings": ["step 2: x"]},
    {"step": 2, "epoch": 0, "knn_top1": 0.25, "knn_top1_baseline": 0.1, "note": "eval"},
)


def check_logger(cls: type, config: ConfigLike = None, *, name: str | None = None,
                 run_dir: Path | None = None) -> None:
    """Start ``cls(config)`` on a run in ``run_dir`` (a temporary folder by default), write
    ``ROWS`` and an image, finish, then resume it from the state it returned."""
    from jepa_kit.loggers.base import Logger, RunInfo

    cfg = check_config(cls, "logger", config, name)
    who = f"logger {label(cls)}"
    expect(isinstance(getattr(cls, "takes_images", None), bool),
           f"{who}: takes_images must be a bool")
    with tempfile.TemporaryDirectory(prefix="jepa-kit-logger-") as tmp:
        folder = Path(run_dir) if run_dir is not None else Path(tmp) / "run"
        folder.mkdir(parents=True, exist_ok=True)
        run = RunInfo(run_dir=folder, name="conformance", config={"run": {"seed": 0}},
                      params={"jepa_kit_version": "0", "git_commit": "none"},
                      tags={"variant": "base", "seed": "0"})
        logger: Logger = cls(cfg)
        state = logger.start(run)
        expect(isinstance(state, dict), f"{who}: start() must return a dict (the state kept "
               f"for a resumed run), got {type(state).__name__}")
        try:
            json.dumps(state)
        except (TypeError, ValueError) as exc:
            raise AssertionError(f"{who}: the state start() returned is not "
                                 f"JSON-serialisable ({exc})") from None
        for row in ROWS:
            logger.log_metrics(row)
        logger.log_image("check/image", Image.new("RGB", (16, 8), (40, 120, 255)), 2)
        logger.finish("stopped")
        again: Logger = cls(cfg)
        resumed = RunInfo(**{**vars(run), "state": state, "resumed": True, "start_step": 2})
        state2 = again.start(resumed)
        expect(isinstance(state2, dict), f"{who}: a resumed start() must return a dict")
        again.log_metrics({"step": 3, "epoch": 0, "loss": 0.25})
        again.finish("finished")
        later: Logger = cls(cfg)  # `jepa-kit eval` adding a row to the finished run
        later.start(RunInfo(**{**vars(resumed), "start_step": 3, "records_only": True}))
        later.log_metrics({"step": 3, "eval_knn_top1": 0.5})
        later.finish("finished")
        if state.get("run_id") is not None:
            expect(state2.get("run_id") == state["run_id"],
                   f"{who}: a resumed run must continue the tracker run it saved "
                   f"(run_id {state['run_id']!r}), got {state2.get('run_id')!r}")

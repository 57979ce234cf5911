"""``metrics.jsonl``: one JSON object per logged step (and per periodic evaluation).

TensorBoard scalars are written too when the optional ``tensorboard`` extra is installed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


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



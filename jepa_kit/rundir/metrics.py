"""``metrics.jsonl``: one JSON object per logged step (and per periodic evaluation).

The ``jsonl`` logger (``jepa_kit.loggers.jsonl``) writes it through ``MetricsLog``, in every
run; the other loggers (TensorBoard, CSV, trackers) are listed in the recipe.

A run killed while appending leaves a torn last line: readers drop it with a warning naming
the file and line, and a resumed run rewrites the file without it (atomically, so a kill during
the rewrite loses nothing). A malformed line anywhere else is corruption, a ``MetricsError``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jepa_kit.atomic import atomic_write
from jepa_kit.errors import UserError


class MetricsError(UserError):
    """A ``metrics.jsonl`` line other than the last is not a JSON object."""


class MetricsLog:
    """Append-only ``metrics.jsonl`` that a resumed run truncates back to its checkpoint."""

    def __init__(self, path: Path, *, resume_step: int | None = None) -> None:
        self.path = path
        if path.exists():
            lines, tidy = _read_lines(path)
            kept = [line for line, row in lines
                    if resume_step is None or row.get("step", 0) <= resume_step]
            if not tidy or len(kept) < len(lines):
                text = "".join(line + "\n" for line in kept)
                atomic_write(path, lambda handle: handle.write(text))
        self._handle = path.open("a", encoding="utf-8")

    def write(self, row: Mapping[str, Any]) -> None:
        self._handle.write(json.dumps(dict(row), allow_nan=True) + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def _read_lines(path: Path) -> tuple[list[tuple[str, dict[str, Any]]], bool]:
    """(line text, row) for each row of ``path``, and whether rows can be appended to it as it
    is (False after a torn last line, or a last row without its newline)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    numbered = [(n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip()]
    rows: list[tuple[str, dict[str, Any]]] = []
    for i, (n, line) in enumerate(numbered):
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError(f"a JSON {type(row).__name__}, not an object")
        except ValueError as exc:
            shown = line if len(line) <= 60 else line[:57] + "..."
            if i == len(numbered) - 1:
                warnings.warn(f"{path}:{n}: dropping a torn last line, left by a run stopped "
                              f"while writing it: {shown!r}", stacklevel=3)
                return rows, False
            raise MetricsError(f"{path}:{n}: not a metrics row ({exc}): {shown!r}; the file "
                               f"is corrupt above its last line") from exc
        rows.append((line.rstrip("\r"), row))
    return rows, text.endswith("\n") or not numbered


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``metrics.jsonl``, oldest first; a torn last line is dropped with a
    warning, and ``MetricsError`` names any other malformed line."""
    path = Path(path)
    if not path.exists():
        return []
    return [row for _, row in _read_lines(path)[0]]

"""Checkpoints: atomic writes, validated reads, newest-valid discovery, retention.

A jepa-kit checkpoint is a plain dict that ``torch.load(path, weights_only=True)`` reads:

``format`` ("jepa-kit-checkpoint"), ``format_version`` (2), ``step`` (optimizer steps done),
``epoch``, ``step_in_epoch``, ``method`` (its recipe kind), ``networks`` (the method's network
names) and one state dict per network under its name (I-JEPA: ``encoder``,
``target_encoder``, ``predictor``), ``optimizer`` (state dict or None), ``rng`` (torch /
numpy / python states), ``recipe`` (the resolved recipe as JSON-compatible data),
``versions`` (distribution -> version), ``metrics`` (last logged values). Imported reference
checkpoints carry no optimizer or RNG state.

Version 1 (before methods were plug-ins) had no ``method`` or ``networks`` keys and always
held I-JEPA's three networks; it loads as such.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import torch

from jepa_kit.atomic import atomic_write
from jepa_kit.errors import UserError

FORMAT = "jepa-kit-checkpoint"
FORMAT_VERSION = 2
_NAME = re.compile(r"^step_(\d{8})\.pt$")
REQUIRED_KEYS = ("format", "format_version", "step", "recipe")
#: The networks of a version-1 checkpoint (I-JEPA's, the only method then).
V1_NETWORKS = ("encoder", "target_encoder", "predictor")


class CheckpointError(UserError):
    """A checkpoint file is missing, truncated, corrupt or not a jepa-kit checkpoint."""


def checkpoint_name(step: int) -> str:
    return f"step_{step:08d}.pt"


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically: temporary file, fsync, rename.

    A crash at any point leaves either the previous file or the new complete one, never a
    partial file under the final name.
    """
    path = Path(path)
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    return atomic_write(path, lambda handle: torch.save(payload, handle), binary=True)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and check a jepa-kit checkpoint; ``CheckpointError`` names the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        detail = f"{type(exc).__name__}: {exc}"
        raise CheckpointError(f"{path}: unreadable checkpoint ({detail})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not a jepa-kit checkpoint (for an official I-JEPA checkpoint use "
            f"`jepa-kit import-reference {path} --out DIR`)"
        )
    if not isinstance(data.get("format_version"), int) or data["format_version"] > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format {data['format_version']} is newer than this jepa-kit "
            f"understands ({FORMAT_VERSION}); upgrade jepa-kit"
        )
    if data.get("format_version") == 1:
        data.setdefault("method", "ijepa")
        data.setdefault("networks", list(V1_NETWORKS))
    missing = [k for k in (*REQUIRED_KEYS, *data.get("networks", ())) if k not in data]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return data


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Checkpoint files in ``directory``, oldest step first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if _NAME.match(p.name)]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))  # type: ignore[union-attr]


def latest_valid_checkpoint(directory: str | Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint in ``directory`` that loads; older ones are tried with a warning."""
    for path in reversed(list_checkpoints(directory)):
        try:
            return path, load_checkpoint(path)
        except CheckpointError as exc:
            warnings.warn(f"skipping {exc}; trying the previous checkpoint", stacklevel=2)
    return None


def prune_checkpoints(directory: str | Path, keep_last: int) -> list[Path]:
    """Delete all but the ``keep_last`` newest checkpoints; returns what was deleted."""
    files = list_checkpoints(directory)
    doomed = files[:-keep_last] if keep_last > 0 else []
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed

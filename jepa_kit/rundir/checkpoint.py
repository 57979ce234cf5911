"""Deprecated: checkpoints moved to ``jepa_kit.checkpoint``; goes in the release after 0.1.

The functions keep their old behaviour: the ones that returned a checkpoint's dict still do
(the payload of the record ``jepa_kit.checkpoint`` now returns, migrated to the current format).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from jepa_kit.checkpoint import discovery, files, sharded
from jepa_kit.checkpoint.digest import digest_path
from jepa_kit.checkpoint.discovery import (
    checkpoint_name,
    checkpoint_step,
    list_checkpoints,
    prune_checkpoints,
)
from jepa_kit.checkpoint.failures import CheckpointError, CheckpointVersionError
from jepa_kit.checkpoint.files import load_checkpoint, save_checkpoint
from jepa_kit.checkpoint.migrate import V1_NETWORKS
from jepa_kit.checkpoint.record import FORMAT, FORMAT_VERSION

warnings.warn(f"{__name__} moved to jepa_kit.checkpoint; the old path goes in the release "
              "after 0.1", DeprecationWarning, stacklevel=2)

REQUIRED_KEYS = ("format", "format_version", "step", "recipe")

__all__ = [
    "FORMAT", "FORMAT_VERSION", "REQUIRED_KEYS", "V1_NETWORKS", "CheckpointError",
    "CheckpointVersionError", "checkpoint_name", "checkpoint_step", "digest_path",
    "latest_valid_checkpoint", "list_checkpoints", "load_checkpoint", "prune_checkpoints",
    "read_resume_state", "resume_checkpoint", "save_checkpoint", "sharded",
]


def read_resume_state(path: str | Path) -> dict[str, Any]:
    """``jepa_kit.checkpoint.read_record(path)``, as a dict."""
    return files.read_record(path).to_payload()


def latest_valid_checkpoint(directory: str | Path) -> tuple[Path, dict[str, Any]] | None:
    """``jepa_kit.checkpoint.latest_valid_checkpoint``, the record as a dict."""
    found = discovery.latest_valid_checkpoint(directory)
    return None if found is None else (found[0], found[1].to_payload())


def resume_checkpoint(directory: str | Path) -> tuple[Path, dict[str, Any]] | None:
    """``jepa_kit.checkpoint.resume_checkpoint``, the record as a dict."""
    found = discovery.resume_checkpoint(directory)
    return None if found is None else (found[0], found[1].to_payload())

"""Atomic file writes: a reader sees the old file or the new one, never a torn one.

Checkpoints, ``finished.json`` and sweep manifests are written to a temporary file in the same
folder, flushed to disk, then renamed over the target; a crash at any point leaves the previous
file intact and at worst a stray ``.NAME.*.tmp`` beside it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def atomic_write(path: Path, write: Callable[[IO[Any]], object], *, binary: bool = False) -> Path:
    """Call ``write(handle)`` on a temporary file, fsync it, rename it to ``path``, and fsync
    the folder so that the rename itself survives a power loss."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})
                       ) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path

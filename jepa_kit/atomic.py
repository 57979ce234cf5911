"""Atomic file writes: a reader sees the old file or the new one, never a torn one.

Checkpoints, ``finished.json``, ``metrics.jsonl`` rewrites and sweep manifests are written to a
temporary file in the same folder, flushed to disk, then renamed over the target; a crash at any
point leaves the previous file intact and at worst a stray ``.NAME.XXXXXXXX.tmp`` beside it,
which ``remove_stale_temp_files`` clears when the next run starts.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

#: When this process imported jepa-kit: a temporary file last written before then belongs to
#: a save that some earlier process never finished.
_STARTED = time.time()
#: ``tempfile.mkstemp(prefix=".NAME.", suffix=".tmp")``: 8 characters from
#: ``tempfile._RandomNameSequence`` between the two.
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


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


def remove_stale_temp_files(directory: str | Path, *, older_than: float | None = None
                            ) -> list[Path]:
    """Delete the temporary files that saves killed mid-write left in ``directory``.

    Only regular files named as ``atomic_write`` names them (``.NAME.XXXXXXXX.tmp``) and last
    modified before ``older_than`` (a ``time.time()`` value; default: when this process
    imported jepa-kit) go, so a save in progress in this process is never touched. Another live
    process writing into the same folder is what the run-folder lock rules out. Returns the
    deleted paths, sorted; a missing folder holds nothing.
    """
    directory = Path(directory)
    cutoff = _STARTED if older_than is None else older_than
    if not directory.is_dir():
        return []
    removed = []
    for path in directory.iterdir():
        if not _TEMP_NAME.match(path.name) or path.is_symlink() or not path.is_file():
            continue
        try:
            if path.stat().st_mtime >= cutoff:
                continue
            path.unlink()
        except FileNotFoundError:  # renamed or removed meanwhile: not ours to report
            continue
        removed.append(path)
    return sorted(removed)

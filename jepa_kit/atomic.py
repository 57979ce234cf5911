"""Atomic file writes: a reader sees the old file or the new one, never a torn one.

Checkpoints, ``finished.json``, ``metrics.jsonl`` rewrites and sweep manifests are written to a
temporary file in the same folder, flushed to disk, then renamed over the target; a crash at any
point leaves the previous file intact and at worst a stray ``.NAME.XXXXXXXX.tmp`` beside it,
which ``remove_stale_temp_files`` clears when the next run starts.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

#: When this process imported jepa-kit: a temporary file last written before then belongs to
#: a save that some earlier process never finished.
_STARTED = time.time()
#: ``.NAME.XXXXXXXX.tmp``: 8 characters of ``_LETTERS`` between the name and the suffix (the
#: names ``tempfile.mkstemp`` gave before, so an older version's leftovers are cleared too).
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
_LETTERS = "abcdefghijklmnopqrstuvwxyz0123456789_"


def atomic_write(path: Path, write: Callable[[IO[Any]], object], *, binary: bool = False) -> Path:
    """Call ``write(handle)`` on a temporary file, fsync it, rename it to ``path``, and fsync
    the folder so that the rename itself survives a power loss."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
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


def _create_temp(path: Path) -> tuple[int, str]:
    """A new, empty ``.NAME.XXXXXXXX.tmp`` beside ``path``, opened for writing.

    ``tempfile.mkstemp`` creates its files with mode 0600 whatever the umask, so checkpoints
    and records came out unreadable to the group a plain ``open()`` would have shared them
    with; ``os.open(..., 0o666)`` lets the kernel apply the umask, as ``open()`` does (and
    never touches the umask, which other threads, e.g. a background checkpoint save, may read).
    The name is drawn from ``secrets``, not ``random``: the run's seeded streams stay untouched.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) \
        | getattr(os, "O_BINARY", 0)
    while True:
        name = "".join(secrets.choice(_LETTERS) for _ in range(8))
        tmp = str(path.parent / f".{path.name}.{name}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # another save drew the same name: draw again
            continue


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

"""The run directory itself: what may be written into, by whom, and whether it can be.

A run writes only into a folder that is empty, missing, or already a jepa-kit run (then only
with ``--resume``): a user's own files are never overwritten. One process at a time holds a
run: an exclusive ``flock`` on ``.jepa-kit.lock`` for the run's lifetime, released by the
kernel even when the process is killed, so a stale lock never blocks a resume. Writability is
probed at set-up, before any training, so a read-only folder fails in a second, not at the
first checkpoint.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from types import TracebackType

from jepa_kit.checkpoint.discovery import list_checkpoints
from jepa_kit.errors import UserError

LOCK_NAME = ".jepa-kit.lock"
#: Files whose presence makes a folder a jepa-kit run.
RUN_MARKERS = ("metrics.jsonl", "run.json", "recipe.toml")
#: What the built-in loggers write into a run folder (a refused set-up may leave them).
LOGGER_FILES = ("loggers.json", "wandb", "tensorboard", "metrics.csv")


def holds_run(directory: Path) -> bool:
    """Whether ``directory`` holds a jepa-kit run (logs or checkpoints)."""
    return (directory / "metrics.jsonl").exists() or bool(
        list_checkpoints(directory / "checkpoints"))


def _is_run_file(path: Path) -> bool:
    return path.name in (*RUN_MARKERS, LOCK_NAME, "checkpoints", "finished.json",
                         *LOGGER_FILES) or \
        path.name.startswith("eval_") or path.name == "skipped_files.txt"


def prepare_output_dir(directory: Path, *, resume: bool, allow_nonempty: bool = False) -> None:
    """Create ``directory`` for a run, refusing to overwrite anything that is not ours.

    A folder holding a run needs ``--resume``; a non-empty folder holding something else is
    refused unless ``allow_nonempty`` (``--allow-nonempty``), and even then a file a run writes
    (``recipe.toml``, ``run.json``, ``metrics.jsonl``) must not be there already.
    """
    if directory.exists() and not directory.is_dir():
        raise UserError(f"--output-dir {directory} is a file, not a folder")
    if holds_run(directory):
        if not resume:
            raise UserError(
                f"{directory} already holds a run; pass --resume to continue it, or choose "
                f"another --output-dir (nothing was overwritten)"
            )
    elif directory.is_dir():
        foreign = sorted(p.name for p in directory.iterdir() if not _is_run_file(p))
        ours = sorted(p.name for p in directory.iterdir() if p.name in RUN_MARKERS)
        if ours:
            raise UserError(
                f"{directory} holds {', '.join(ours)} but no jepa-kit run (no metrics or "
                f"checkpoints); a run would overwrite them: choose another --output-dir "
                f"(nothing was overwritten)"
            )
        if foreign and not allow_nonempty:
            shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise UserError(
                f"{directory} is not empty and is not a jepa-kit run ({shown}); choose an empty "
                f"or new --output-dir, or pass --allow-nonempty to write beside those files "
                f"(nothing was overwritten)"
            )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--output-dir {directory}: cannot create it ({exc.strerror})") from None
    check_writable(directory)


def check_writable(directory: Path) -> None:
    """Write and remove a probe file in ``directory`` and in its ``checkpoints`` folder."""
    for folder in (directory, directory / "checkpoints"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".write-probe-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise UserError(f"{folder} is not writable ({exc.strerror}); a run writes its "
                            f"logs and checkpoints there: fix the permissions or choose "
                            f"another --output-dir") from None


class RunLock:
    """Exclusive lock on a run directory for as long as the run lives (``with RunLock(d):``)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise UserError(
                f"{self.path.parent} is in use by another jepa-kit run (pid {holder}); wait for "
                f"it to finish, or choose another --output-dir (nothing was changed)"
            ) from None
        except OSError as exc:  # a file system without flock (some Lustre and NFS mounts)
            os.close(fd)
            warnings.warn(f"{self.path.parent}: cannot lock the run folder ({exc.strerror}); "
                          f"a second run into it would not be refused", stacklevel=2)
            return self
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

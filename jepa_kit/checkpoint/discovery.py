"""Finding checkpoints in a run's ``checkpoints`` folder: listing, resuming, pruning.

Checkpoints are named ``step_XXXXXXXX.pt`` (files) and ``step_XXXXXXXX.dcp`` (sharded folders);
listing, resuming and pruning treat both alike. A resume never skips a checkpoint of a newer
format (training on would overwrite it) and never starts afresh when checkpoints exist but none
loads.
"""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

from jepa_kit.checkpoint import sharded
from jepa_kit.checkpoint.digest import digest_path
from jepa_kit.checkpoint.failures import CheckpointError, CheckpointVersionError
from jepa_kit.checkpoint.files import read_checkpoint, read_record
from jepa_kit.checkpoint.record import CheckpointRecord

_NAME = re.compile(r"^step_(\d{8,})\.(pt|dcp)$")


def checkpoint_name(step: int) -> str:
    return f"step_{step:08d}.pt"


def checkpoint_step(path: str | Path) -> int | None:
    """The step in a checkpoint's name, or None for a name that is not ``step_N.pt|.dcp``."""
    match = _NAME.match(Path(path).name)
    return int(match.group(1)) if match else None


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Checkpoints in ``directory`` (``step_N.pt`` files and ``step_N.dcp`` folders), oldest
    step first; of a file and a folder of the same step, the folder comes last."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if _NAME.match(p.name)]
    return sorted(found, key=lambda p: (checkpoint_step(p) or 0, sharded.is_sharded(p)))


def latest_valid_checkpoint(directory: str | Path) -> tuple[Path, CheckpointRecord] | None:
    """The newest checkpoint in ``directory`` that loads; older ones are tried with a warning.

    Lenient: None when nothing loads, and a newer format is skipped like a broken file. To
    continue a run use ``resume_checkpoint``, which refuses both.
    """
    for path in reversed(list_checkpoints(directory)):
        try:
            return path, read_checkpoint(path)
        except CheckpointError as exc:
            warnings.warn(f"skipping {exc}; trying the previous checkpoint", stacklevel=2)
    return None


def resume_checkpoint(directory: str | Path) -> tuple[Path, CheckpointRecord] | None:
    """The checkpoint a resumed run continues from: the newest one in ``directory`` that loads.

    Returns the record ``read_record`` gives (of a sharded folder, its weights unread).
    None when the folder holds no ``step_*.pt`` at all (a fresh start is right). Each newer file
    that does not load is skipped with a warning naming it and why. Raises ``CheckpointError``
    when checkpoint files exist but none loads (every file and its problem listed; the caller
    must not have changed anything yet), and ``CheckpointVersionError`` as soon as a file of a
    newer format is met: it is never skipped, since training on would overwrite it.
    """
    files = list_checkpoints(directory)
    skipped: list[CheckpointError] = []
    for path in reversed(files):
        try:
            state = read_record(path)
        except CheckpointVersionError:
            raise
        except CheckpointError as exc:
            skipped.append(exc)
            continue
        for exc in skipped:
            warnings.warn(f"skipping {exc}; resuming from an older checkpoint", stacklevel=2)
        return path, state
    if not files:
        return None
    problems = "\n".join(f"  - {exc}" for exc in skipped)
    raise CheckpointError(
        f"cannot resume from {directory}: none of its {len(files)} checkpoint file(s) loads; "
        f"nothing was changed:\n{problems}\nRestore a good copy, or move the files away to "
        f"start from scratch.")


def prune_checkpoints(directory: str | Path, keep_last: int, *,
                      current_step: int | None = None) -> list[Path]:
    """Delete old checkpoints (and their hash records); returns the deleted checkpoints.

    Of the checkpoints at steps up to ``current_step`` (all of them when None), all but the
    ``keep_last`` newest go (``train.keep_last`` is at least 1; here ``keep_last <= 0`` keeps
    everything, for callers that prune by hand). Files above ``current_step``
    (left by an earlier, longer run, or unreadable ones a resume skipped) are never touched,
    so a resume that went back in time cannot delete its own new checkpoints in their favour.
    """
    files = list_checkpoints(directory)
    if current_step is not None:
        files = [p for p in files if (checkpoint_step(p) or 0) <= current_step]
    doomed = files[:-keep_last] if keep_last > 0 else []
    for path in doomed:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            continue
        path.unlink(missing_ok=True)  # the checkpoint first: never one left without its record
        digest_path(path).unlink(missing_ok=True)
    return doomed

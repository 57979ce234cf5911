"""Checkpoints: atomic writes, content hashes, validated reads, resume discovery, retention.

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

Integrity: beside ``step_XXXXXXXX.pt`` lies ``step_XXXXXXXX.pt.sha256``, the SHA-256 of the
file's bytes in ``sha256sum`` format (``cd checkpoints && sha256sum -c *.sha256`` checks them
by hand). The hash is taken from the bytes as ``torch.save`` streams them, and the record is
written, atomically, *before* the checkpoint is renamed into place: a crash in between leaves a
record that no file matches (that checkpoint is skipped), never a new checkpoint without one.
Loading hashes the file in one streaming pass, then unpickles it once. A sidecar rather than a
footer inside the file keeps the ``.pt`` a standard PyTorch zip archive that any tool reads;
the cost is that a ``.pt`` copied alone loads unverified, exactly as checkpoints written before
hashes existed do (silently: that is the normal case for them, not a fault).

``torch.load`` runs with ``weights_only=True``: jepa-kit never unpickles code, and a file that
asks for it is refused as not a plain jepa-kit checkpoint.

Sharded checkpoints (``step_XXXXXXXX.dcp`` folders, ``jepa_kit.rundir.sharded``) sit beside
the files: listing, loading, resuming and pruning treat both alike, and ``load_checkpoint``
returns the same dict for either.
"""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path
from typing import IO, Any

import torch

from jepa_kit.atomic import atomic_write
from jepa_kit.errors import UserError
from jepa_kit.rundir import sharded
from jepa_kit.rundir.digest import HashingWriter, digest_path, digest_problem, write_digest
from jepa_kit.rundir.failures import explain, refused_pickle

FORMAT = "jepa-kit-checkpoint"
FORMAT_VERSION = 2
_NAME = re.compile(r"^step_(\d{8,})\.(pt|dcp)$")
REQUIRED_KEYS = ("format", "format_version", "step", "recipe")
#: The networks of a version-1 checkpoint (I-JEPA's, the only method then).
V1_NETWORKS = ("encoder", "target_encoder", "predictor")


class CheckpointError(UserError):
    """A checkpoint file is missing, truncated, corrupt or not a jepa-kit checkpoint."""


class CheckpointVersionError(CheckpointError):
    """A checkpoint written by a newer jepa-kit: never skipped, the fix is an upgrade."""


def checkpoint_name(step: int) -> str:
    return f"step_{step:08d}.pt"


def checkpoint_step(path: str | Path) -> int | None:
    """The step in a checkpoint's name, or None for a name that is not ``step_N.pt|.dcp``."""
    match = _NAME.match(Path(path).name)
    return int(match.group(1)) if match else None


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` to ``path`` atomically (temporary file, fsync, rename), its content
    hash to ``digest_path(path)`` first.

    A crash at any point leaves either the previous file or the new complete one, never a
    partial file under the final name. A failed write (a full disk) raises ``CheckpointError``
    naming the file and the cause; nothing under a final name was changed.
    """
    path = Path(path)
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    stream: HashingWriter | None = None

    def write(handle: IO[bytes]) -> None:
        nonlocal stream
        stream = HashingWriter(handle)
        torch.save(payload, stream)
        write_digest(path, stream.sha.hexdigest())

    try:
        return atomic_write(path, write, binary=True)
    except Exception as exc:
        cause = stream.error if stream is not None and stream.error is not None else exc
        raise CheckpointError(f"{path}: the checkpoint could not be written ({explain(cause)}); "
                              f"the previous checkpoints are intact") from exc


def _verify_digest(path: Path) -> None:
    problem = digest_problem(path)
    if problem is not None:
        raise CheckpointError(f"{path}: unreadable checkpoint ({problem})")


def _load_problem(exc: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` failed, for a checkpoint's error message."""
    what = refused_pickle(exc)
    if what is not None:
        return (f"refused: the file {what}; jepa-kit never unpickles code, and this is not a "
                f"plain jepa-kit checkpoint")
    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"unreadable checkpoint ({type(exc).__name__}: {first})"


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read, verify and check a jepa-kit checkpoint; ``CheckpointError`` names the file and
    the problem (``CheckpointVersionError`` for a newer format)."""
    path = Path(path)
    if sharded.is_sharded(path) and path.is_dir():
        try:
            data = sharded.load_sharded(path)
        except sharded.ShardedCheckpointError as exc:
            raise CheckpointError(str(exc)) from None
        return _checked(path, data)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    _verify_digest(path)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: {_load_problem(exc)}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not a jepa-kit checkpoint (for an official I-JEPA checkpoint use "
            f"`jepa-kit import-reference {path} --out DIR`)"
        )
    return _checked(path, data)


def _checked(path: Path, data: dict[str, Any], *, tensors: bool = True) -> dict[str, Any]:
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{path}: checkpoint format version {version!r} is not one that "
                              f"jepa-kit writes (1 to {FORMAT_VERSION})")
    if version > FORMAT_VERSION:
        raise CheckpointVersionError(
            f"{path}: checkpoint format {version} is newer than this jepa-kit understands "
            f"({FORMAT_VERSION}); upgrade jepa-kit"
        )
    if version == 1:
        data.setdefault("method", "ijepa")
        data.setdefault("networks", list(V1_NETWORKS))
    wanted = (*REQUIRED_KEYS, *(data.get("networks", ()) if tensors else ()))
    missing = [k for k in wanted if k not in data]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return data


def read_resume_state(path: str | Path) -> dict[str, Any]:
    """What a resume reads first: a file checkpoint whole; of a sharded one its record, after
    checking every shard the index names against its hash (every process then reads its own
    share of the tensors, ``jepa_kit.train.checkpointer``)."""
    path = Path(path)
    if not sharded.is_sharded(path):
        return load_checkpoint(path)
    try:
        meta = sharded.read_meta(path)
        sharded.verify_sharded(path, meta)
        return _checked(path, meta, tensors=False)
    except sharded.ShardedCheckpointError as exc:
        raise CheckpointError(str(exc)) from None


def list_checkpoints(directory: str | Path) -> list[Path]:
    """Checkpoints in ``directory`` (``step_N.pt`` files and ``step_N.dcp`` folders), oldest
    step first; of a file and a folder of the same step, the folder comes last."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if _NAME.match(p.name)]
    return sorted(found, key=lambda p: (checkpoint_step(p) or 0, sharded.is_sharded(p)))


def latest_valid_checkpoint(directory: str | Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint in ``directory`` that loads; older ones are tried with a warning.

    Lenient: None when nothing loads, and a newer format is skipped like a broken file. To
    continue a run use ``resume_checkpoint``, which refuses both.
    """
    for path in reversed(list_checkpoints(directory)):
        try:
            return path, load_checkpoint(path)
        except CheckpointError as exc:
            warnings.warn(f"skipping {exc}; trying the previous checkpoint", stacklevel=2)
    return None


def resume_checkpoint(directory: str | Path) -> tuple[Path, dict[str, Any]] | None:
    """The checkpoint a resumed run continues from: the newest one in ``directory`` that loads.

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
            state = read_resume_state(path)
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

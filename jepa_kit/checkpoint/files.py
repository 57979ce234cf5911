"""Checkpoint files: atomic writes with content hashes, verified reads into a record.

A ``.pt`` checkpoint is the payload of a ``CheckpointRecord`` (``jepa_kit.checkpoint.record``)
saved by ``torch.save``; ``write_checkpoint`` and ``read_checkpoint`` are the way in and out,
and ``read_checkpoint`` migrates any earlier format version (``jepa_kit.checkpoint.migrate``).

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

Sharded checkpoints (``step_XXXXXXXX.dcp`` folders, ``jepa_kit.checkpoint.sharded``) read into
the same record.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import IO, Any

import torch

from jepa_kit.atomic import atomic_write
from jepa_kit.checkpoint import sharded
from jepa_kit.checkpoint.digest import HashingWriter, digest_problem, write_digest
from jepa_kit.checkpoint.failures import CheckpointError, explain, refused_pickle
from jepa_kit.checkpoint.record import FORMAT, FORMAT_VERSION, CheckpointRecord


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


def write_checkpoint(path: str | Path, record: CheckpointRecord) -> Path:
    """Write ``record`` to the ``.pt`` file ``path`` (see ``save_checkpoint``)."""
    return save_checkpoint(path, record.to_payload())


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu"
                    ) -> CheckpointRecord:
    """Read, verify and migrate a jepa-kit checkpoint (a ``.pt`` file or a ``.dcp`` folder,
    whole); ``CheckpointError`` names the file and the problem (``CheckpointVersionError`` for
    a newer format)."""
    path = Path(path)
    if sharded.is_sharded(path) and path.is_dir():
        try:
            data = sharded.load_sharded(path)
        except sharded.ShardedCheckpointError as exc:
            raise CheckpointError(str(exc)) from None
        return CheckpointRecord.from_payload(data, str(path))
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
    return CheckpointRecord.from_payload(data, str(path))


def read_record(path: str | Path) -> CheckpointRecord:
    """What a resume reads first: a file checkpoint whole; of a sharded one its record
    (weights None), after checking every shard the index names against its hash (every
    process then reads its own share of the tensors, ``jepa_kit.checkpoint.writer``)."""
    path = Path(path)
    if not sharded.is_sharded(path):
        return read_checkpoint(path)
    try:
        meta = sharded.read_meta(path)
        sharded.verify_sharded(path, meta)
    except sharded.ShardedCheckpointError as exc:
        raise CheckpointError(str(exc)) from None
    return CheckpointRecord.from_payload(meta, str(path), tensors=False)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The payload of ``read_checkpoint(path)`` as a plain dict, migrated to the current
    format: for tools and tests that inspect the stored form. jepa-kit reads records."""
    return read_checkpoint(path, map_location).to_payload()

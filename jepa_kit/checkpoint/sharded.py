"""Sharded checkpoints: a ``step_XXXXXXXX.dcp`` folder written by every process together.

Layout (``torch.distributed.checkpoint``, DCP): one ``__R_0.distcp`` file per writing process
and DCP's ``.metadata`` index, plus ``jepa_kit.pt``, the same plain dict as a file checkpoint
(``jepa_kit.checkpoint.record``) without the tensors: step, epoch, method, networks, recipe,
versions, RNG states, ``"layout": "sharded"``. The tensors are stored under
``model/<network>.<parameter>`` and ``optim/...`` by fully qualified name, so a checkpoint is
independent of how it was sharded: DCP re-slices it for any number of processes and any
strategy (written under FSDP, read by DDP or one process, and the other way round).

A folder is written as ``step_XXXXXXXX.dcp.partial`` and renamed once every process's shard
and the index are on disk: a ``.dcp`` folder is always complete. Every file in it has a
``NAME.sha256`` record (``jepa_kit.checkpoint.dcp_io.HashingWriter``: each process hashes the
shards it wrote); ``verify_sharded`` checks that every shard the index names is there, long
enough, and matches its record, before anything is read. Folders written before the records
existed (no ``"checksums"`` in their record) are checked for presence and length only.

Reading the whole checkpoint in one process needs no process group and no model: the index
describes every tensor (``load_sharded``), which is what evaluation and export use. Every read
goes through ``jepa_kit.checkpoint.dcp_io``: the index and the non-tensor values are read without
running code.
"""

from __future__ import annotations

import io
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch

from jepa_kit.checkpoint import dcp_io
from jepa_kit.checkpoint.digest import digest_problem
from jepa_kit.checkpoint.failures import DCP_ERRORS, explain, refused_pickle
from jepa_kit.errors import UserError

SUFFIX = ".dcp"
PARTIAL = ".partial"
META = "jepa_kit.pt"
INDEX = dcp_io.INDEX
MODEL, OPTIM = "model", "optim"
#: The record's key saying that every file in the folder has a SHA-256 record.
CHECKSUMS = "checksums"  # the record field (CheckpointRecord.checksums)


class ShardedCheckpointError(UserError):
    """A sharded checkpoint folder is incomplete or unreadable."""


def sharded_name(step: int) -> str:
    return f"step_{step:08d}{SUFFIX}"


def is_sharded(path: str | Path) -> bool:
    return Path(path).name.endswith(SUFFIX)


def partial_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + PARTIAL)


def read_meta(path: str | Path) -> dict[str, Any]:
    """The non-tensor part of a sharded checkpoint; ``ShardedCheckpointError`` names what is
    missing. Cheap: no tensor is read."""
    path = Path(path)
    if not path.is_dir():
        raise ShardedCheckpointError(f"{path}: no such sharded checkpoint folder")
    for part in (META, INDEX):
        if not (path / part).is_file():
            raise ShardedCheckpointError(
                f"{path}: incomplete sharded checkpoint (no {part}); it was not written to "
                f"the end")
    problem = digest_problem(path / META)
    if problem is not None:
        raise ShardedCheckpointError(f"{path / META}: unreadable checkpoint ({problem})")
    try:
        meta = torch.load(path / META, map_location="cpu", weights_only=True)
    except Exception as exc:
        what = refused_pickle(exc)
        if what is not None:
            raise ShardedCheckpointError(
                f"{path / META}: refused: the file {what}; jepa-kit never unpickles code, and "
                f"this is not a plain jepa-kit checkpoint") from None
        raise ShardedCheckpointError(f"{path / META}: unreadable ({explain(exc)})") from exc
    if not isinstance(meta, dict) or meta.get("layout") != "sharded":
        raise ShardedCheckpointError(f"{path / META}: not a jepa-kit sharded checkpoint record")
    return meta


def verify_sharded(path: str | Path, meta: dict[str, Any] | None = None) -> None:
    """Check a sharded folder before any tensor is read: the index reads without code, every
    shard it names exists, is long enough, and matches its SHA-256 record (required when the
    folder was written with records). ``ShardedCheckpointError`` names the file."""
    path = Path(path)
    meta = read_meta(path) if meta is None else meta
    required = bool(meta.get(CHECKSUMS))
    problem = digest_problem(path / INDEX, required=required)
    if problem is not None:
        raise ShardedCheckpointError(f"{path / INDEX}: unreadable checkpoint ({problem})")
    try:
        index = dcp_io.read_index(path / INDEX)
    except dcp_io.RefusedPickle as exc:
        raise ShardedCheckpointError(
            f"{path / INDEX}: refused: the file {exc}; jepa-kit never unpickles code, and this "
            f"is not the index of a jepa-kit sharded checkpoint") from None
    except Exception as exc:
        raise ShardedCheckpointError(f"{path / INDEX}: unreadable index ({explain(exc)})"
                                     ) from None
    ends: dict[str, int] = {}
    storage = index.storage_data or {}
    for info in storage.values():
        name = getattr(info, "relative_path", None)
        if not isinstance(name, str) or Path(name).name != name or name.startswith("."):
            raise ShardedCheckpointError(f"{path / INDEX}: names a shard {name!r} that is not "
                                         f"a file of this folder")
        ends[name] = max(ends.get(name, 0), int(info.offset) + int(info.length))
    for name, end in sorted(ends.items()):
        shard = path / name
        if not shard.is_file():
            raise ShardedCheckpointError(f"{shard}: missing shard (the index names it); the "
                                         f"checkpoint is incomplete")
        size = shard.stat().st_size
        if size < end:
            raise ShardedCheckpointError(f"{shard}: truncated shard ({size} bytes, the index "
                                         f"reads up to byte {end})")
        problem = digest_problem(shard, required=required)
        if problem is not None:
            raise ShardedCheckpointError(f"{shard}: unreadable checkpoint ({problem})")
    _check_values(path, index, storage)


def _check_values(path: Path, index: Any, storage: dict[Any, Any]) -> None:
    """Read every non-tensor value (an optimizer's lr, its betas) the way loading will, without
    code: a refused one is found here, where a resume can still fall back."""
    from torch.distributed.checkpoint.metadata import BytesStorageMetadata, MetadataIndex

    for fqn, kind in index.state_dict_metadata.items():
        info = storage.get(MetadataIndex(fqn))
        if not isinstance(kind, BytesStorageMetadata) or info is None or \
                getattr(info, "transform_descriptors", None):
            continue  # a transformed (compressed) value is checked when it is loaded
        with (path / info.relative_path).open("rb") as handle:
            handle.seek(int(info.offset))
            raw = handle.read(int(info.length))
        try:
            torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ShardedCheckpointError(
                f"{path / info.relative_path}: value {fqn!r}: {explain(exc)}") from None


def load_sharded(path: str | Path, *, optimizer: bool = False) -> dict[str, Any]:
    """A sharded checkpoint read whole into this process, as the dict a file checkpoint holds:
    one full state dict per network (and, with ``optimizer``, the optimizer state keyed by
    parameter name under ``optimizer_by_name``)."""
    from torch.distributed.checkpoint.state_dict_loader import _load_state_dict

    path = Path(path)
    meta = read_meta(path)
    verify_sharded(path, meta)
    state: dict[str, Any] = {}
    single = not (torch.distributed.is_available() and torch.distributed.is_initialized())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Fills ``state`` from the checkpoint's own index, without a model to load into
            # (what DCP's conversion to a torch.save file does), through the safe reader.
            _load_state_dict(state, storage_reader=dcp_io.SafeReader(str(path)), no_dist=single,
                             planner=dcp_io.SafeEmptyPlanner(
                                 keys={MODEL, OPTIM} if optimizer else {MODEL}))
    except DCP_ERRORS as exc:
        raise ShardedCheckpointError(
            f"{path}: unreadable sharded checkpoint ({explain(exc)})") from None
    weights = state.get(MODEL, {})
    data = dict(meta)
    for network in meta.get("networks", []):
        prefix = network + "."
        data[network] = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
    if optimizer:
        data["optimizer_by_name"] = state.get(OPTIM)
    return data


def remove_stale_partials(directory: str | Path) -> list[Path]:
    """Delete ``*.dcp.partial`` folders a killed save left (call with the run folder locked,
    before any process writes)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    stale = sorted(p for p in directory.iterdir()
                   if p.name.endswith(SUFFIX + PARTIAL) and p.is_dir() and not p.is_symlink())
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


def publish(partial: Path, final: Path) -> None:
    """Rename a finished ``.partial`` folder to its final name, replacing an older folder of
    the same step (a resumed run that went back in time) only once the new one is complete."""
    if final.exists():
        old = final.with_name(final.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        partial.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        partial.rename(final)

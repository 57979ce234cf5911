"""Sharded checkpoints: a ``step_XXXXXXXX.dcp`` folder written by every process together.

Layout (``torch.distributed.checkpoint``, DCP): one ``__R_0.distcp`` file per writing process
and DCP's ``.metadata`` index, plus ``jepa_kit.pt``, the same plain dict as a file checkpoint
(``jepa_kit.rundir.checkpoint``) without the tensors: step, epoch, method, networks, recipe,
versions, RNG states, ``"layout": "sharded"``. The tensors are stored under
``model/<network>.<parameter>`` and ``optim/...`` by fully qualified name, so a checkpoint is
independent of how it was sharded: DCP re-slices it for any number of processes and any
strategy (written under FSDP, read by DDP or one process, and the other way round).

A folder is written as ``step_XXXXXXXX.dcp.partial`` and renamed once every process's shard
and the index are on disk: a ``.dcp`` folder is always complete. No content hash is recorded
(each process writes its own files; DCP's index names and sizes every piece it reads back).

Reading the whole checkpoint in one process needs no process group and no model: the index
describes every tensor (``load_sharded``), which is what evaluation and export use.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import torch

from jepa_kit.errors import UserError

SUFFIX = ".dcp"
PARTIAL = ".partial"
META = "jepa_kit.pt"
INDEX = ".metadata"
MODEL, OPTIM = "model", "optim"


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
    try:
        meta = torch.load(path / META, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ShardedCheckpointError(f"{path / META}: unreadable ({type(exc).__name__}: "
                                     f"{str(exc).strip().splitlines()[0] if str(exc) else ''})"
                                     ) from exc
    if not isinstance(meta, dict) or meta.get("layout") != "sharded":
        raise ShardedCheckpointError(f"{path / META}: not a jepa-kit sharded checkpoint record")
    return meta


def load_sharded(path: str | Path, *, optimizer: bool = False) -> dict[str, Any]:
    """A sharded checkpoint read whole into this process, as the dict a file checkpoint holds:
    one full state dict per network (and, with ``optimizer``, the optimizer state keyed by
    parameter name under ``optimizer_by_name``)."""
    # DCP's reader that fills a dict from the checkpoint's own index, without a model to
    # load into (what its own conversion to a torch.save file uses).
    from torch.distributed.checkpoint.state_dict_loader import _load_state_dict_from_keys

    path = Path(path)
    meta = read_meta(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = _load_state_dict_from_keys({MODEL, OPTIM} if optimizer else {MODEL},
                                               checkpoint_id=str(path))
    except Exception as exc:
        raise ShardedCheckpointError(
            f"{path}: unreadable sharded checkpoint ({type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0] if str(exc) else ''})") from exc
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

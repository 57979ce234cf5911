"""DCP's file reader and writer, made safe to read and checked on write.

``torch.distributed.checkpoint`` reads a folder's ``.metadata`` index with plain ``pickle``, and
the non-tensor values of a state dict (an optimizer's learning rate, its betas) with
``torch.load(weights_only=False)``: a crafted folder would run code on ``--resume``, ``eval``
or ``export``. jepa-kit never unpickles code, so every DCP read goes through ``SafeReader``
(the index through an unpickler that knows only DCP's own metadata classes and plain values)
and a ``SafePlanner`` (values through ``torch.load(weights_only=True)``).

Writing goes through ``HashingWriter``: each process hashes the shard files it has just
written and records ``NAME.sha256`` beside each before it reports them done; the coordinating
process does the same for the index after writing it. So by the time a folder is complete,
every file in it has its record (``jepa_kit.checkpoint.sharded.verify_sharded`` checks them).
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import torch
from torch.distributed.checkpoint import FileSystemReader, FileSystemWriter
from torch.distributed.checkpoint._traverse import set_element
from torch.distributed.checkpoint.default_planner import (
    DefaultLoadPlanner,
    _EmptyStateDictLoadPlanner,
)
from torch.distributed.checkpoint.metadata import Metadata, StorageMeta
from torch.distributed.checkpoint.planner import ReadItem
from torch.futures import Future

from jepa_kit.checkpoint.digest import write_digest

INDEX = ".metadata"
_DCP = "torch.distributed.checkpoint"
#: The only globals a DCP index may name: DCP's metadata records and the plain values in them.
_ALLOWED: dict[str, frozenset[str]] = {
    f"{_DCP}.metadata": frozenset({
        "Metadata", "MetadataIndex", "StorageMeta", "TensorProperties", "TensorStorageMetadata",
        "BytesStorageMetadata", "ChunkStorageMetadata", "_MEM_FORMAT_ENCODING"}),
    f"{_DCP}.filesystem": frozenset({"_StorageInfo"}),
    "torch.serialization": frozenset({"_get_layout"}),  # a lookup by name among torch's layouts
    "pathlib": frozenset({"PosixPath", "PurePosixPath", "WindowsPath", "PureWindowsPath"}),
    "collections": frozenset({"OrderedDict"}),
}


class RefusedPickle(pickle.UnpicklingError):
    """A DCP index that names something other than DCP's metadata and plain values."""


class _IndexUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name == "Size":
            return torch.Size
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if name in _ALLOWED.get(module, frozenset()):
            return super().find_class(module, name)
        raise RefusedPickle(f"asks for Python code or objects ({module}.{name})")


def read_index(path: Path) -> Metadata:
    """A DCP index file, unpickled with only DCP's metadata classes allowed."""
    with path.open("rb") as handle:
        metadata = _IndexUnpickler(handle).load()
    if not isinstance(metadata, Metadata):
        raise RefusedPickle(f"holds a {type(metadata).__name__}, not DCP metadata")
    return metadata


class SafeReader(FileSystemReader):
    """DCP's file reader, with the index read by ``read_index``."""

    def read_metadata(self, *args: Any, **kwargs: Any) -> Metadata:
        rank = kwargs.get("rank")
        metadata = read_index(Path(self._get_metadata_path(rank)))
        if getattr(metadata, "storage_meta", None) is None:
            metadata.storage_meta = StorageMeta()
        assert metadata.storage_meta is not None
        metadata.storage_meta.load_id = self.load_id
        return metadata


def _load_value(value: io.BytesIO) -> Any:
    return torch.load(value, map_location="cpu", weights_only=True)


class SafePlanner(DefaultLoadPlanner):
    """DCP's load planner for a given state dict; non-tensor values read weights-only."""

    def load_bytes(self, read_item: ReadItem, value: io.BytesIO) -> None:
        _set_value(self, read_item, _load_value(value))


class SafeEmptyPlanner(_EmptyStateDictLoadPlanner):
    """DCP's planner that builds the state dict from the index; values read weights-only."""

    def load_bytes(self, read_item: ReadItem, value: io.BytesIO) -> None:
        _set_value(self, read_item, _load_value(value))


def _set_value(planner: DefaultLoadPlanner, read_item: ReadItem, loaded: Any) -> None:
    # As DefaultLoadPlanner.load_bytes stores a value, after reading it without code.
    fqn = read_item.dest_index.fqn
    if planner.flatten_state_dict:
        set_element(planner.original_state_dict, planner.mappings[fqn], loaded)
    else:
        planner.state_dict[fqn] = loaded


class HashingWriter(FileSystemWriter):
    """DCP's file writer that leaves a ``NAME.sha256`` record beside every file it writes."""

    def write_data(self, plan: Any, planner: Any) -> Future[Any]:
        future = super().write_data(plan, planner)
        # The parent writes synchronously and returns a finished future; hashing here, before
        # the results go to the coordinator, puts every record on disk before the folder can
        # be published. The files were just written: the pages are still cached.
        written = {result.storage_data.relative_path for result in future.value()}
        for name in sorted(written):
            write_digest(Path(self.path) / name)
        return future

    def finish(self, metadata: Metadata, results: Any) -> None:
        super().finish(metadata, results)
        write_digest(Path(self.path) / INDEX)

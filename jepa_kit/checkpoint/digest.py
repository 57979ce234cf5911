"""Content hashes of checkpoint files: ``NAME.sha256`` beside ``NAME``, in ``sha256sum`` format.

Every file a checkpoint is made of gets one: a ``step_N.pt`` file, and inside a ``step_N.dcp``
folder each process's ``__R_K.distcp`` shards, DCP's ``.metadata`` index and the
``jepa_kit.pt`` record (``cd step_N.dcp && sha256sum -c *.sha256`` checks a folder by hand).
A sidecar rather than a footer keeps each file in its standard format, readable by any tool.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import IO

from jepa_kit.atomic import atomic_write

SUFFIX = ".sha256"
_RECORD = re.compile(r"^([0-9a-f]{64}) [ *]?(\S.*)$")


def digest_path(path: str | Path) -> Path:
    """The content-hash record of a checkpoint file: ``NAME.sha256`` beside it."""
    path = Path(path)
    return path.with_name(path.name + SUFFIX)


class HashingWriter:
    """A write-only stream that hashes what passes through to ``handle``.

    The first ``OSError`` of the underlying file is kept in ``error``: ``torch.save`` reports a
    failed write as its own zip-writer error, which hides the cause (a full disk)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle, self.sha = handle, hashlib.sha256()
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        try:
            return self.handle.write(data)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def flush(self) -> None:
        self.handle.flush()


def hash_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in one streaming pass."""
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


def write_digest(path: Path, hexdigest: str | None = None) -> Path:
    """Write ``path``'s record (hashing the file unless ``hexdigest`` is given), atomically."""
    record = f"{hexdigest or hash_file(path)}  {path.name}\n"
    return atomic_write(digest_path(path), lambda out: out.write(record))


def digest_problem(path: Path, *, required: bool = False) -> str | None:
    """What is wrong with ``path`` against its record, or None when it matches.

    A missing record is no problem unless ``required`` (a file written before content hashes
    existed, or copied without its record, loads unverified)."""
    record = digest_path(path)
    try:
        text = record.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return f"{record.name} is missing (its content cannot be verified)" if required else None
    match = _RECORD.match(text.strip())
    if match is None:
        return (f"{record.name}: not a SHA-256 record ('HEX  {path.name}'); restore it, or "
                f"delete it to load {path.name} unverified")
    try:
        found = hash_file(path)
    except FileNotFoundError:
        return f"{path.name} is missing"
    expected = match.group(1)
    if found != expected:
        return (f"content hash mismatch: the file was modified or corrupted after it was "
                f"written; {record.name} records sha256 {expected[:16]}..., the file has "
                f"{found[:16]}...")
    return None

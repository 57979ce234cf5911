"""atomic_write: the old file survives a failed write, and no temporary file is left behind."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

import pytest

from jepa_kit.atomic import atomic_write


def test_writes_text_and_bytes(tmp_path: Path) -> None:
    text = atomic_write(tmp_path / "sub" / "a.json", lambda h: h.write('{"x": 1}\n'))
    assert text.read_text() == '{"x": 1}\n'
    raw = atomic_write(tmp_path / "b.bin", lambda h: h.write(b"\x00\x01"), binary=True)
    assert raw.read_bytes() == b"\x00\x01"


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = atomic_write(tmp_path / "state.json", lambda h: h.write("old"))

    def broken(handle: IO[Any]) -> None:
        handle.write("half of the new")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, broken)
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]

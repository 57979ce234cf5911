"""atomic_write: the old file survives a failed write, and no temporary file is left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO, Any

import pytest

from jepa_kit.atomic import _TEMP_NAME, atomic_write


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


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_files_get_the_mode_open_would_give(tmp_path: Path, umask: int) -> None:
    # A checkpoint others in the group read (an evaluation job, a shared runs/ folder) must
    # not come out 0600 because it went through a temporary file.
    old = os.umask(umask)
    try:
        path = atomic_write(tmp_path / "finished.json", lambda h: h.write("{}"))
        with open(tmp_path / "plain.json", "w") as handle:
            handle.write("{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    plain = stat.S_IMODE((tmp_path / "plain.json").stat().st_mode)
    assert stat.S_IMODE(path.stat().st_mode) == plain


def test_temporary_names_are_the_ones_stale_cleanup_removes(tmp_path: Path) -> None:
    seen: list[str] = []
    atomic_write(tmp_path / "m.jsonl",
                 lambda h: seen.extend(p.name for p in tmp_path.iterdir() if p.name != "m.jsonl"))
    assert len(seen) == 1 and _TEMP_NAME.match(seen[0]) and seen[0].startswith(".m.jsonl.")

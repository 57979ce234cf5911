"""remove_stale_temp_files: what a killed save left behind goes, nothing else does."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from jepa_kit.atomic import remove_stale_temp_files
from tests.conftest import REPO

KILLED_SAVE = """
import os, sys
from pathlib import Path
from jepa_kit.atomic import atomic_write
def write(handle):
    handle.write(b"half a checkpoint")
    handle.flush()
    os._exit(9)  # as kill -9: no clean-up runs
atomic_write(Path(sys.argv[1]), write, binary=True)
"""


def test_a_killed_save_leaves_a_temp_file_that_the_next_process_removes(tmp_path: Path) -> None:
    target = tmp_path / "step_00000004.pt"
    killed = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(target)], cwd=REPO)
    assert killed.returncode == 9
    (stray,) = tmp_path.iterdir()
    assert stray.name.startswith(".step_00000004.pt.") and stray.name.endswith(".tmp")
    time.sleep(0.05)
    clean = "import sys; from jepa_kit.atomic import remove_stale_temp_files as r; " \
            "print([p.name for p in r(sys.argv[1])])"
    out = subprocess.run([sys.executable, "-c", clean, str(tmp_path)], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == repr([stray.name])
    assert list(tmp_path.iterdir()) == []


def test_only_old_atomic_write_temp_files_are_removed(tmp_path: Path) -> None:
    old = time.time() - 3600
    names = {
        ".step_00000004.pt.ab_cd123.tmp": old,  # a killed checkpoint save
        ".step_00000004.pt.sha256.x1y2z3w4.tmp": old,  # a killed hash-record save
        ".metrics.jsonl.k9k9k9k9.tmp": None,  # a save in progress now
        ".step_00000004.pt.short.tmp": old,  # not mkstemp's 8 characters
        "notes.tmp": old,
        "step_00000002.pt": old,
    }
    for name, mtime in names.items():
        (tmp_path / name).write_bytes(b"x")
        if mtime is not None:
            os.utime(tmp_path / name, (mtime, mtime))
    (tmp_path / ".dir.abcdefgh.tmp").mkdir()
    removed = remove_stale_temp_files(tmp_path, older_than=time.time() - 60)
    assert [p.name for p in removed] == [".step_00000004.pt.ab_cd123.tmp",
                                         ".step_00000004.pt.sha256.x1y2z3w4.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [".dir.abcdefgh.tmp", ".metrics.jsonl.k9k9k9k9.tmp", ".step_00000004.pt.short.tmp",
         "notes.tmp", "step_00000002.pt"])
    assert remove_stale_temp_files(tmp_path / "absent") == []

"""``jepa-kit diagnose`` is a registered command that answers bad input with exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jepa_kit.cli.app import main
from tests.conftest import REPO


def test_diagnose_is_listed_and_refuses_bad_input(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as listed:
        main(["--help"])
    assert listed.value.code == 0 and "diagnose" in capsys.readouterr().out
    with pytest.raises(SystemExit) as missing:
        main(["diagnose", str(tmp_path / "nope.pt")])
    assert missing.value.code == 2
    assert "nope.pt: no such checkpoint file" in " ".join(capsys.readouterr().err.split())
    split = subprocess.run([sys.executable, "-m", "jepa_kit", "diagnose", "x.pt", "--split",
                            "test"], cwd=REPO, text=True, capture_output=True, timeout=120)
    assert split.returncode == 2 and "expected train or val, got 'test'" in split.stderr

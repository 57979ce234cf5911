"""Every test here keeps ``jepa-kit eval``'s random-init baseline cache in its own tmp folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def baseline_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$XDG_CACHE_HOME`` under ``tmp_path`` (subprocesses inherit it), never ``~/.cache``."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    return tmp_path / "xdg-cache" / "jepa-kit" / "baselines"

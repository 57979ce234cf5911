"""What a tracker records beside the recipe: jepa-kit's version and the git commit it runs from.

The commit is read only when jepa-kit runs from a git checkout of its own source (an editable
install of a clone); an installed wheel has none. A checkout with uncommitted changes says so,
since its commit alone does not reproduce the run.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import torch

import jepa_kit


def source_commit() -> str | None:
    """``<sha>`` (``<sha>+dirty`` with local changes) of jepa-kit's checkout, else None."""
    root = Path(jepa_kit.__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(root), *args], capture_output=True,
                                  text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    # A wheel installed into a virtualenv inside some clone is not that clone's code.
    if top is None or Path(top).resolve() != root:
        return None
    sha = git("rev-parse", "HEAD")
    if sha is None:
        return None
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "jepa_kit")
    return f"{sha}+dirty" if dirty else sha


def run_params(world_size: int, device: str) -> dict[str, Any]:
    """The facts logged with the recipe: versions, commit, processes, device."""
    return {"jepa_kit_version": jepa_kit.__version__, "git_commit": source_commit() or "none",
            "torch_version": torch.__version__, "world_size": world_size, "device": device}

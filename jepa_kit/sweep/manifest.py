"""``sweep.json``: the variants of a sweep, their overrides, run directories and status.

Written before the first variant runs and after every change of status, atomically, so a sweep
killed at any point leaves a manifest that ``jepa-kit compare`` and a re-run can read. Run
directories are stored relative to the sweep directory, so a sweep directory can be moved.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from jepa_kit.atomic import atomic_write
from jepa_kit.errors import UserError

MANIFEST = "sweep.json"
FORMAT = "jepa-kit-sweep"
Status = Literal["pending", "running", "finished", "interrupted", "failed", "collapsed"]


def read_manifest(sweep_dir: Path) -> dict[str, Any] | None:
    path = sweep_dir / MANIFEST
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: unreadable sweep manifest ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(f"{path}: not a jepa-kit sweep manifest")
    return data


def write_manifest(sweep_dir: Path, manifest: dict[str, Any]) -> Path:
    text = json.dumps(manifest, indent=2) + "\n"
    return atomic_write(sweep_dir / MANIFEST, lambda handle: handle.write(text))


def variant_entries(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    entries = manifest.get("variants")
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []

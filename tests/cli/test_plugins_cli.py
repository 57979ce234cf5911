"""`jepa-kit plugins` (list, --json, --check) and `jepa-kit plugins new`, run as a user does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def cli(*args: str, cwd: Path = REPO,
        pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "JEPA_KIT_DISABLE_PLUGINS"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([sys.executable, "-m", "jepa_kit", *args], cwd=cwd, env=env,
                          text=True, capture_output=True, timeout=300)


def broken_site(root: Path) -> Path:
    """An installed distribution whose entry point cannot be imported."""
    info = root / "jepa_kit_broken-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: jepa-kit-broken\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text("[jepa_kit.losses]\nbroken = no_such_module_xyz:Loss\n")
    return root


def test_bare_invocation_lists_a_table() -> None:
    result = cli("plugins")
    assert result.returncode == 0, result.stderr
    assert "jepa-kit components" in result.stdout
    for word in ("kind", "distribution", "smooth_l1", "ema"):
        assert word in result.stdout


def test_json_rows_and_fields() -> None:
    result = cli("plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert all(set(r) == {"kind", "name", "class", "distribution", "version", "status"}
               for r in rows)
    by_key = {(r["kind"], r["name"]): r for r in rows}
    assert by_key[("loss", "l2")]["class"] == "jepa_kit.losses.feature:L2Loss"
    assert {r["status"] for r in rows} == {"listed"}


def test_check_imports_and_reports_broken_plugins(tmp_path: Path) -> None:
    site = broken_site(tmp_path)
    listing = cli("plugins", "--json", pythonpath=site)
    assert listing.returncode == 0  # listing imports nothing, so a broken plugin is just listed
    checked = cli("plugins", "--check", "--json", pythonpath=site)
    assert checked.returncode == 0, checked.stderr
    rows = {(r["kind"], r["name"]): r for r in json.loads(checked.stdout)}
    assert rows[("loss", "l2")]["status"] == "ok"
    broken = rows[("loss", "broken")]
    assert broken["distribution"] == "jepa-kit-broken"
    assert broken["status"].startswith("broken:") and "no_such_module_xyz" in broken["status"]


def test_disable_switch_hides_third_party(tmp_path: Path) -> None:
    env_site = broken_site(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(env_site), "JEPA_KIT_DISABLE_PLUGINS": "1"}
    result = subprocess.run([sys.executable, "-m", "jepa_kit", "plugins", "--json"], cwd=REPO,
                            env=env, text=True, capture_output=True, timeout=300)
    rows = json.loads(result.stdout)
    assert rows and {r["distribution"] for r in rows} == {"jepa-kit"}


def test_new_writes_a_skeleton(tmp_path: Path) -> None:
    result = cli("plugins", "new", "grid_masker", "--kind", "masker", "--dir", "pkg", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "wrote 5 files" in result.stdout and "pip install -e" in result.stdout
    assert (tmp_path / "pkg" / "jepa_kit_grid_masker" / "masker.py").is_file()
    assert (tmp_path / "pkg" / "tests" / "test_grid_masker.py").is_file()
    default = cli("plugins", "new", "my_loss", "--kind", "loss", cwd=tmp_path)
    assert default.returncode == 0 and (tmp_path / "jepa-kit-my-loss" / "pyproject.toml").is_file()


def test_new_user_errors_exit_2(tmp_path: Path) -> None:
    cases = [
        (["Bad-Name", "--kind", "masker"], "lower-case letters"),
        (["l2", "--kind", "loss"], "already registered by jepa-kit"),
        (["mine", "--kind", "maskr"], "Did you mean 'masker'?"),
    ]
    for args, message in cases:
        result = cli("plugins", "new", *args, cwd=tmp_path)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("")
    busy = cli("plugins", "new", "mine", "--kind", "loss", "--dir", "taken", cwd=tmp_path)
    assert busy.returncode == 2 and "not an empty folder" in busy.stderr
    missing = cli("plugins", "new", "mine", cwd=tmp_path)
    assert missing.returncode == 2 and "--kind" in missing.stderr
    assert list((tmp_path / "taken").iterdir()) == [tmp_path / "taken" / "file"]


def test_help_lists_the_subcommand() -> None:
    result = cli("plugins", "--help")
    assert result.returncode == 0 and "new" in result.stdout and "--json" in result.stdout

"""The command line through a real subprocess: exit codes and messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

QUICKSTART = str(REPO / "recipes" / "quickstart.toml")


def cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jepa_kit", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=300)


def test_version() -> None:
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("jepa-kit 0.")


def test_validate_ok_and_user_errors_exit_2() -> None:
    ok = cli("validate", QUICKSTART)
    assert ok.returncode == 0 and "ok" in ok.stdout
    typo = cli("validate", QUICKSTART, "--set", "masker.kind=multiblok")
    assert typo.returncode == 2
    assert "masker.kind" in typo.stderr and "Did you mean 'multiblock'?" in typo.stderr
    assert "Traceback" not in typo.stderr
    wrong = cli("validate", QUICKSTART, "--set", "encoder.patch_size=abc")
    assert wrong.returncode == 2 and "encoder.patch_size" in wrong.stderr
    unknown = cli("validate", QUICKSTART, "--set", "masker.no_such_field=1")
    assert unknown.returncode == 2 and "masker.no_such_field" in unknown.stderr
    missing = cli("validate", "nope.toml")
    assert missing.returncode == 2 and "nope.toml" in missing.stderr


def test_debug_shows_traceback() -> None:
    result = cli("--debug", "validate", QUICKSTART, "--set", "masker.kind=x")
    assert result.returncode == 2 and "Traceback" in result.stderr


def test_bad_flag_exits_2() -> None:
    result = cli("validate", "--no-such-flag")
    assert result.returncode == 2


def test_show_prints_resolved_toml(tmp_path: Path) -> None:
    result = cli("show", QUICKSTART, "--set", "train.epochs=7")
    assert result.returncode == 0 and "epochs = 7" in result.stdout
    (tmp_path / "r.toml").write_text(result.stdout)
    assert cli("validate", str(tmp_path / "r.toml")).returncode == 0


def test_schema_is_json() -> None:
    result = cli("schema")
    assert result.returncode == 0
    assert "encoder" in json.loads(result.stdout)["properties"]


def test_plugins_json_lists_builtins() -> None:
    result = cli("plugins", "--json")
    assert result.returncode == 0
    rows = {(r["kind"], r["name"]): r for r in json.loads(result.stdout)}
    for key in [("encoder", "vit"), ("encoder", "timm"), ("predictor", "vit_predictor"),
                ("masker", "multiblock"), ("target_updater", "ema"), ("loss", "l2"),
                ("loss", "smooth_l1"), ("dataset", "synthetic"), ("dataset", "image_folder")]:
        assert rows[key]["distribution"] == "jepa-kit"

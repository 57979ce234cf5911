"""import-reference on everything that is not an official checkpoint: a user error (exit 2)
naming the file and what it is, never a traceback or torch's advice to unpickle code."""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from jepa_kit.cli.app import main
from jepa_kit.errors import UserError
from jepa_kit.interop.reference import (
    ReferenceCheckpointError,
    import_reference,
    load_reference_checkpoint,
)
from tests.conftest import FIXTURES

CKPT = FIXTURES / "tiny_checkpoint.pth.tar"
NOT_IJEPA = "not an official I-JEPA / V-JEPA training checkpoint"


class Opaque:
    """A class a weights-only load must refuse to rebuild."""


def official() -> dict:
    return torch.load(CKPT, weights_only=True)


def truncated(path: Path) -> None:
    path.write_bytes(CKPT.read_bytes()[:5000])


def truncated_legacy(path: Path) -> None:
    torch.save(official(), path, _use_new_zipfile_serialization=False)
    path.write_bytes(path.read_bytes()[:30000])


def jepa_kit_checkpoint(path: Path) -> None:
    shutil.copy(import_reference(CKPT, path.parent / "imported"), path)


def with_namespace(path: Path) -> None:  # the reference's args, pickled as a Python object
    torch.save({**official(), "args": argparse.Namespace(lr=1e-3)}, path)


def with_class(path: Path) -> None:
    torch.save({"encoder": Opaque()}, path)


def bare_state_dict(path: Path) -> None:
    torch.save(official()["encoder"], path)


def foreign_keys(path: Path) -> None:
    torch.save({"model": {}, "epoch": 3}, path)


def encoder_not_a_dict(path: Path) -> None:
    torch.save({**official(), "encoder": 5}, path)


def encoder_of_other_shapes(path: Path) -> None:
    torch.save({"encoder": {"w": torch.zeros(2)}, "predictor": {"w": torch.zeros(2)}}, path)


def extra_key(path: Path) -> None:
    raw = official()
    raw["encoder"] = {**raw["encoder"], "module.extra": torch.zeros(3)}
    torch.save(raw, path)


def flat_pos_embed(path: Path) -> None:
    raw = official()
    raw["encoder"] = {**raw["encoder"], "module.pos_embed": torch.zeros(64)}
    torch.save(raw, path)


#: name -> (make the file, words the message must hold)
CASES: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "missing": (lambda p: None, ("no such checkpoint file",)),
    "directory": (lambda p: p.mkdir(), ("a directory",)),
    "empty": (lambda p: p.touch(), ("an empty file", NOT_IJEPA)),
    "truncated": (truncated, ("truncated or damaged",)),
    "truncated legacy": (truncated_legacy, ("damaged or truncated",)),
    "random bytes": (lambda p: p.write_bytes(bytes(range(7, 200))), ("not a PyTorch file",)),
    "text": (lambda p: p.write_text("hello\n"), ("a text file", NOT_IJEPA)),
    "safetensors": (lambda p: save_file({"w": torch.zeros(2)}, str(p)),
                    ("a safetensors file", NOT_IJEPA)),
    "jepa-kit checkpoint": (jepa_kit_checkpoint,
                            ("is a jepa-kit checkpoint already", "use it directly",
                             "train.init_from=")),
    "pickled namespace": (with_namespace, ("refused", "argparse.Namespace",
                                           "never unpickles code", "plain tensors")),
    "pickled class": (with_class, ("refused", "Opaque", "never unpickles code")),
    "bare state dict": (bare_state_dict, ("a single network's state dict",)),
    "foreign keys": (foreign_keys, ("without 'encoder' or 'predictor'", "'model'")),
    "encoder not a dict": (encoder_not_a_dict, ("'encoder' is of type int",)),
    "other shapes": (encoder_of_other_shapes, ("lacks patch_embed.proj.weight",)),
    "extra key": (extra_key, ("do not fit", "extra")),
    "flat pos_embed": (flat_pos_embed, ("pos_embed has shape (64,)",)),
}


@pytest.fixture(params=list(CASES))
def bad(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, tuple[str, ...]]:
    make, words = CASES[request.param]
    path = tmp_path / "in.pth.tar"
    make(path)
    return path, words


@pytest.mark.filterwarnings("ignore:.*no target_encoder")
def test_api_raises_a_user_error_naming_the_file(bad: tuple[Path, tuple[str, ...]],
                                                  tmp_path: Path) -> None:
    path, words = bad
    with pytest.raises(ReferenceCheckpointError) as info:
        import_reference(path, tmp_path / "out")
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert all(w in message for w in words), message
    assert "weights_only=False" not in message and "add_safe_globals" not in message
    assert not (tmp_path / "out" / "step_00000000.pt").exists()


@pytest.mark.filterwarnings("ignore:.*no target_encoder")
def test_cli_exits_2_with_the_message(bad: tuple[Path, tuple[str, ...]], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    path, words = bad
    with pytest.raises(SystemExit) as exit_info:
        main(["import-reference", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert str(path) in err and all(w in err for w in words), err
    assert "Traceback" not in err and "internal error" not in err
    assert "weights_only=False" not in err


def test_the_official_fixture_still_imports(tmp_path: Path) -> None:
    written = import_reference(CKPT, tmp_path / "out")
    assert written.is_file()
    assert load_reference_checkpoint(CKPT).encoder_config["embed_dim"] == 96


def test_a_legacy_format_official_checkpoint_imports(tmp_path: Path) -> None:
    path = tmp_path / "legacy.pth.tar"  # torch.save before PyTorch 1.6: no zip archive
    torch.save(official(), path, _use_new_zipfile_serialization=False)
    weights = load_reference_checkpoint(path)
    assert weights.img_size == 32 and weights.epoch == official()["epoch"]


def test_flag_problems_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="num_heads=5 does not divide the encoder width 96"):
        import_reference(CKPT, tmp_path / "out", num_heads=5)
    blocker = tmp_path / "a_file"
    blocker.touch()
    with pytest.raises(UserError, match="cannot write the checkpoint there"):
        import_reference(CKPT, blocker)

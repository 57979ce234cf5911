"""Checkpoints: content hashes, refused pickles, resume discovery and safe pruning."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

from jepa_kit.checkpoint import (
    CheckpointError,
    CheckpointVersionError,
    checkpoint_name,
    checkpoint_step,
    latest_valid_checkpoint,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    resume_checkpoint,
    save_checkpoint,
)
from jepa_kit.checkpoint.digest import digest_path
from jepa_kit.errors import UserError

#: A value whose float32 bytes are easy to find in the file (tensor data, not pickle opcodes).
MARK = 1.2345678


def save(directory: Path, step: int, **extra: Any) -> Path:
    payload = {"step": step, "epoch": 0, "step_in_epoch": step, "method": "ijepa",
               "networks": ["encoder"], "encoder": {"w": torch.full((64,), MARK)},
               "recipe": {}, **extra}
    return save_checkpoint(directory / checkpoint_name(step), payload)


def flip_64_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    start = data.find(torch.full((16,), MARK).numpy().tobytes())
    assert start > 0
    data[start:start + 64] = bytes(b ^ 0xFF for b in data[start:start + 64])
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:300])


def test_save_writes_a_sha256sum_record_beside_the_checkpoint(tmp_path: Path) -> None:
    path = save(tmp_path, 4)
    record = digest_path(path)
    assert record.name == "step_00000004.pt.sha256"
    assert record.read_text() == f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n"
    assert list_checkpoints(tmp_path) == [path]
    assert load_checkpoint(path)["step"] == 4


def test_flipped_bytes_are_a_hash_mismatch_and_resume_falls_back(tmp_path: Path) -> None:
    save(tmp_path, 2)
    newest = save(tmp_path, 4)
    flip_64_bytes(newest)
    # Without the hash the damage is invisible: torch reads the file happily.
    assert not torch.equal(torch.load(newest, weights_only=True)["encoder"]["w"],
                           torch.full((64,), MARK))
    with pytest.raises(CheckpointError, match=r"step_00000004\.pt: .*content hash mismatch: "
                       r"the file was modified or corrupted after it was written"):
        load_checkpoint(newest)
    with pytest.warns(UserWarning, match=r"skipping .*step_00000004\.pt.*content hash mismatch"):
        found = latest_valid_checkpoint(tmp_path)
    assert found is not None and found[0].name == "step_00000002.pt"
    with pytest.warns(UserWarning, match=r"step_00000004\.pt.*content hash mismatch"):
        resumed = resume_checkpoint(tmp_path)
    assert resumed is not None and resumed[0].name == "step_00000002.pt"


def test_a_checkpoint_without_a_record_loads_unverified_and_quietly(tmp_path: Path) -> None:
    path = save(tmp_path, 3)
    digest_path(path).unlink()  # as written before content hashes existed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_checkpoint(path)["step"] == 3
        assert resume_checkpoint(tmp_path) is not None


def test_a_malformed_record_is_an_error_naming_it(tmp_path: Path) -> None:
    path = save(tmp_path, 3)
    digest_path(path).write_text("not a hash\n")
    with pytest.raises(CheckpointError, match=r"step_00000003\.pt\.sha256: not a SHA-256"):
        load_checkpoint(path)


def test_a_truncated_checkpoint_is_unreadable(tmp_path: Path) -> None:
    path = save(tmp_path, 6)
    truncate(path)
    with pytest.raises(CheckpointError, match=r"step_00000006\.pt: unreadable checkpoint"):
        load_checkpoint(path)
    digest_path(path).unlink()
    with pytest.raises(CheckpointError, match=r"step_00000006\.pt: unreadable checkpoint"):
        load_checkpoint(path)


class _Gadget:
    """Pickles as a call to ``print``: what a malicious checkpoint would do with ``os.system``."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (print, ("this must never run",))


def test_a_refused_pickle_says_jepa_kit_never_unpickles_code(tmp_path: Path) -> None:
    path = tmp_path / "step_00000001.pt"
    torch.save({"format": "jepa-kit-checkpoint", "gadget": _Gadget()}, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f"{path}: refused: the file asks for Python code")
    assert "(print)" in message
    assert "never unpickles code" in message and "not a plain jepa-kit checkpoint" in message
    assert "weights_only" not in message and "trust" not in message
    garbage = tmp_path / "step_00000002.pt"
    garbage.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(CheckpointError, match=r"step_00000002\.pt: (refused|unreadable)") as info:
        load_checkpoint(garbage)
    assert "weights_only" not in str(info.value)


def test_resume_finds_nothing_in_an_empty_or_missing_folder(tmp_path: Path) -> None:
    assert resume_checkpoint(tmp_path / "absent") is None
    (tmp_path / "notes.txt").write_text("x")
    assert resume_checkpoint(tmp_path) is None


def test_resume_warns_for_each_skipped_checkpoint(tmp_path: Path) -> None:
    for step in (2, 4, 6):
        save(tmp_path, step)
    truncate(tmp_path / "step_00000006.pt")
    flip_64_bytes(tmp_path / "step_00000004.pt")
    with pytest.warns(UserWarning) as record:
        found = resume_checkpoint(tmp_path)
    assert found is not None and found[0].name == "step_00000002.pt" and found[1].step == 2
    messages = [str(w.message) for w in record]
    assert len(messages) == 2
    assert "step_00000006.pt" in messages[0] and "step_00000004.pt" in messages[1]


def test_resume_refuses_when_no_checkpoint_loads_and_changes_nothing(tmp_path: Path) -> None:
    for step in (5, 10):
        truncate(save(tmp_path, step))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the error lists the files; no warnings beside it
        with pytest.raises(CheckpointError) as info:
            resume_checkpoint(tmp_path)
    assert isinstance(info.value, UserError)
    message = str(info.value)
    assert "none of its 2 checkpoint file(s) loads" in message and "nothing was changed" in message
    assert "step_00000005.pt: unreadable" in message and "step_00000010.pt: unreadable" in message
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_resume_never_skips_a_newer_format(tmp_path: Path) -> None:
    save(tmp_path, 2)
    save(tmp_path, 4, format_version=99)
    with pytest.raises(CheckpointVersionError, match=r"step_00000004\.pt: checkpoint format 99 "
                       r"is newer .* upgrade jepa-kit"):
        resume_checkpoint(tmp_path)


def test_prune_never_deletes_above_the_current_step(tmp_path: Path) -> None:
    for step in (2, 4, 6, 8, 10):
        save(tmp_path, step)
    deleted = prune_checkpoints(tmp_path, 1, current_step=4)
    assert [p.name for p in deleted] == ["step_00000002.pt"]
    assert [checkpoint_step(p) for p in list_checkpoints(tmp_path)] == [4, 6, 8, 10]
    assert not digest_path(tmp_path / "step_00000002.pt").exists()
    # Without a current step it keeps the newest, as before.
    assert [p.name for p in prune_checkpoints(tmp_path, 2)] == ["step_00000004.pt",
                                                               "step_00000006.pt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "step_00000008.pt", "step_00000008.pt.sha256", "step_00000010.pt",
        "step_00000010.pt.sha256"]


def test_steps_past_eight_digits_are_listed_in_order(tmp_path: Path) -> None:
    for step in (99_999_999, 100_000_000):
        (tmp_path / checkpoint_name(step)).write_bytes(b"")
    assert [checkpoint_step(p) for p in list_checkpoints(tmp_path)] == [99_999_999, 100_000_000]

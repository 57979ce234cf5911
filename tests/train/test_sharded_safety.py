"""Sharded checkpoints read no code, verify every shard, fall back or exit 2, and name a full
disk: payloads through every command, truncated, missing and flipped shards, and writes into a
file system that runs out of space."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from jepa_kit.checkpoint import (
    CheckpointError,
    dcp_io,
    list_checkpoints,
    load_checkpoint,
    resume_checkpoint,
)
from jepa_kit.checkpoint.digest import write_digest
from jepa_kit.checkpoint.sharded import verify_sharded
from jepa_kit.cli.app import main
from jepa_kit.errors import UserError
from jepa_kit.recipe import load_recipe
from jepa_kit.train.trainer import train
from tests.train.helpers import QUICKSTART, TINY, run_cli, sets

SHARDED = [*TINY, "train.checkpoint_format=sharded"]


class _Gadget:
    """Pickles as a shell command: what a malicious checkpoint would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sharded run with checkpoints at steps 3 and 6."""
    out = tmp_path_factory.mktemp("sharded") / "run"
    train(load_recipe(QUICKSTART, [*SHARDED, "train.max_steps=6"]), output_dir=out, quiet=True)
    return out


@pytest.fixture
def run(made: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(made, copy)
    (copy / ".jepa-kit.lock").unlink(missing_ok=True)
    return copy


def newest(run: Path) -> Path:
    return run / "checkpoints" / "step_00000006.dcp"


def cli(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as ended:
        main(list(argv))
    return int(ended.value.code or 0), capsys.readouterr().err


def plant_index_payload(folder: Path, marker: Path) -> None:
    (folder / ".metadata").write_bytes(pickle.dumps(_Gadget(marker)))
    write_digest(folder / ".metadata")  # a record proves integrity, not good intent


def test_every_file_of_a_sharded_folder_has_a_matching_record(made: Path) -> None:
    folder = newest(made)
    names = sorted(p.name for p in folder.iterdir())
    assert names == [".metadata", ".metadata.sha256", "__0_0.distcp", "__0_0.distcp.sha256",
                     "jepa_kit.pt", "jepa_kit.pt.sha256"]
    for name in (".metadata", "__0_0.distcp", "jepa_kit.pt"):
        found = subprocess.run(["sha256sum", "-c", name + ".sha256"], cwd=folder, text=True,
                               capture_output=True)
        assert found.returncode == 0 and found.stdout.strip() == f"{name}: OK"
    assert load_checkpoint(folder)["checksums"] == "sha256"


@pytest.mark.parametrize("command", ["eval", "export", "diagnose", "init_from"])
def test_an_index_payload_runs_in_no_command_and_exits_2(
        run: Path, tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "pwned"
    plant_index_payload(newest(run), marker)
    ckpt = str(newest(run))
    argv = {
        "eval": ["eval", "knn", ckpt, "--no-baseline"],
        "export": ["export", ckpt, "--format", "safetensors", "--out", str(tmp_path / "w.st")],
        "diagnose": ["diagnose", ckpt, "-o", str(tmp_path / "diag")],
        "init_from": ["run", str(QUICKSTART), "-o", str(tmp_path / "new"), "-q",
                      *sets(*TINY, "train.max_steps=1", f"train.init_from={ckpt}")],
    }[command]
    code, err = cli(*argv, capsys=capsys)
    assert not marker.exists()
    assert code == 2
    assert "step_00000006.dcp/.metadata: refused: the file asks for Python code or objects " \
           "(posix.system); jepa-kit never unpickles code" in " ".join(err.split())


def test_resume_skips_a_payload_index_and_continues_from_the_older_checkpoint(
        run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "pwned"
    plant_index_payload(newest(run), marker)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = resume_checkpoint(run / "checkpoints")
    assert found is not None and found[0].name == "step_00000003.dcp"
    assert any("refused" in str(w.message) and "step_00000006.dcp" in str(w.message)
               for w in caught)
    code, _ = cli("run", str(QUICKSTART), "-o", str(run), "-q", "--resume",
                  *sets(*SHARDED, "train.max_steps=4"), capsys=capsys)
    assert code == 0 and not marker.exists()
    assert load_checkpoint(run / "checkpoints" / "step_00000004.dcp")["step"] == 4


def test_a_value_payload_inside_a_shard_is_refused_before_loading(
        run: Path, tmp_path: Path) -> None:
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict_loader import _load_state_dict_from_keys

    marker = tmp_path / "pwned"
    folder = newest(run)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        state = _load_state_dict_from_keys(checkpoint_id=str(folder))  # our own, trusted file
        state["optim"]["param_groups"][0]["lr"] = _Gadget(marker)
        # Rewritten with fresh records: a hash proves integrity, not good intent.
        dcp.save(state, storage_writer=dcp_io.HashingWriter(str(folder)))
    with pytest.raises(CheckpointError, match=r"__0_0\.distcp: value 'optim\.param_groups\.0"
                                              r"\.lr': refused: it asks for Python code"):
        load_checkpoint(folder)
    with pytest.warns(UserWarning, match=r"skipping .*step_00000006\.dcp.*refused"):
        found = resume_checkpoint(run / "checkpoints")
    assert found is not None and found[0].name == "step_00000003.dcp"
    assert not marker.exists()


def test_the_index_reader_allows_dcp_metadata_and_nothing_else(made: Path) -> None:
    index = dcp_io.read_index(newest(made) / ".metadata")
    assert "model.encoder.pos_embed" in index.state_dict_metadata
    bad = newest(made).parent / "bad.pickle"
    for payload, named in ((pickle.dumps(_Gadget(bad)), "posix.system"),
                           (pickle.dumps(Path.touch), "pathlib.Path.touch"),
                           (pickle.dumps({"a": 1}), None)):
        bad.write_bytes(payload)
        with pytest.raises(pickle.UnpicklingError, match=named or "holds a dict, not DCP"):
            dcp_io.read_index(bad)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(b ^ 0xFF for b in data[middle:middle + 64])
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("damage", "problem"), [
    (_truncate, r"truncated shard \(\d+ bytes, the index reads up to byte \d+\)"),
    (Path.unlink, r"missing shard \(the index names it\)"),
    (_flip, r"content hash mismatch: the file was modified or corrupted"),
])
def test_a_damaged_shard_falls_back_on_resume_and_exits_2_in_eval_and_export(
        run: Path, tmp_path: Path, damage: object, problem: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    shard = newest(run) / "__0_0.distcp"
    damage(shard)  # type: ignore[operator]
    with pytest.raises(UserError, match=r"__0_0\.distcp: .*" + problem):
        verify_sharded(newest(run))
    with pytest.warns(UserWarning, match=r"skipping .*__0_0\.distcp.*" + problem):
        found = resume_checkpoint(run / "checkpoints")
    assert found is not None and found[0].name == "step_00000003.dcp"
    for argv in (["eval", "knn", str(newest(run)), "--no-baseline"],
                 ["export", str(newest(run)), "--format", "safetensors",
                  "--out", str(tmp_path / "w.safetensors")]):
        code, err = cli(*argv, capsys=capsys)
        assert code == 2, err
        assert "__0_0.distcp" in err and "Traceback" not in err
    assert not (tmp_path / "w.safetensors").exists()


def test_a_flipped_shard_of_a_folder_without_records_is_caught_by_its_length_only(
        run: Path) -> None:
    """Folders written before records existed load unverified (as old .pt files do)."""
    folder = newest(run)
    for record in folder.glob("*.sha256"):
        record.unlink()
    for record in folder.glob(".*.sha256"):
        record.unlink()
    meta = torch.load(folder / "jepa_kit.pt", weights_only=True)
    del meta["checksums"]
    torch.save(meta, folder / "jepa_kit.pt")
    verify_sharded(folder)  # complete and of the right length: nothing to object to
    _truncate(folder / "__0_0.distcp")
    with pytest.raises(UserError, match="truncated shard"):
        verify_sharded(folder)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 7 MiB tmpfs: room for one tiny checkpoint, not two."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=7m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (root needed): {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("fmt", [
    ["train.checkpoint_format=file"],
    ["train.checkpoint_format=sharded"],
    ["train.checkpoint_format=sharded", "train.async_checkpoint=true"],
    ["train.checkpoint_format=file", "train.async_checkpoint=true"],
], ids=["file", "sharded", "sharded-async", "file-async"])
def test_a_full_disk_names_the_checkpoint_and_the_lack_of_space(
        small_disk: Path, fmt: list[str]) -> None:
    out = small_disk / "run"
    recipe = load_recipe(QUICKSTART, [*TINY, *fmt, "train.max_steps=9", "train.keep_last=1"])
    with pytest.raises(UserError, match=r"step_00000006\.(pt|dcp): the checkpoint could not be "
                                        r"written \(no space left on the device: free space"):
        train(recipe, output_dir=out, quiet=True)
    ckpt = list_checkpoints(out / "checkpoints")
    assert [p.name.split(".")[0] for p in ckpt] == ["step_00000003"]
    assert load_checkpoint(ckpt[0])["step"] == 3  # the previous checkpoint is intact


def test_two_processes_resume_past_a_payload_without_running_it(
        run: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    plant_index_payload(newest(run), marker)
    done = run_cli("run", str(QUICKSTART), "-o", str(run), "-q", "--resume", "--nproc", "2",
                   *sets(*SHARDED, "train.max_steps=4"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert not marker.exists()
    assert "refused" in done.stderr and "step_00000006.dcp" in done.stderr
    assert load_checkpoint(run / "checkpoints" / "step_00000004.dcp")["step"] == 4

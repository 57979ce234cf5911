"""Sharded (DCP) and background checkpoints in one process: exact resume, host snapshots,
failed writes, and readers that take either format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from jepa_kit.checkpoint import (
    CheckpointRecord,
    list_checkpoints,
    load_checkpoint,
    resume_checkpoint,
)
from jepa_kit.checkpoint.sharded import partial_path, read_meta
from jepa_kit.checkpoint.writer import Checkpointer, optimizer_by_index, optimizer_by_name
from jepa_kit.errors import UserError
from jepa_kit.recipe import load_recipe
from jepa_kit.rundir.metrics import read_metrics
from jepa_kit.train.distributed import DistInfo
from jepa_kit.train.parallel import Parallel
from jepa_kit.train.trainer import train
from tests.train.helpers import QUICKSTART, TINY


def _losses(out: Path) -> list[float]:
    return [r["loss"] for r in read_metrics(out / "metrics.jsonl") if "loss" in r]


@pytest.mark.parametrize("background", [False, True])
def test_sharded_checkpoints_resume_exactly(tmp_path: Path, background: bool) -> None:
    fmt = ["train.checkpoint_format=sharded", f"train.async_checkpoint={str(background).lower()}"]
    whole = train(load_recipe(QUICKSTART, [*TINY, *fmt, "train.max_steps=6"]),
                  output_dir=tmp_path / "whole", quiet=True)
    names = [p.name for p in list_checkpoints(tmp_path / "whole" / "checkpoints")]
    assert names == ["step_00000003.dcp", "step_00000006.dcp"]
    assert whole.checkpoint == tmp_path / "whole" / "checkpoints" / "step_00000006.dcp"
    meta = read_meta(whole.checkpoint)
    assert (meta["step"], meta["layout"], meta["networks"]) == (
        6, "sharded", ["encoder", "target_encoder", "predictor"])

    half = tmp_path / "half"
    train(load_recipe(QUICKSTART, [*TINY, *fmt, "train.max_steps=3"]), output_dir=half,
          quiet=True)
    again = train(load_recipe(QUICKSTART, [*TINY, *fmt, "train.max_steps=6"]), output_dir=half,
                  resume=True, quiet=True)
    assert again.step == 6
    assert _losses(half) == _losses(tmp_path / "whole")  # bit for bit
    a, b = load_checkpoint(whole.checkpoint), load_checkpoint(again.checkpoint)
    for network in ("encoder", "target_encoder", "predictor"):
        assert a[network].keys() == b[network].keys()
        assert all(torch.equal(a[network][k], b[network][k]) for k in a[network])


def test_a_file_checkpoint_resumes_into_the_sharded_format_and_export_reads_both(
        tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from jepa_kit.interop.export import export_checkpoint

    out = tmp_path / "run"
    train(load_recipe(QUICKSTART, [*TINY, "train.max_steps=3"]), output_dir=out, quiet=True)
    train(load_recipe(QUICKSTART, [*TINY, "train.max_steps=6",
                                   "train.checkpoint_format=sharded"]),
          output_dir=out, resume=True, quiet=True)
    names = [p.name for p in list_checkpoints(out / "checkpoints")]
    assert names == ["step_00000003.pt", "step_00000006.dcp"]
    whole = tmp_path / "whole"
    train(load_recipe(QUICKSTART, [*TINY, "train.max_steps=6"]), output_dir=whole, quiet=True)
    assert _losses(out) == _losses(whole)  # the format is not part of the computation

    a = export_checkpoint(out / "checkpoints" / "step_00000006.dcp", fmt="safetensors",
                          out=tmp_path / "a.safetensors")
    b = export_checkpoint(whole / "checkpoints" / "step_00000006.pt", fmt="safetensors",
                          out=tmp_path / "b.safetensors")
    wa, wb = load_file(str(a)), load_file(str(b))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def _tiny() -> tuple[nn.ModuleDict, torch.optim.Optimizer]:
    torch.manual_seed(0)
    modules = nn.ModuleDict({"encoder": nn.Linear(4, 3), "predictor": nn.Linear(3, 2)})
    params = list(modules.parameters())
    optimizer = torch.optim.AdamW([{"params": params[:3]}, {"params": params[3:],
                                                            "weight_decay": 0.0}])
    modules["predictor"](modules["encoder"](torch.randn(2, 4))).sum().backward()
    optimizer.step()
    return modules, optimizer


def record(step: int) -> CheckpointRecord:
    return CheckpointRecord(step=step, recipe={}, step_in_epoch=step, method="ijepa",
                            networks=dict.fromkeys(["encoder", "predictor"]))


@pytest.mark.parametrize("fmt", ["file", "sharded"])
def test_a_background_save_writes_the_state_of_its_step(tmp_path: Path, fmt: str) -> None:
    modules, optimizer = _tiny()
    before = {k: v.clone() for k, v in modules["encoder"].state_dict().items()}
    saver = Checkpointer(tmp_path, dist=DistInfo(), parallel=Parallel("ddp", DistInfo(),
                         torch.device("cpu")), fmt=fmt, background=True, keep_last=3)
    path = saver.save(record(1), modules, optimizer)
    with torch.no_grad():  # the run goes on while the file is written
        for p in modules.parameters():
            p.add_(1.0)
    saver.close()
    assert path.exists() and not partial_path(path).exists()
    saved = load_checkpoint(path)
    assert all(torch.equal(saved["encoder"][k], before[k]) for k in before)


def test_a_failed_background_write_names_the_file_and_keeps_older_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    modules, optimizer = _tiny()
    saver = Checkpointer(tmp_path, dist=DistInfo(), parallel=Parallel("ddp", DistInfo(),
                         torch.device("cpu")), fmt="file", background=True, keep_last=1)
    first = saver.save(record(1), modules, optimizer)
    saver.wait()

    def disk_full(path: Path, payload: dict) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("jepa_kit.checkpoint.writer.save_checkpoint", disk_full)
    saver.save(record(2), modules, optimizer)
    with pytest.raises(UserError, match=r"step_00000002\.pt: the checkpoint could not be "
                                        r"written \(no space left on the device: .*intact"):
        saver.wait()
    assert list_checkpoints(tmp_path) == [first]  # keep_last=1 pruned nothing
    assert load_checkpoint(first)["step"] == 1
    saver.close()


def test_optimizer_state_maps_between_indices_and_names() -> None:
    _, optimizer = _tiny()
    names = [["encoder.weight", "encoder.bias", "predictor.weight"], ["predictor.bias"]]
    saved = optimizer.state_dict()
    by_name = optimizer_by_name(saved, names, "ck.pt")
    assert sorted(by_name["state"]) == sorted(n for g in names for n in g)
    assert by_name["param_groups"][1]["params"] == ["predictor.bias"]
    assert by_name["param_groups"][1]["weight_decay"] == 0.0
    back = optimizer_by_index(by_name, names)
    assert back["param_groups"] == saved["param_groups"]
    assert all(torch.equal(back["state"][i]["exp_avg"], saved["state"][i]["exp_avg"])
               for i in saved["state"])
    with pytest.raises(UserError, match=r"ck\.pt: its optimizer state has groups of \[3, 1\] "
                                        r"parameters, the run's optimizer \[2, 2\]"):
        optimizer_by_name(saved, [names[0][:2], [*names[0][2:], *names[1]]], "ck.pt")


def test_an_unfinished_sharded_folder_is_never_resumed(tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(load_recipe(QUICKSTART, [*TINY, "train.max_steps=3",
                                   "train.checkpoint_format=sharded"]), output_dir=out,
          quiet=True)
    folder = out / "checkpoints" / "step_00000003.dcp"
    (folder / ".metadata").unlink()  # as if the index was never written
    with pytest.raises(UserError, match=r"step_00000003\.dcp: incomplete sharded checkpoint "
                                        r"\(no \.metadata\)"):
        resume_checkpoint(out / "checkpoints")
    # A killed save's .partial folder is removed when the next run starts.
    stale = out / "checkpoints" / "step_00000009.dcp.partial"
    stale.mkdir()
    (folder / ".metadata").write_bytes(b"")  # restore a (bad) index so the run may start fresh
    train(load_recipe(QUICKSTART, [*TINY, "train.max_steps=1"]), output_dir=tmp_path / "new",
          quiet=True)
    assert stale.exists()  # another run's folder is never touched
    json.loads((tmp_path / "new" / "run.json").read_text())

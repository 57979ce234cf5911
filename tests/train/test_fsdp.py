"""FSDP2 on two CPU processes (gloo): the same training as DDP, sharded checkpoints written in
the background, and checkpoints that move between DDP, FSDP and one process."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from jepa_kit.rundir.checkpoint import list_checkpoints, load_checkpoint
from jepa_kit.rundir.metrics import read_metrics
from tests.train.helpers import QUICKSTART, TINY, run_cli, sets

pytestmark = pytest.mark.slow

FSDP = ["distributed.strategy=fsdp", "train.async_checkpoint=true"]


def _run(out: Path, *overrides: str, resume: bool = False) -> None:
    done = run_cli("run", str(QUICKSTART), *sets(*TINY, *overrides), "-o", str(out),
                   "--nproc", "2", "--quiet", *(["--resume"] if resume else []))
    assert done.returncode == 0, done.stderr[-3000:]


def _losses(out: Path) -> list[float]:
    return [r["loss"] for r in read_metrics(out / "metrics.jsonl") if "loss" in r]


def _close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5, msg=key)


def test_fsdp_trains_as_ddp_and_checkpoints_cross_strategies(tmp_path: Path) -> None:
    ddp, fsdp = tmp_path / "ddp", tmp_path / "fsdp"
    _run(ddp, "train.max_steps=6")
    _run(fsdp, "train.max_steps=6", *FSDP)

    # The same update in another order of sums: equal losses and weights to float tolerance.
    torch.testing.assert_close(_losses(fsdp), _losses(ddp), rtol=1e-5, atol=1e-6)
    assert [p.name for p in list_checkpoints(fsdp / "checkpoints")] == [
        "step_00000003.dcp", "step_00000006.dcp"]
    sharded = load_checkpoint(fsdp / "checkpoints" / "step_00000006.dcp")
    whole = load_checkpoint(ddp / "checkpoints" / "step_00000006.pt")
    assert sharded["strategy"] == "fsdp" and sharded["world_size"] == 2
    for network in ("encoder", "target_encoder", "predictor"):
        _close(sharded[network], whole[network])

    # A DDP file checkpoint continues under FSDP ...
    for path in list_checkpoints(ddp / "checkpoints"):
        if path.name != "step_00000003.pt":
            path.unlink()
    _run(ddp, "train.max_steps=6", *FSDP, resume=True)
    torch.testing.assert_close(_losses(ddp), _losses(fsdp), rtol=1e-5, atol=1e-6)
    # ... and an FSDP sharded checkpoint under DDP.
    shutil.rmtree(fsdp / "checkpoints" / "step_00000006.dcp")
    _run(fsdp, "train.max_steps=6", "train.checkpoint_format=file", resume=True)
    torch.testing.assert_close(_losses(fsdp), _losses(ddp), rtol=1e-5, atol=1e-6)
    again = load_checkpoint(fsdp / "checkpoints" / "step_00000006.pt")
    for network in ("encoder", "target_encoder", "predictor"):
        _close(again[network], whole[network])

    # Export reads a sharded folder like a file.
    from safetensors.torch import load_file

    for name, source in (("a", ddp / "checkpoints" / "step_00000006.dcp"),
                         ("b", fsdp / "checkpoints" / "step_00000006.pt")):
        exported = run_cli("export", str(source), "--out", str(tmp_path / f"{name}.safetensors"))
        assert exported.returncode == 0, exported.stderr[-2000:]
    _close(load_file(str(tmp_path / "a.safetensors")), load_file(str(tmp_path / "b.safetensors")))


def test_fsdp_with_accumulation_clipping_bf16_and_periodic_knn(tmp_path: Path) -> None:
    settings = ("train.max_steps=4", "train.accumulate_steps=2", "train.grad_clip=1.0",
                "train.precision=bf16", "eval.every_epochs=1", "data.val_size=64")
    _run(tmp_path / "fsdp", *settings, *FSDP)
    _run(tmp_path / "ddp", *settings)
    rows = read_metrics(tmp_path / "fsdp" / "metrics.jsonl")
    reference = read_metrics(tmp_path / "ddp" / "metrics.jsonl")
    steps = [r for r in rows if "loss" in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4]
    torch.testing.assert_close([r["grad_norm"] for r in steps],
                               [r["grad_norm"] for r in reference if "loss" in r], rtol=1e-4,
                               atol=1e-5)
    # Each rank scores its share of the val set with a gathered copy of the sharded encoder.
    evals = [(r["step"], r["knn_top1"]) for r in rows if "knn_top1" in r]
    assert evals == [(r["step"], r["knn_top1"]) for r in reference if "knn_top1" in r]
    assert [s for s, _ in evals] == [2, 4]

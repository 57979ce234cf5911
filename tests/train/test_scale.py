"""Scale features on CPU: accumulation equals the larger batch, clipping, activation
checkpointing, and two-process runs that stop together and resume on another world size."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
import torch

from jepa_kit.maskers.base import Masker, MaskerConfig, Masks
from jepa_kit.recipe import load_recipe
from jepa_kit.registry import registry
from jepa_kit.rundir.metrics import read_metrics
from jepa_kit.train.trainer import Trainer, train
from tests.train.helpers import QUICKSTART, TINY, run_cli, sets

pytestmark = pytest.mark.slow


class FixedMasker(Masker):
    """The same context and target patches for every image and batch (8x8 grid)."""

    class Config(MaskerConfig):
        kind: Literal["fixed_test"] = "fixed_test"

    def __init__(self, config: Config, *, grid: tuple[int, ...]) -> None:
        self.config = config

    def sample(self, batch_size: int, step: int, generator: torch.Generator) -> Masks:
        context = torch.arange(0, 40).expand(batch_size, -1)
        targets = torch.stack([torch.arange(40 + 6 * j, 46 + 6 * j) for j in range(4)])
        return Masks(context.contiguous(), targets[:, None, :].expand(-1, batch_size, -1)
                     .contiguous())


@pytest.fixture
def fixed_masker() -> Iterator[None]:
    registry("masker").register("fixed_test", FixedMasker)
    yield
    registry("masker").unregister("fixed_test")


def recipe(*overrides: str) -> object:
    return load_recipe(QUICKSTART, [*TINY, "masker.kind=fixed_test", "train.max_steps=2",
                                    "optim.warmup_epochs=0", *overrides])


def weights_after(tmp_path: Path, *overrides: str) -> dict[str, torch.Tensor]:
    trainer = Trainer(recipe(*overrides), output_dir=tmp_path, quiet=True)  # type: ignore[arg-type]
    try:
        trainer.run()
        return {f"{n}.{k}": v.clone() for n, net in trainer.method.networks.items()
                for k, v in net.state_dict().items()}
    finally:
        trainer.close()


def test_accumulation_gives_the_update_of_the_larger_batch(fixed_masker: None,
                                                           tmp_path: Path) -> None:
    big = weights_after(tmp_path / "big", "train.batch_size=16")
    acc = weights_after(tmp_path / "acc", "train.batch_size=8", "train.accumulate_steps=2")
    assert big.keys() == acc.keys()
    for key in big:
        torch.testing.assert_close(acc[key], big[key], rtol=1e-4, atol=1e-6, msg=key)
    rows = read_metrics(tmp_path / "acc" / "metrics.jsonl")
    # Schedules count optimizer steps: 128 images, 16 a step -> 8 steps per epoch, as "big".
    assert [r["step"] for r in rows] == [1, 2]
    assert json.loads((tmp_path / "acc" / "run.json").read_text())["iterations_per_epoch"] == 8
    assert rows[-1]["lr"] == read_metrics(tmp_path / "big" / "metrics.jsonl")[-1]["lr"]


def test_grad_clip_bounds_the_update_and_logs_the_norm(fixed_masker: None,
                                                       tmp_path: Path) -> None:
    start = weights_after(tmp_path / "none", "train.max_steps=1", "optim.lr=1e-12",
                          "optim.start_lr=1e-12")
    clipped = weights_after(tmp_path / "clip", "train.max_steps=1", "train.grad_clip=1e-12")
    free = weights_after(tmp_path / "free", "train.max_steps=1")
    key = "encoder.blocks.0.attn.qkv.weight"
    moved_clipped = float((clipped[key] - start[key]).abs().max())
    moved_free = float((free[key] - start[key]).abs().max())
    assert moved_clipped < moved_free / 100
    row = read_metrics(tmp_path / "clip" / "metrics.jsonl")[-1]
    assert row["grad_norm"] > 1e-6  # the norm before clipping


def test_activation_checkpointing_changes_nothing_but_memory(tmp_path: Path) -> None:
    tiny = [*TINY, "train.max_steps=3"]
    plain = train(load_recipe(QUICKSTART, tiny), output_dir=tmp_path / "plain", quiet=True)
    ckpt = train(load_recipe(QUICKSTART, [*tiny, "train.activation_checkpointing=true"]),
                 output_dir=tmp_path / "ckpt", quiet=True)
    assert ckpt.losses == pytest.approx(plain.losses, rel=1e-6)


def test_a_nonfinite_step_stops_every_rank(tmp_path: Path) -> None:
    # A checkpoint step that is not a log step: rank 0 used to check alone and the other rank
    # hung at the next collective.
    result = run_cli("run", str(QUICKSTART), *sets(*TINY, "optim.lr=1e6", "optim.start_lr=1e6",
                                                    "train.max_steps=6", "train.log_every=4",
                                                    "train.checkpoint_every=1"),
                     "-o", str(tmp_path), "--nproc", "2", "--quiet", timeout=300)
    assert result.returncode != 0
    assert "non-finite" in result.stderr
    assert "Timeout" not in result.stderr


def test_resume_on_another_world_size_with_sharded_knn(tmp_path: Path) -> None:
    common = [*TINY, "train.checkpoint_every=2", "eval.every_epochs=1", "data.val_size=32"]
    first = run_cli("run", str(QUICKSTART), *sets(*common, "train.max_steps=8"), "-o",
                    str(tmp_path), "--nproc", "2", "--quiet", timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    knn = [r for r in read_metrics(tmp_path / "metrics.jsonl") if "knn_top1" in r]
    assert len(knn) == 2 and all(0.0 <= r["knn_top1"] <= 1.0 for r in knn)  # 4 steps an epoch
    second = run_cli("run", str(QUICKSTART), *sets(*common, "train.max_steps=12"), "-o",
                     str(tmp_path), "--resume", timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "processes: 2 -> 1" in second.stdout + second.stderr
    finished = json.loads((tmp_path / "finished.json").read_text())
    assert finished["step"] == 12 and finished["resumed_from_step"] == 8

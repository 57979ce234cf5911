"""Sampler, collate and loader: reproducible batches whatever the worker layout."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
import torch
from PIL import Image

from jepa_kit.data.image_folder import ImageFolder
from jepa_kit.data.loader import (
    Batch,
    Collator,
    EpochBatchSampler,
    batches_per_epoch,
    build_eval_loader,
    build_loader,
    mix_seed,
    set_epoch,
    write_skipped_files,
)
from jepa_kit.data.synthetic import SyntheticShapes
from jepa_kit.data.transforms import EvalTransform
from jepa_kit.maskers.base import Masker, MaskerConfig, Masks
from jepa_kit.views.single import SingleView


class RandomMaskerConfig(MaskerConfig):
    kind: Literal["test_random"] = "test_random"


class RandomMasker(Masker):
    """Random distinct patches from the given generator: context 6, two targets of 3."""

    Config = RandomMaskerConfig

    def __init__(self, config: RandomMaskerConfig, grid: tuple[int, int]) -> None:
        self.num_patches = grid[0] * grid[1]

    def sample(self, batch_size: int, step: int, generator: torch.Generator) -> Masks:
        order = torch.stack(
            [torch.randperm(self.num_patches, generator=generator) for _ in range(batch_size)]
        )
        return Masks(
            context=order[:, :6], targets=order[:, 6:12].reshape(batch_size, 2, 3).transpose(0, 1)
        )


def views(ds: torch.utils.data.Dataset) -> SingleView:
    return SingleView(SingleView.Config(), img_size=ds.config.img_size)  # type: ignore[attr-defined]


def dataset(n: int = 24) -> SyntheticShapes:
    return SyntheticShapes(SyntheticShapes.Config(img_size=16, native_size=32, train_size=n))


def loader(**overrides: object) -> torch.utils.data.DataLoader:
    ds = dataset()
    kwargs = {"batch_size": 4, "seed": 7, "num_workers": 0}
    kwargs.update(overrides)
    masker = RandomMasker(RandomMasker.Config(), grid=(4, 4))
    collate = Collator(masker, kwargs["seed"], kwargs.get("rank", 0))  # type: ignore[arg-type]
    return build_loader(ds, views(ds), collate, **kwargs)  # type: ignore[arg-type]


def assert_same(a: list[Batch], b: list[Batch]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert (x.step, x.epoch) == (y.step, y.epoch)
        assert torch.equal(x.images, y.images) and torch.equal(x.labels, y.labels)
        assert torch.equal(x.masks.context, y.masks.context)
        assert torch.equal(x.masks.targets, y.masks.targets)


def test_mix_seed_is_stable_and_spreads() -> None:
    assert mix_seed(1, 2, 3) == mix_seed(1, 2, 3) < 2**64
    assert len({mix_seed(0, e, i) for e in range(10) for i in range(100)}) == 1000
    assert mix_seed(1, 2) != mix_seed(2, 1)


@pytest.mark.parametrize(
    ("n", "world", "drop_last"), [(40, 2, True), (43, 3, True), (43, 3, False)]
)
def test_ranks_are_disjoint_and_cover(n: int, world: int, drop_last: bool) -> None:
    per_rank = [
        [
            key
            for batch in EpochBatchSampler(n, 4, 5, 1, r, world, drop_last=drop_last)
            for key in batch
        ]
        for r in range(world)
    ]
    expected = batches_per_epoch(n, 4, world, drop_last)
    for r in range(world):
        assert len(list(EpochBatchSampler(n, 4, 5, 1, r, world, drop_last=drop_last))) == expected
    indices = [i for keys in per_rank for _, _, i in keys]
    if drop_last:
        assert len(indices) == len(set(indices)) == expected * 4 * world
    else:
        assert set(indices) == set(range(n))
        assert len(indices) == world * len(per_rank[0])


def test_global_steps_and_start_batch() -> None:
    full = list(EpochBatchSampler(30, 4, seed=1, epoch=2))
    assert len(full) == batches_per_epoch(30, 4) == 7
    assert [batch[0][0] for batch in full] == list(range(14, 21))
    assert all(key[:2] == (batch[0][0], 2) for batch in full for key in batch)
    resumed = EpochBatchSampler(30, 4, seed=1, epoch=2, start_batch=5)
    assert len(resumed) == 2 and list(resumed) == full[5:]
    resumed.set_epoch(3)
    assert [b[0][0] for b in resumed] == list(range(21, 28))
    assert sorted(i for b in resumed for _, _, i in b) != sorted(i for b in full for _, _, i in b)


def test_permutation_depends_on_seed_and_epoch_only() -> None:
    a = list(EpochBatchSampler(30, 4, seed=1, epoch=0))
    assert a == list(EpochBatchSampler(30, 4, seed=1, epoch=0))
    assert a != list(EpochBatchSampler(30, 4, seed=2, epoch=0))
    assert a != list(EpochBatchSampler(30, 4, seed=1, epoch=1))


def test_too_little_data_is_a_user_error() -> None:
    with pytest.raises(ValueError, match=r"train\.batch_size"):
        EpochBatchSampler(7, 4, seed=0, world_size=2)


def test_batch_fields_and_device_move() -> None:
    batch = next(iter(loader()))
    assert batch.images.shape == (4, 3, 16, 16) and batch.images.dtype == torch.float32
    assert batch.labels.dtype == torch.int64 and batch.step == 0 and len(batch) == 4
    assert batch.masks.context.shape == (4, 6) and batch.masks.targets.shape == (2, 4, 3)
    moved = batch.to("cpu", non_blocking=True)
    assert torch.equal(moved.masks.targets, batch.masks.targets)
    if torch.cuda.is_available():
        assert batch.pin_memory().images.is_pinned()


def test_workers_do_not_change_batches() -> None:
    serial = list(loader())
    assert_same(serial, list(loader(num_workers=2)))
    assert_same(serial, list(loader(num_workers=1, persistent_workers=False)))


def test_persistent_loader_is_reused_across_epochs() -> None:
    reused = loader(num_workers=2)
    assert reused.persistent_workers
    first = list(reused)
    set_epoch(reused, 1, start_batch=2)
    second = list(reused)
    assert_same(first, list(loader()))
    assert_same(second, list(loader(epoch=1, start_batch=2)))
    assert second[0].step == 6 + 2


def test_masks_depend_on_rank() -> None:
    a, b = next(iter(loader(world_size=2))), next(iter(loader(world_size=2, rank=1)))
    assert a.step == b.step and not torch.equal(a.masks.context, b.masks.context)


@pytest.mark.parametrize("workers", [0, 2])
def test_skipped_files_reach_the_batch_by_name(tmp_path: Path, workers: int) -> None:
    for i in range(8):
        Image.new("RGB", (8, 8), (i, 0, 0)).save(tmp_path / f"{i}.png")
    (tmp_path / "3.png").write_bytes(b"")
    (tmp_path / "4.png").write_bytes(b"\x89PNG truncated")
    ds = ImageFolder(ImageFolder.Config(root=str(tmp_path), img_size=8, skip_corrupt=True))
    masker = RandomMasker(RandomMasker.Config(), grid=(4, 4))
    batches = list(
        build_loader(ds, views(ds), Collator(masker, 0), batch_size=4, seed=0,
                     num_workers=workers)
    )
    # Index 3 skips 3.png and 4.png, index 4 skips 4.png: three replacements, two files.
    assert sum(b.skipped for b in batches) == 3
    names = [name for b in batches for name in b.skipped_files]
    assert sorted(names) == sorted([str(tmp_path / "3.png")] + [str(tmp_path / "4.png")] * 2)
    assert all(len(b.skipped_files) == b.skipped for b in batches)
    moved = next(b for b in batches if b.skipped).to("cpu")
    assert moved.skipped_files and moved.skipped == len(moved.skipped_files)


def test_write_skipped_files_appends_each_name_once(tmp_path: Path) -> None:
    path = write_skipped_files(tmp_path, [])
    assert path == tmp_path / "skipped_files.txt" and not path.exists()
    write_skipped_files(tmp_path, ["a/1.png", "b/2.png", "a/1.png"])
    assert write_skipped_files(tmp_path, ("b/2.png", "c/3.png")) == path
    assert path.read_text() == "a/1.png\nb/2.png\nc/3.png\n"
    with path.open("a") as f:
        f.write("d/4.p")  # a kill mid-append leaves a torn line
    write_skipped_files(tmp_path, iter(["e/5.png", "c/3.png"]))
    assert path.read_text().splitlines() == ["a/1.png", "b/2.png", "c/3.png", "d/4.p", "e/5.png"]


def test_eval_loader_is_sequential_and_sharded() -> None:
    ds = dataset(10)
    transform = EvalTransform(ds.config)
    batches = list(build_eval_loader(ds, transform, batch_size=4))
    assert [len(labels) for _, labels in batches] == [4, 4, 2]
    labels = torch.cat([labels for _, labels in batches])
    assert labels.tolist() == [ds.label(i) for i in range(10)]
    assert torch.equal(batches[0][0][1], transform(ds[1][0]))
    shard = list(build_eval_loader(ds, transform, batch_size=4, rank=1, world_size=3))
    assert torch.cat([lab for _, lab in shard]).tolist() == [ds.label(i) for i in (1, 4, 7)]

"""Tar shards: the writer and its manifest, the streamed order, splits, resume and errors."""

from __future__ import annotations

import bisect
import json
import tarfile
from pathlib import Path

import pytest

from jepa_kit.cli.app import main
from jepa_kit.data.image_folder import DataError
from jepa_kit.data.loader import batches_per_epoch
from jepa_kit.data.shard_writer import even_sizes, write_shards
from jepa_kit.data.stream import StreamLayout, buffer_shuffle
from jepa_kit.errors import UserError
from jepa_kit.registry import registry
from tests.data.shard_helpers import (
    CLASSES,
    batches,
    dataset,
    image_folder,
    indices,
    sample_table,
    shards,
)


def test_registered_under_its_kind() -> None:
    from jepa_kit.data.shard_dataset import WebDatasetShards

    assert registry("dataset").load("webdataset") is WebDatasetShards


def test_shard_cli_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images = image_folder(tmp_path / "images", per_class=11)  # 33 images
    with pytest.raises(SystemExit) as done:
        main(["data", "shard", str(images), "--out", str(tmp_path / "s"), "--shard-size", "10",
              "-q"])
    assert done.value.code in (0, None)
    assert "wrote 33 samples (3 classes) in 4 shard(s) of 8-9" in capsys.readouterr().out
    record = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert record["classes"] == list(CLASSES) and record["num_samples"] == 33
    assert [s["samples"] for s in record["shards"]] == [9, 8, 8, 8]
    # Every image appears once, byte for byte, with its class folder's label and its index as
    # key; the one-time shuffle mixes the classes within a shard.
    source = {p.read_bytes(): CLASSES.index(p.parent.name) for p in images.rglob("*.png")}
    seen, keys = {}, []
    for entry in record["shards"]:
        with tarfile.open(tmp_path / "s" / entry["name"]) as tar:
            names = tar.getnames()
            assert len(names) == 2 * entry["samples"]
            for name in names[::2]:
                key = name.split(".")[0]
                keys.append(key)
                label = int(tar.extractfile(f"{key}.cls").read())
                seen[tar.extractfile(f"{key}.png").read()] = label
        assert entry["bytes"] == (tmp_path / "s" / entry["name"]).stat().st_size
    assert seen == source
    assert keys == [f"{i:08d}" for i in range(33)]
    data = dataset(tmp_path / "s", streams=1)
    assert data.classes == list(CLASSES)
    assert len({data[i][1] for i in range(9)}) > 1


def test_writer_refuses_bad_input(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="IMAGE_FOLDER .*missing.* does not exist"):
        write_shards(str(tmp_path / "missing"), str(tmp_path / "out"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no images"):
        write_shards(str(tmp_path / "empty"), str(tmp_path / "out"))
    images = image_folder(tmp_path / "images", per_class=2)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(UserError, match="--out .*full.* is not empty"):
        write_shards(str(images), str(tmp_path / "full"))


def test_even_sizes() -> None:
    assert even_sizes(33, 10) == [9, 8, 8, 8]
    assert even_sizes(30, 10) == [10, 10, 10]
    assert even_sizes(5, 100) == [5]


def test_buffer_shuffle_is_a_seeded_permutation() -> None:
    import random

    for size in (0, 3, 50):
        out = list(buffer_shuffle(iter(range(20)), size, random.Random(1)))
        assert sorted(out) == list(range(20))
        assert out == list(buffer_shuffle(iter(range(20)), size, random.Random(1)))
        assert (out == list(range(20))) == (size == 0)


def test_layout_rule() -> None:
    # 5 shards on 2 ranks x 2 streams: each stream reads at least 1 shard, the smallest (7).
    layout = StreamLayout((9, 9, 9, 9, 7), world_size=2, streams=2)
    assert layout.stream_length == 7 and layout.samples_per_epoch == 28
    assert sorted(i for s in layout.epoch_streams(0, 3) for i in s) == [0, 1, 2, 3, 4]
    assert layout.epoch_streams(0, 3) != layout.epoch_streams(0, 4)
    with pytest.raises(UserError, match=r"5 shard\(s\) cannot feed 3 process\(es\) x "
                                        r"data.streams = 2"):
        StreamLayout((9, 9, 9, 9, 7), world_size=3, streams=2).check("data.root")


def test_epoch_order_is_deterministic_and_changes_with_epoch(tmp_path: Path) -> None:
    data = dataset(shards(tmp_path))
    table = sample_table(data)
    first = indices(batches(data, epoch=0), table)
    assert len(data) == 36 and len(first) == 36  # 4 shards, 2 streams: nothing dropped
    assert sorted(i for _, i in first) == list(range(36))
    assert [s for s, _ in first] == [b for b in range(9) for _ in range(4)]
    again = batches(dataset(data.manifest.path.parent), epoch=0)
    assert indices(again, table) == first
    second = indices(batches(data, epoch=1), table)
    assert sorted(i for _, i in second) == list(range(36))
    assert [i for _, i in second] != [i for _, i in first]
    assert [s for s, _ in second] == [9 + b for b in range(9) for _ in range(4)]
    other_seed = indices(batches(data, epoch=0, seed=1), table)
    assert [i for _, i in other_seed] != [i for _, i in first]
    # Augmentation follows the sample (its manifest index) and the epoch, not its position.
    aug = {i: float(b.images[k, 0, 0, 0]) for b in batches(data) for k, (_, i) in
           enumerate(indices([b], table))}
    aug_again = {i: float(b.images[k, 0, 0, 0]) for b in batches(data, seed=0, batch_size=3)
                 for k, (_, i) in enumerate(indices([b], table))}
    assert aug == aug_again


def test_worker_count_does_not_change_the_order(tmp_path: Path) -> None:
    data = dataset(shards(tmp_path), streams=2)
    table = sample_table(data)
    main_process = indices(batches(data, epoch=2), table)
    assert indices(batches(data, epoch=2, num_workers=2), table) == main_process
    assert indices(batches(data, epoch=2, num_workers=1), table) == main_process


def test_ranks_read_disjoint_shards_and_take_equal_steps(tmp_path: Path) -> None:
    # 5 shards (36 images: 8, 7, 7, 7, 7) on 2 ranks x 2 streams: each stream takes 7 samples
    # an epoch, every rank 14 (3 batches of 4); the fifth shard's samples wait for another
    # epoch, and which shard that is changes with the epoch.
    data = dataset(shards(tmp_path, shard_size=8))
    table = sample_table(data)
    assert [s.samples for s in data.manifest.shards] == [8, 7, 7, 7, 7]
    assert data.num_samples == 36 and len(data) == 28  # one process, 2 streams of 14
    seen = []
    for epoch in (0, 1):
        ranks = [indices(batches(data, epoch=epoch, rank=r, world_size=2), table) for r in (0, 1)]
        assert len(data) == 28 and batches_per_epoch(len(data), 4, 2) == 3
        assert [len(r) for r in ranks] == [12, 12]
        assert [s for s, _ in ranks[0]] == [s for s, _ in ranks[1]]
        mine = [{i for _, i in r} for r in ranks]
        assert not mine[0] & mine[1] and len(mine[0]) == len(mine[1]) == 12
        # Whole shards per rank: no shard feeds both.
        starts = data.manifest.offsets()
        shards_of = [{bisect.bisect_right(starts, i) - 1 for i in m} for m in mine]
        assert not shards_of[0] & shards_of[1]
        seen.append(mine[0] | mine[1])
    assert seen[0] != seen[1]


def test_num_workers_must_divide_streams(tmp_path: Path) -> None:
    data = dataset(shards(tmp_path), streams=2)
    with pytest.raises(UserError, match=r"data.num_workers = 3 must divide data.streams = 2"):
        batches(data, num_workers=3)


def test_resume_mid_epoch_in_the_loader(tmp_path: Path) -> None:
    data = dataset(shards(tmp_path))
    table = sample_table(data)
    whole = indices(batches(data, epoch=1), table)
    for k in (1, 4, 8):
        tail = indices(batches(data, epoch=1, start_batch=k), table)
        assert tail == whole[4 * k:]
    # With replaced samples too: the replacements do not depend on where reading started.
    broken = dataset(shards(tmp_path / "broken", broken=3), skip_corrupt=True)
    whole_batches = batches(broken, epoch=1)
    for k in (2, 5):
        tail = batches(broken, epoch=1, start_batch=k)
        assert [b.images.tolist() for b in tail] == [b.images.tolist() for b in whole_batches[k:]]
        assert [b.skipped_files for b in tail] == [b.skipped_files for b in whole_batches[k:]]


def test_corrupt_samples_are_counted_and_skipped(tmp_path: Path) -> None:
    root = shards(tmp_path, broken=2)
    with pytest.raises(DataError, match=r"cannot read sample '\d{8}' of shard .*shard-\d{6}"
                                        r"\.tar: UnidentifiedImageError.*data.skip_corrupt"):
        batches(dataset(root))
    data = dataset(root, skip_corrupt=True)
    found = batches(data)
    assert len(found) == 9 and sum(len(b) for b in found) == 36
    assert sum(b.skipped for b in found) == 2
    names = [n for b in found for n in b.skipped_files]
    assert len(names) == 2 and all(".tar:" in n for n in names)
    # The named samples are the broken ones: their bytes are the fake PNG.
    for name in names:
        shard, key = name.rsplit(":", 1)
        with tarfile.open(shard) as tar:
            assert tar.extractfile(f"{key}.png").read() == b"not a png at all"
    # Indexing (feature extraction) skips them too.
    assert data[int(names[0].rsplit(":", 1)[1])][0].size == (32, 32)
    assert data.skipped == 1


def test_missing_folder_and_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"data.root = '.*nowhere' does not exist; point it at "
                                        r"a folder of tar shards written by `jepa-kit data "
                                        r"shard`"):
        dataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"holds no shards and no manifest.json"):
        dataset(tmp_path / "empty")
    root = shards(tmp_path)
    (root / "manifest.json").unlink()
    with pytest.raises(UserError, match=r"holds 4 .tar file\(s\) but no manifest.json; write "
                                        r"shards with `jepa-kit data shard"):
        dataset(root)


def test_manifest_mismatch(tmp_path: Path) -> None:
    root = shards(tmp_path)
    manifest = root / "manifest.json"
    record = json.loads(manifest.read_text())
    # A shard cut short after the manifest was written.
    shard = root / "shard-000002.tar"
    shard.write_bytes(shard.read_bytes()[:5000])
    with pytest.raises(UserError, match=r"shard-000002.tar has 5000 bytes, its manifest .* says "
                                        r"\d+: it was changed or cut short"):
        dataset(root)
    # A missing shard.
    shard.unlink()
    with pytest.raises(UserError, match=r"the shard .*shard-000002.tar listed in .* is missing"):
        dataset(root)
    # A count that disagrees with the shard (sizes not recorded): found while streaming.
    record["shards"] = [dict(s, samples=10) if s["name"] == "shard-000001.tar" else s
                        for s in record["shards"] if s["name"] != "shard-000002.tar"]
    for s in record["shards"]:
        s.pop("bytes")
    manifest.write_text(json.dumps(record))
    with pytest.raises(UserError, match=r"shard-000001.tar holds 9 samples, its manifest .* says "
                                        r"10: the manifest does not match the shards"):
        batches(dataset(root, streams=1), batch_size=1)
    manifest.write_text("{}")
    with pytest.raises(UserError, match=r"is not a jepa-kit shard manifest \(format is None"):
        dataset(root)


def test_validation_split_needs_val_root(tmp_path: Path) -> None:
    from jepa_kit.data.shard_dataset import WebDatasetShards, WebDatasetShardsConfig

    root = shards(tmp_path)
    config = WebDatasetShardsConfig(root=str(root))
    with pytest.raises(UserError, match="has no validation split; set data.val_root"):
        WebDatasetShards(config, train=False)
    val = WebDatasetShards(config.model_copy(update={"val_root": str(root)}), train=False)
    assert len(val) == 36 and val[35][1] in (0, 1, 2)


def test_shard_cli_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["data", "shard", str(tmp_path / "missing"), "--out", str(tmp_path / "out")])
    assert done.value.code == 2
    assert "IMAGE_FOLDER" in capsys.readouterr().err


def test_errors_in_workers_name_the_sample(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"cannot read sample '\d{8}' of shard .*\.tar"):
        batches(dataset(shards(tmp_path, broken=2)), num_workers=2)


def test_feature_extraction_reads_shards_by_index(tmp_path: Path) -> None:
    import numpy as np
    import torch

    from jepa_kit.data.loader import build_eval_loader
    from jepa_kit.data.shard_dataset import WebDatasetShards, WebDatasetShardsConfig

    root = shards(tmp_path)
    config = WebDatasetShardsConfig(root=str(root), val_root=str(root), img_size=32)
    val = WebDatasetShards(config, train=False)

    def to_tensor(image: object) -> torch.Tensor:
        return torch.from_numpy(np.array(image)).permute(2, 0, 1).float()

    parts = [list(build_eval_loader(val, to_tensor, batch_size=5, rank=r, world_size=2,
                                    num_workers=w)) for r, w in ((0, 2), (1, 0))]
    labels = [torch.cat([lab for _, lab in part]) for part in parts]
    assert [len(x) for x in labels] == [18, 18]
    expected = [val[i][1] for i in range(36)]
    assert labels[0].tolist() == expected[0::2] and labels[1].tolist() == expected[1::2]
    first = parts[0][0][0][0]
    assert torch.equal(first, to_tensor(val[0][0]))
    # A training set of 5 shards uses 28 samples an epoch; feature extraction reads all 36.
    train = dataset(shards(tmp_path / "five", shard_size=8))
    assert len(train) == 28
    loader = build_eval_loader(train, to_tensor, batch_size=8)
    assert sum(len(lab) for _, lab in loader) == 36


def test_leaving_a_loop_early_and_iterating_again(tmp_path: Path) -> None:
    from jepa_kit.data.loader import Collator, build_loader
    from tests.data.shard_helpers import index_views

    loader = build_loader(dataset(shards(tmp_path)), index_views, Collator(None, 0),
                          batch_size=4, seed=0, num_workers=2)
    for batch in loader:
        assert len(batch) == 4
        break
    assert len(list(loader)) == 9  # the loader iterates again from the start


@pytest.mark.filterwarnings("ignore:This DataLoader will create 4 worker")
def test_remainder_batches_in_any_worker_layout_and_on_resume(tmp_path: Path) -> None:
    # 9 shards of 4 on 4 streams: each stream takes 8 samples, 2 whole batches of 3 and a
    # remainder of 2; the 4 remainders (8 samples) give 2 more batches: 10 in all.
    data = dataset(shards(tmp_path, shard_size=4), streams=4)
    table = sample_table(data)
    whole = indices(batches(data, batch_size=3), table)
    assert len(whole) == 30 and len({i for _, i in whole}) == 30
    assert [s for s, _ in whole] == [b for b in range(10) for _ in range(3)]
    for workers in (2, 4):
        assert indices(batches(data, batch_size=3, num_workers=workers), table) == whole
    for k in (7, 8, 9):
        for workers in (0, 2):
            tail = batches(data, batch_size=3, start_batch=k, num_workers=workers)
            assert indices(tail, table) == whole[3 * k:]

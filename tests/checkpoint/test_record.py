"""The checkpoint record: payload round trips, migrations from every earlier format version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from jepa_kit.checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    CheckpointError,
    CheckpointRecord,
    CheckpointVersionError,
    migrate,
    read_checkpoint,
    write_checkpoint,
)
from jepa_kit.checkpoint.migrate import MIGRATIONS, V1_NETWORKS


def weights(seed: int) -> dict[str, torch.Tensor]:
    return {"w": torch.arange(4.0) + seed, "b": torch.full((2,), float(seed))}


def v1_payload() -> dict[str, Any]:
    """What jepa-kit wrote before methods were plug-ins (format version 1): I-JEPA's three
    networks under their names, no ``method`` or ``networks`` key, no hash record."""
    return {"format": FORMAT, "format_version": 1, "step": 7, "epoch": 1, "step_in_epoch": 3,
            "encoder": weights(1), "target_encoder": weights(2), "predictor": weights(3),
            "optimizer": None, "rng": None, "recipe": {"run": {"seed": 0}},
            "versions": {"jepa-kit": "0.0.9"}, "metrics": {"loss": 0.5}}


def test_every_earlier_version_has_a_migration() -> None:
    assert sorted(MIGRATIONS) == list(range(1, FORMAT_VERSION))


def test_a_version_1_file_reads_as_an_ijepa_record(tmp_path: Path) -> None:
    path = tmp_path / "step_00000007.pt"
    torch.save(v1_payload(), path)  # by hand: version 1 files have no .sha256 record
    record = read_checkpoint(path)
    assert (record.step, record.epoch, record.step_in_epoch) == (7, 1, 3)
    assert record.method == "ijepa" and tuple(record.networks) == V1_NETWORKS
    assert torch.equal(record.weights("predictor")["w"], weights(3)["w"])
    assert record.recipe == {"run": {"seed": 0}} and record.metrics == {"loss": 0.5}
    assert record.to_payload()["format_version"] == FORMAT_VERSION


def test_migration_leaves_its_input_alone() -> None:
    old = v1_payload()
    new = migrate(old, "old.pt")
    assert "method" not in old and old["format_version"] == 1
    assert new["networks"] == list(V1_NETWORKS) and new["format_version"] == FORMAT_VERSION


def test_a_record_round_trips_through_a_file_with_unknown_keys_kept(tmp_path: Path) -> None:
    record = CheckpointRecord(
        step=3, recipe={"method": {"kind": "lejepa"}}, epoch=1, step_in_epoch=2,
        method="lejepa", networks={"encoder": weights(0), "projector": weights(1)},
        optimizer={"state": {}, "param_groups": []}, rng={"torch": torch.zeros(3)},
        versions={"jepa-kit": "0.1.0"}, metrics={"loss": 1.0}, iterations_per_epoch=5,
        world_size=2, strategy="ddp", extra={"history": [1, 2]})
    path = write_checkpoint(tmp_path / "step_00000003.pt", record)
    again = read_checkpoint(path)
    assert again.to_payload().keys() == record.to_payload().keys()
    assert (again.world_size, again.strategy, again.extra) == (2, "ddp", {"history": [1, 2]})
    assert torch.equal(again.weights("projector")["b"], weights(1)["b"])


def test_a_sharded_record_keeps_names_but_no_tensors() -> None:
    record = CheckpointRecord(step=1, recipe={}, networks={"encoder": weights(0)},
                              optimizer={"state": {}})
    payload = record.without_tensors().to_payload()
    assert payload["networks"] == ["encoder"] and payload["layout"] == "sharded"
    assert "encoder" not in payload and "optimizer" not in payload
    meta = CheckpointRecord.from_payload(payload, "x.dcp", tensors=False)
    assert meta.sharded and meta.networks == {"encoder": None}
    with pytest.raises(CheckpointError, match=r"x\.dcp: the checkpoint has no 'encoder'"):
        meta.weights("encoder", "x.dcp")


@pytest.mark.parametrize(("change", "error", "message"), [
    ({"format_version": FORMAT_VERSION + 1}, CheckpointVersionError, "upgrade jepa-kit"),
    ({"format_version": "2"}, CheckpointError, "format version '2'"),
    ({"step": 1.5}, CheckpointError, "step is 1.5, not a whole number"),
    ({"networks": "encoder"}, CheckpointError, "not a list of names"),
])
def test_a_bad_payload_names_its_source_and_problem(
        change: dict[str, Any], error: type[Exception], message: str) -> None:
    payload = {**CheckpointRecord(step=1, recipe={}).to_payload(), **change}
    with pytest.raises(error, match=f"a.pt: .*{message}"):
        CheckpointRecord.from_payload(payload, "a.pt")


def test_a_named_network_without_weights_is_refused(tmp_path: Path) -> None:
    payload = {**v1_payload(), "format_version": 2, "networks": ["encoder", "head"]}
    with pytest.raises(CheckpointError, match=r"b.pt: checkpoint lacks head"):
        CheckpointRecord.from_payload(payload, "b.pt")


def test_a_hand_written_payload_without_a_network_list_finds_its_networks() -> None:
    payload = {"format": FORMAT, "format_version": 2, "step": 0, "recipe": {},
               "encoder": weights(0), "note": {"text": "kept"}}
    record = CheckpointRecord.from_payload(payload, "c.pt")
    assert list(record.networks) == ["encoder"] and record.extra == {"note": {"text": "kept"}}

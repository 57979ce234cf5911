"""import-reference finds the importer by asking every method's whether the file is its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
import torch

from jepa_kit.interop.reference import ReferenceCheckpointError, importers, read_reference
from jepa_kit.methods.ijepa import IJEPA
from jepa_kit.methods.ijepa.importer import IJEPAImporter, ReferenceWeights
from jepa_kit.methods.vjepa.importer import VJEPAImporter
from jepa_kit.registry import registry
from tests.conftest import FIXTURES


class MarkedImporter(IJEPAImporter):
    """Claims I-JEPA-layout files whose encoder holds a ``marker`` tensor."""

    method: ClassVar[str] = "marked"
    architecture: ClassVar[str] = "marked ViT"
    priority: ClassVar[int] = 0  # more specific than the I-JEPA catch-all it builds on

    @classmethod
    def claims(cls, raw: dict[str, Any]) -> bool:
        return "marker" in raw["encoder"]

    @classmethod
    def read(cls, raw: dict[str, Any], path: Path, num_heads: int | None) -> ReferenceWeights:
        encoder = {k: v for k, v in raw["encoder"].items() if k != "marker"}
        return super().read({**raw, "encoder": encoder}, path, num_heads)


class Marked(IJEPA):
    class Config(IJEPA.Config):
        kind: Literal["marked"] = "marked"  # type: ignore[assignment]

    reference_importer = MarkedImporter


class ClaimsAll(MarkedImporter):
    priority: ClassVar[int] = -1  # as broad as the I-JEPA catch-all

    @classmethod
    def claims(cls, raw: dict[str, Any]) -> bool:
        return True


class Greedy(Marked):
    reference_importer = ClaimsAll


@pytest.fixture
def marked() -> Iterator[None]:
    registry("method").register("marked", Marked)
    yield
    registry("method").unregister("marked")


def _marked_file(tmp_path: Path) -> Path:
    raw = torch.load(FIXTURES / "tiny_checkpoint.pth.tar", weights_only=True)
    raw["encoder"]["marker"] = torch.zeros(1)
    path = tmp_path / "marked.pth.tar"
    torch.save(raw, path)
    return path


def test_the_built_in_methods_declare_their_importers() -> None:
    found = importers()
    assert found["ijepa"] is IJEPAImporter and found["vjepa"] is VJEPAImporter
    assert "lejepa" not in found  # no official checkpoints to read
    assert all(imp.method == name for name, imp in found.items())


def test_a_plug_in_importer_is_found_by_sniffing(marked: None, tmp_path: Path) -> None:
    registry("method").register("marked", Greedy, replace=True)  # ties with I-JEPA's claim
    with pytest.raises(ReferenceCheckpointError,
                       match="claimed by the importers of ijepa, marked at the same priority"):
        read_reference(_marked_file(tmp_path))
    registry("method").register("marked", Marked, replace=True)
    importer, weights = read_reference(_marked_file(tmp_path))
    assert importer is MarkedImporter and "marker" not in weights.encoder
    assert weights.encoder_config["embed_dim"] == 96
    plain = FIXTURES / "tiny_checkpoint.pth.tar"
    assert read_reference(plain)[0] is IJEPAImporter  # the marked importer does not claim it

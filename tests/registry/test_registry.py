"""Discovery through entry points: conflicts, broken plugins, the off switch, in-process use."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
import torch

from jepa_kit import registry as R
from jepa_kit.losses.base import Loss, LossConfig


class ExtraLoss(Loss):
    class Config(LossConfig):
        kind: Literal["extra_l1"] = "extra_l1"

    def __init__(self, config: Config) -> None:
        super().__init__()

    def forward(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return (predictions - targets).abs().mean()


def fake_distribution(root: Path, name: str, version: str, entries: dict[str, str]) -> None:
    """A minimal installed distribution (dist-info) declaring ``jepa_kit.losses`` entries."""
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = ["[jepa_kit.losses]", *(f"{k} = {v}" for k, v in entries.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    R.refresh()
    yield tmp_path
    sys.path.remove(str(tmp_path))
    R.refresh()
    R.registry("loss").unregister("extra_l1")


def test_builtins_listed_without_import() -> None:
    R.refresh()
    names = R.registry("loss").names()
    assert {"l2", "smooth_l1"} <= set(names)
    entry = R.registry("loss").entry("l2")
    assert entry.distribution == "jepa-kit" and entry.builtin
    assert entry.value == "jepa_kit.losses.feature:L2Loss"
    assert entry._cls is None  # listing imported nothing


def test_third_party_entry_point_is_found_and_loaded(site: Path) -> None:
    fake_distribution(site, "jepa-kit-extra", "0.3.1",
                      {"extra_l1": "tests.registry.test_registry:ExtraLoss"})
    R.refresh()
    entry = R.registry("loss").entry("extra_l1")
    assert (entry.distribution, entry.version) == ("jepa-kit-extra", "0.3.1")
    assert R.registry("loss").load("extra_l1") is ExtraLoss


def test_name_claimed_twice_names_both_distributions(site: Path) -> None:
    fake_distribution(site, "jepa-kit-rival", "1.0",
                      {"l2": "tests.registry.test_registry:ExtraLoss"})
    R.refresh()
    with pytest.raises(R.RegistryError) as info:
        R.registry("loss").names()
    message = str(info.value)
    assert "'l2' is claimed twice" in message
    assert "jepa-kit 0.1.0" in message and "jepa-kit-rival 1.0" in message


def test_broken_plugin_warns_once_and_others_keep_working(site: Path) -> None:
    fake_distribution(site, "jepa-kit-broken", "0.0.1", {"broken": "no_such_module_xyz:Thing"})
    R.refresh()
    with pytest.warns(R.PluginLoadWarning, match="jepa-kit-broken 0.0.1") as record:
        loaded = R.registry("loss").load_all()
    assert "broken" not in loaded and {"l2", "smooth_l1"} <= set(loaded)
    assert "jepa_kit.losses:broken = no_such_module_xyz:Thing" in str(record[0].message)
    with pytest.raises(R.RegistryError, match="failed to load: ModuleNotFoundError"):
        R.registry("loss").load("broken")


def test_disable_switch_hides_third_party(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_distribution(site, "jepa-kit-extra", "0.3.1",
                      {"extra_l1": "tests.registry.test_registry:ExtraLoss"})
    monkeypatch.setenv(R.DISABLE_ENV, "1")
    R.refresh()
    assert "extra_l1" not in R.registry("loss").names()
    assert "l2" in R.registry("loss").names()


def test_decorator_registers_with_the_same_checks(site: Path) -> None:
    R.register("loss")(ExtraLoss)
    assert R.registry("loss").load("extra_l1") is ExtraLoss
    assert R.registry("loss").entry("extra_l1").distribution == "<in-process>"
    with pytest.raises(R.RegistryError, match="claimed twice"):
        R.register("loss")(ExtraLoss)
    with pytest.raises(R.RegistryError, match="must be the same string"):
        R.register("loss", "other_name")(ExtraLoss)
    with pytest.raises(R.RegistryError, match="not a subclass of Encoder"):
        R.register("encoder", "extra_l1")(ExtraLoss)


def test_unknown_name_suggests_closest() -> None:
    message = R.registry("loss").unknown_message("smoth_l1")
    assert "unknown loss 'smoth_l1'; installed: " in message and "l2" in message
    assert message.endswith("Did you mean 'smooth_l1'?")

"""The random-init baseline's cache key, its cache, and the within-noise rule."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from jepa_kit.eval.baseline import NOISE_SE, BaselineCache, Gain, architecture, cache_dir
from jepa_kit.recipe import load_recipe
from tests.eval.helpers import QUICKSTART


def test_the_standard_error_is_the_binomial_one_of_a_difference() -> None:
    gain = Gain(trained=0.9, baseline=0.5, num_val=100)
    assert gain.top1 == pytest.approx(0.4)
    assert gain.standard_error == pytest.approx(math.sqrt(0.09 / 100 + 0.25 / 100))
    assert not gain.within_noise and "beyond noise" in gain.sentence()
    assert "+40.00 points" in gain.sentence()


@pytest.mark.parametrize("n", [32, 512, 2048])
def test_within_noise_means_at_most_two_standard_errors(n: int) -> None:
    def symmetric(errors: float) -> Gain:
        """Accuracies 0.5 +- g / 2 whose difference g is ``errors`` standard errors: with
        se^2 = 2 (1/4 - g^2 / 4) / n, g = c se solves to g^2 = c^2 / (2 n + c^2)."""
        g = math.sqrt(errors**2 / (2 * n + errors**2))
        gain = Gain(trained=0.5 + g / 2, baseline=0.5 - g / 2, num_val=n)
        assert gain.top1 / gain.standard_error == pytest.approx(errors)
        return gain

    inside, outside = symmetric(0.99 * NOISE_SE), symmetric(1.01 * NOISE_SE)
    assert inside.within_noise and "within noise" in inside.sentence()
    assert not outside.within_noise and "beyond noise" in outside.sentence()
    assert inside.as_json()["within_noise"] is True and outside.as_json()["within_noise"] is False


def test_a_significant_loss_is_said_as_one() -> None:
    worse = Gain(trained=0.3, baseline=0.7, num_val=400)
    assert worse.top1 < 0 and not worse.within_noise
    assert worse.sentence().startswith("The trained encoder scores 40.00 points below")
    # No gain at all (both perfect: zero variance) is within noise, not beyond it.
    assert Gain(trained=1.0, baseline=1.0, num_val=10).within_noise


def test_the_cache_follows_xdg_and_round_trips(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "jepa-kit" / "baselines"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "jepa-kit" / "baselines"

    cache = BaselineCache(tmp_path / "cache")
    key = {"evaluation": {"protocol": "linear", "lrs": (0.001, 0.01)}, "data": {"n": 3}}
    assert cache.load(key) is None
    path = cache.store(key, {"top1": 0.25, "num_val": 32}, checkpoint="ckpt.pt")
    assert cache.load(key) == {"top1": 0.25, "num_val": 32}
    assert json.loads(path.read_text())["checkpoint"] == "ckpt.pt"  # plain JSON, no pickle
    assert cache.load({**key, "data": {"n": 4}}) is None

    # A file under the key's name that holds another key (or garbage) is a miss.
    entry = json.loads(path.read_text())
    path.write_text(json.dumps({**entry, "key": {"something": "else"}}))
    assert cache.load(key) is None
    path.write_text("{not json")
    assert cache.load(key) is None


def test_the_architecture_key_ignores_training_and_follows_the_network() -> None:
    base = load_recipe(QUICKSTART)
    key = architecture(base, "target")
    # Runs that differ only in how they train start from the same network: one baseline.
    for overrides in (["optim.lr=0.0001"], ["train.max_steps=7"], ["data.val_size=99"]):
        assert architecture(load_recipe(QUICKSTART, overrides), "target") == key
    # Another seed, encoder or image size is another network; another encoder choice too.
    for overrides in (["run.seed=1"], ["encoder.depth=1"], ["data.img_size=48"]):
        assert architecture(load_recipe(QUICKSTART, overrides), "target") != key
    assert architecture(base, "context") != key

"""The teacher's horizon: momentum from the run's length, the share of initial weights it keeps,
and the warning that validate and run give when a short run leaves the teacher untrained."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from jepa_kit.recipe import RecipeError, load_recipe
from jepa_kit.target_updaters.ema import EMATargetUpdater
from jepa_kit.target_updaters.retention import retention_warning
from jepa_kit.train.trainer import train
from tests.train.helpers import QUICKSTART, TINY, run_cli

Config = EMATargetUpdater.Config


def test_retained_is_the_product_of_the_momenta() -> None:
    ema = EMATargetUpdater(Config(momentum_start=0.99, momentum_end=1.0), total_steps=50)
    by_hand = math.prod(0.99 + (k - 1) * 0.01 / 50 for k in range(1, 31))
    assert ema.retained(30) == pytest.approx(by_hand, rel=1e-12)
    assert ema.retained(0) == 1.0
    # The quickstart: 0.996 -> 1 over 160 steps keeps about three quarters of the init.
    quick = EMATargetUpdater(Config(), total_steps=160)
    assert quick.retained(160) == pytest.approx(0.7244, abs=1e-4)


def test_a_horizon_sets_the_first_momentum_from_the_runs_length() -> None:
    assert EMATargetUpdater(Config(horizon_steps=20), total_steps=160).value(1) == 0.95
    by_fraction = EMATargetUpdater(Config(horizon_fraction=0.1), total_steps=160)
    assert by_fraction.value(1) == pytest.approx(1 - 1 / 16)
    assert by_fraction.value(161) == pytest.approx(1.0)  # the ramp to momentum_end follows
    assert by_fraction.retained(160) < 0.01
    # A horizon replaces momentum_start, so `--set` on a recipe that names one works.
    both = EMATargetUpdater(Config(momentum_start=0.996, horizon_steps=10), total_steps=100)
    assert both.value(1) == 0.9
    with pytest.raises(ValueError, match="set horizon_steps or horizon_fraction, not both"):
        Config(horizon_steps=10, horizon_fraction=0.1)
    with pytest.raises(ValueError, match=r"momentum_end=0\.5 is below the horizon's starting "
                                         r"momentum 0\.900000"):
        EMATargetUpdater(Config(horizon_steps=10, momentum_end=0.5), total_steps=100)


def test_the_warning_names_the_share_and_the_fix() -> None:
    message = retention_warning(Config(), total_steps=160, run_steps=160)
    assert message is not None
    assert "after the run's 160 steps the target encoder will still hold 72% of its random " \
           "initial weights (momentum 0.996 at step 1 averages over ~250 steps)" in message
    assert "--set target_updater.horizon_fraction=0.1" in message
    assert retention_warning(Config(horizon_fraction=0.1), total_steps=160, run_steps=160) is None
    cut_short = retention_warning(Config(horizon_fraction=0.1), total_steps=160, run_steps=3)
    assert cut_short is not None and cut_short.endswith("learned little; train for more steps")
    assert retention_warning(Config(), total_steps=300 * 5000, run_steps=300 * 5000) is None


def test_validate_warns_for_the_papers_teacher_and_not_for_the_quickstarts() -> None:
    paper = run_cli("validate", str(QUICKSTART), "--set", "target_updater.horizon_fraction=0")
    assert paper.returncode == 0
    assert "warning: " in paper.stdout and "hold 72% of its random initial weights" in \
        " ".join(paper.stdout.split())
    shipped = run_cli("validate", str(QUICKSTART))  # horizon_fraction = 0.1
    assert shipped.returncode == 0 and "warning" not in shipped.stdout
    with pytest.raises(RecipeError, match=r"target_updater.horizon_fraction: Input should be "
                                          r"less than or equal to 1"):
        load_recipe(QUICKSTART, ["target_updater.horizon_fraction=2"])


def test_a_run_warns_at_its_start(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match=r"after the run's 2 steps the target encoder will "
                                         r"still hold 99% of its random initial weights"):
        train(load_recipe(QUICKSTART, [*TINY, "train.max_steps=2",
                                       "target_updater.horizon_fraction=0"]),
              output_dir=tmp_path / "a", quiet=True)

"""Results made after a run (diagnose's maps and numbers) reach that run's trackers."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from jepa_kit.loggers.attach import log_to_run
from jepa_kit.recipe import load_recipe, recipe_to_toml
from tests.train.helpers import QUICKSTART, TINY


def test_log_to_run_sends_metrics_and_images_to_the_run_s_loggers(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    recipe = load_recipe(QUICKSTART, [*TINY, 'loggers=[{kind="tensorboard"}]'])
    (tmp_path / "recipe.toml").write_text(recipe_to_toml(recipe))
    done = log_to_run(tmp_path, step=7, metrics={"diagnose_rankme": 3.5},
                      images={"diagnose/maps": Image.new("RGB", (12, 6), (255, 0, 0))})
    assert done == ["tensorboard"]
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert [(s.step, s.value) for s in events.Scalars("diagnose_rankme")] == [(7, 3.5)]
    image = events.Images("diagnose/maps")[0]
    assert (image.step, image.width, image.height) == (7, 12, 6)
    assert not (tmp_path / "metrics.jsonl").exists()  # the run's own log is left alone


def test_a_run_without_loggers_or_recipe_is_skipped(tmp_path: Path) -> None:
    assert log_to_run(tmp_path, step=1, metrics={"x": 1.0}) == []
    (tmp_path / "recipe.toml").write_text(recipe_to_toml(load_recipe(QUICKSTART, TINY)))
    assert log_to_run(tmp_path, step=1, metrics={"x": 1.0}) == []

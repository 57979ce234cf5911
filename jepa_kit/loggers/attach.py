"""Records made after a run (``jepa-kit diagnose``'s maps, an evaluation's scores) sent to
the trackers of that run: the loggers of its resolved ``recipe.toml``, continuing the tracker
runs whose ids its ``loggers.json`` keeps. ``metrics.jsonl`` is left alone (those commands
write their own files beside it).

Nothing here may fail the command that calls it: a run without loggers is skipped, and a
tracker that cannot be reached is reported as a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from jepa_kit.loggers.base import RunInfo
from jepa_kit.loggers.hub import LoggerWarning, read_state


def log_to_run(run_dir: Path, *, step: int, metrics: Mapping[str, Any] | None = None,
               images: Mapping[str, Image.Image] | None = None) -> list[str]:
    """Send ``metrics`` (one row at ``step``) and ``images`` to the trackers of the run in
    ``run_dir``; the kinds that took them (none when the run lists no loggers)."""
    from jepa_kit.recipe import load_recipe, recipe_to_dict
    from jepa_kit.registry import registry

    recipe_file = Path(run_dir) / "recipe.toml"
    if not recipe_file.is_file():
        return []
    try:
        recipe = load_recipe(recipe_file)
    except Exception as exc:
        warnings.warn(f"{recipe_file}: its loggers were not reached ({exc})", LoggerWarning,
                      stacklevel=2)
        return []
    state = read_state(run_dir)
    done: list[str] = []
    for i, config in enumerate(getattr(recipe, "loggers", [])):
        if config.kind == "jsonl":
            continue
        logger = registry("logger").load(config.kind)(config)
        info = RunInfo(run_dir=Path(run_dir), name=Path(run_dir).name,
                       config=recipe_to_dict(recipe), state=state.get(config.kind, {}),
                       resumed=True, start_step=step, records_only=True)
        try:
            logger.start(info)
            if metrics:
                logger.log_metrics({"step": step, **metrics})
            for key, image in (images or {}).items():
                if logger.takes_images:
                    logger.log_image(key, image, step)
            logger.finish("finished")
            done.append(config.kind)
        except Exception as exc:
            warnings.warn(f"loggers[{i}] ({config.kind}) of {run_dir} did not take the "
                          f"results: {type(exc).__name__}: {exc}", LoggerWarning, stacklevel=2)
    return done


def evaluation_row(protocol: str, result: Mapping[str, Any]) -> dict[str, float]:
    """An evaluation result (``jepa_kit.evaluate``'s JSON) as tracker metrics:
    ``eval_<protocol>_<metric>``, its random-init baseline as ``..._baseline`` and the top-1
    gain over it as ``eval_<protocol>_top1_gain``, where the result has them."""
    def numbers(values: Any) -> dict[str, float]:
        return {k: float(v) for k, v in (values or {}).items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)}

    head = f"eval_{protocol}"
    row = {f"{head}_{k}": v for k, v in numbers(result.get("metrics")).items()}
    baseline = result.get("baseline") or {}
    row.update({f"{head}_{k}_baseline": v for k, v in numbers(baseline.get("metrics")).items()})
    gain = (result.get("gain") or {}).get("top1")
    if isinstance(gain, (int, float)):
        row[f"{head}_top1_gain"] = float(gain)
    return row

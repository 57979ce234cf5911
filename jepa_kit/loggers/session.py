"""Opening a training run's loggers: what the trainer calls once, on rank 0, at set-up.

The loggers get the resolved recipe, the run's facts (``provenance.run_params``) and its tags
(a sweep's variant and seed); when one of them keeps images, a new run also sends the mask
preview of its first batch (``jepa-kit masks``' sheet), so the tracker shows what the masker
does beside the losses.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from jepa_kit.loggers.base import RunInfo
from jepa_kit.loggers.hub import Loggers, LoggerWarning
from jepa_kit.loggers.provenance import run_params

#: Images on the preview sheet.
PREVIEW_IMAGES = 8


def open_run_loggers(recipe: Any, run_dir: Path, *, start_step: int, resumed: bool,
                     tags: Mapping[str, str] | None = None, world_size: int = 1,
                     device: str = "cpu", dataset: Any = None) -> Loggers:
    """Start ``metrics.jsonl`` and the recipe's ``[[loggers]]`` for the run in ``run_dir``;
    ``LoggerSetupError`` (a ``UserError``) when one cannot start."""
    from jepa_kit.recipe import recipe_to_dict

    info = RunInfo(run_dir=Path(run_dir), name=Path(run_dir).name,
                   config=recipe_to_dict(recipe), params=run_params(world_size, device),
                   tags=dict(tags or {}), resumed=resumed, start_step=start_step)
    loggers = Loggers.open(getattr(recipe, "loggers", []), info)
    if loggers.takes_images and not resumed and dataset is not None:
        try:
            image = mask_preview(recipe, dataset)
        except Exception as exc:  # a preview is a courtesy: never the reason a run stops
            warnings.warn(f"no mask preview for the loggers: {type(exc).__name__}: {exc}",
                          LoggerWarning, stacklevel=2)
            image = None
        if image is not None:
            loggers.image("masks/preview", image, start_step)
    return loggers


def mask_preview(recipe: Any, dataset: Any, n: int = PREVIEW_IMAGES) -> Image.Image | None:
    """The recipe's masks over its first ``n`` images, as ``jepa-kit masks`` draws them
    (batch 0 of the run's seed); None for a method without a masker or a video grid."""
    masker_config = getattr(recipe, "masker", None)
    if masker_config is None or len(recipe.grid) != 2:
        return None
    import torch

    from jepa_kit.build import build_masker
    from jepa_kit.data.transforms import EvalTransform
    from jepa_kit.eval.preview import draw_masks, sample_masks

    masker = build_masker(masker_config, grid=recipe.grid)
    count = min(n, len(dataset))
    transform = EvalTransform(recipe.data)
    images = torch.stack([transform(dataset[i][0]) for i in range(count)])
    return draw_masks(images, sample_masks(masker, count, step=0, seed=recipe.run.seed),
                      recipe.grid)

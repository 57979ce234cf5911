"""Data pipeline: does the loader starve the train step?

Three numbers per setting, all with the recipe's ``data.num_workers`` (default 2):

* loader alone: images/s out of ``build_loader`` (synthetic images drawn and augmented by
  the recipe's views, masks sampled by the method's ``Collator`` in the workers);
* step alone: images/s of the train step on pre-loaded batches (``bench_step.TrainStep``);
* together: the trainer's loop (``for batch in loader: step(batch)``), images/s and the share
  of wall time spent waiting for the next batch.

On a 2-core machine the workers and the step's threads share the same cores, so "together" is
the honest answer: the loader can outrun the step on its own and still slow it down.
Settings: the quickstart recipe as shipped, and ViT-S/16 at 224 px (predictor depth 12,
batch 16) with images drawn at 256 px so the crop resizes as it would on ImageNet.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from bench_step import StepConfig, TrainStep, default_levers, recipe_for
from common import Result, loadavg, median, script_main, settle

from jepa_kit.build import build_dataset, build_masker, build_views
from jepa_kit.data.loader import Collator, build_loader, set_epoch

#: A wait above this share of the loop's wall time counts as starving the step.
STARVING = 0.05


@dataclass(frozen=True)
class DataSetting:
    name: str
    step: StepConfig
    native_size: int | None  # synthetic image side before the crop; None: the recipe's
    batches: int  # batches timed per measurement


def settings(quick: bool) -> list[DataSetting]:
    return [
        DataSetting("quickstart", StepConfig("quickstart", 32, 4, 2, batch=64), None,
                    15 if quick else 30),
        DataSetting("ViT-S/16 224", StepConfig("small", 224, 16, 12), 256, 2 if quick else 3),
    ]


def make_loader(recipe: Any, grid: tuple[int, int], num_workers: int
                ) -> torch.utils.data.DataLoader:
    # The trainer's loader: the recipe's views and the masker's collator in the workers.
    dataset = build_dataset(recipe.data, train=True, seed=recipe.run.seed)
    views = build_views(recipe.views, img_size=recipe.img_size)
    collator = Collator(build_masker(recipe.masker, grid=grid), recipe.run.seed, 0)
    return build_loader(dataset, views, collator, batch_size=recipe.train.batch_size,
                        seed=recipe.run.seed, num_workers=num_workers)


def loader_alone(loader: torch.utils.data.DataLoader, batches: int) -> float:
    """Images/s after the first batch (worker start-up is not steady state)."""
    set_epoch(loader, 0)
    it = iter(loader)
    first = next(it)
    tic = time.perf_counter()
    n = 0
    for _ in range(batches):
        n += len(next(it))
    del it
    return n / (time.perf_counter() - tic) if len(first) else float("nan")


def first_batches(loader: torch.utils.data.DataLoader, count: int) -> list[Any]:
    set_epoch(loader, 0)
    it = iter(loader)
    batches = [next(it) for _ in range(count)]
    del it
    return batches


def step_alone(step: TrainStep, batches: list[Any]) -> float:
    """Images/s of the step on pre-loaded batches, after one untimed pass over them."""
    for batch in batches:  # new shapes: oneDNN kernels and heap growth, paid once per run
        step(*_parts(batch))
    times = []
    for batch in batches:
        tic = time.perf_counter()
        step(*_parts(batch))
        times.append(time.perf_counter() - tic)
    return len(batches[0]) / median(times)


def together(step: TrainStep, loader: torch.utils.data.DataLoader, batches: int
             ) -> tuple[float, float]:
    """(images/s, share of wall time waiting for data) of the trainer's loop.

    Epoch 0 again, so the step sees the shapes ``step_alone`` warmed up: what is left of the
    difference is the loader's doing (waiting, or its processes taking the step's cores).
    """
    set_epoch(loader, 0)
    it = iter(loader)
    next(it)  # start-up, not timed
    wait = 0.0
    n = 0
    wall = time.perf_counter()
    for _ in range(batches):
        tic = time.perf_counter()
        batch = next(it)
        wait += time.perf_counter() - tic
        step(*_parts(batch))
        n += len(batch)
    wall = time.perf_counter() - wall
    del it
    return n / wall, wait / wall


def _parts(batch: Any) -> tuple[torch.Tensor, Any]:
    return batch.images, batch.masks


def measure(setting: DataSetting, num_workers: int | None = None,
            threads: int | None = None) -> dict[str, Any]:
    recipe = recipe_for(setting.step)
    if setting.native_size is not None:
        recipe.data = recipe.data.model_copy(update={"native_size": setting.native_size})
    workers = recipe.data.num_workers if num_workers is None else num_workers
    default_threads = torch.get_num_threads()
    threads = threads or default_threads
    step = TrainStep(recipe, default_levers())
    loader = make_loader(recipe, step.encoder.grid, workers)
    busy = settle()
    load = loadavg()
    torch.set_num_threads(threads)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fed = loader_alone(loader, setting.batches)
            need = step_alone(step, first_batches(loader, 1 + setting.batches)[1:])
            both, waiting = together(step, loader, setting.batches)
    finally:
        torch.set_num_threads(default_threads)
    return {
        "setting": f"{setting.name} w{workers} t{threads}", "workers": workers,
        "threads": threads, "batch": recipe.train.batch_size, "img": recipe.img_size,
        "loader_images_per_s": fed, "step_images_per_s": need,
        "together_images_per_s": both, "data_wait_share": waiting,
        "loader_over_step": fed / need, "starves": waiting > STARVING,
        "slowdown": 1 - both / need, "loadavg": load, "busy_cores": busy,
    }


def run(quick: bool = False) -> Result:
    """Loader throughput vs the step's need, with the default workers (and 0/1 for contrast)."""
    rows = []
    for setting in settings(quick):
        rows.append(measure(setting))
        if not quick and setting.name == "quickstart":
            # Workers share the 2 cores with the step's threads: the alternatives.
            rows += [measure(setting, num_workers=w, threads=t)
                     for w, t in ((2, 1), (1, 1), (1, 2), (0, 2))]
    result = Result("data", ["setting", "batch", "loader_images_per_s", "step_images_per_s",
                             "together_images_per_s", "data_wait_share", "slowdown",
                             "loader_over_step", "starves", "busy_cores"], rows)
    result.notes.append(f"starving = the loop waits for data > {STARVING:.0%} of its wall time; "
                        "slowdown = 1 - together / step alone (waiting plus cores lost to the "
                        "workers); w = data.num_workers, t = torch threads of the step")
    result.track("setting", "loader_images_per_s")
    result.track("setting", "together_images_per_s")
    return result


if __name__ == "__main__":
    raise SystemExit(script_main(run))

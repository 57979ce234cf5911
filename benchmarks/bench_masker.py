"""Masker: ms to sample the masks of one batch of 128, on one thread.

The masker runs inside each data-loader worker, once per batch, next to the image decoding;
one thread is what a worker gets. Each call builds a fresh seeded generator, as the loader's
``MaskCollator`` does. Target: <= 1 ms per batch of 128 at 224 px / patch 16 (the reference's
collator takes ~18 ms).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import torch
from common import Result, loadavg, median, script_main, settle, spread

from jepa_kit.build import build_masker
from jepa_kit.recipe import validate_recipe

#: (image size, patch size) -> grid side; the paper's resolutions.
SETTINGS = [(224, 16), (224, 14), (448, 16)]
MODES = ["reference", "uniform"]
BATCH = 128
TARGET_MS = 1.0  # at 224 / 16


def build(img: int, patch: int, mode: str) -> Any:
    recipe = validate_recipe({
        "data": {"kind": "synthetic", "img_size": img},
        "encoder": {"kind": "vit", "size": "tiny", "patch_size": patch},
        "masker": {"kind": "multiblock", "mode": mode},
    })
    side = img // patch
    return build_masker(recipe.masker, grid=(side, side))


def measure(img: int, patch: int, mode: str, calls: int) -> dict[str, Any]:
    masker = build(img, patch, mode)
    times: list[float] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rare relaxed contexts: the warning is not the cost
        for step in range(-5, calls):  # 5 warm-up calls
            tic = time.perf_counter()
            masks = masker.sample(BATCH, max(step, 0), torch.Generator().manual_seed(step))
            if step >= 0:
                times.append(time.perf_counter() - tic)
    ms = median(times) * 1e3
    return {
        "setting": f"{img}/{patch} {mode}", "img": img, "patch": patch, "mode": mode,
        "grid": f"{img // patch}x{img // patch}", "batch": BATCH,
        "context_len": int(masks.context.shape[1]), "target_len": int(masks.targets.shape[2]),
        "ms_per_batch": ms, "p90_ms": sorted(times)[int(0.9 * len(times))] * 1e3,
        "spread": spread(times),
        "meets_1ms": ms <= TARGET_MS if (img, patch) == (224, 16) else float("nan"),
    }


def run(quick: bool = False) -> Result:
    """Multiblock masker, batch of 128, one thread, both modes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        busy = settle()
        load = loadavg()
        rows = [measure(img, patch, mode, 100 if quick else 300)
                for img, patch in SETTINGS for mode in MODES]
    finally:
        torch.set_num_threads(threads)
    result = Result("masker", ["setting", "grid", "context_len", "target_len", "ms_per_batch",
                               "p90_ms", "spread", "meets_1ms"], rows)
    result.notes.append(f"one thread, batch {BATCH}, median of {100 if quick else 300} calls; "
                        f"load average {load:.2f} at the start, {busy:.2f} cores busy elsewhere")
    result.track("setting", "ms_per_batch", as_name="ms", higher_is_better=False)
    return result


if __name__ == "__main__":
    raise SystemExit(script_main(run))

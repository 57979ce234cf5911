"""V-JEPA train step: ms per step, clips/s, tokens/s and achieved GFLOP/s vs the matmul ceiling.

The step is what the trainer does for ``method.kind = "vjepa"`` on a CPU: ``VJEPA.forward``
(target encoder on the whole clip, then per mask generator the context encoder and the
predictor) -> one ``float(loss)`` (the NaN guard) -> zero_grad -> backward -> AdamW step ->
EMA update, with the masks of the recipe's ``multiblock3d`` masker (short- and long-range
generators). Tokens/s counts the clip's tubelet tokens (B x T/2 x H/p x W/p) per second of
step; clips/s is what a loader must deliver to keep the step busy: set it against
``bench_video_decode.py``'s clips/s per worker to see how many decoding workers the step needs.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` over one forward+backward of the
first mask batch (the optimizer and EMA do no matmuls); "share" divides the achieved GFLOP/s by
the machine's ``n x n`` matmul rate in the same dtype (``common.matmul_ceiling``), so it says
how much of the BLAS ceiling the step reaches whatever the machine. Each row times ``repeats``
steps over a fixed set of 4 mask batches after one untimed pass over them.

Rows: the quickstart recipe as it is (fp32 and bf16) and, without ``--quick``, a ViT-S/16 on
16-frame 112 px clips (392 tokens, batch 4): V-JEPA's shapes at a CPU-sized scale.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from common import REPO, Result, loadavg, matmul_ceiling, median, script_main, settle, spread
from torch.utils.flop_counter import FlopCounterMode

from jepa_kit.build import build_method
from jepa_kit.data.loader import Batch
from jepa_kit.optim.adamw import build_adamw
from jepa_kit.optim.schedules import ScheduleLengths
from jepa_kit.recipe import load_recipe

RECIPE = REPO / "recipes" / "quickstart_video.toml"


@dataclass(frozen=True)
class Setting:
    name: str
    overrides: tuple[str, ...] = ()


SETTINGS = (
    Setting("quickstart fp32"),
    Setting("quickstart bf16", ("train.precision=bf16",)),
    Setting("ViT-S/16 112px 16x2 fp32", (
        "encoder.size=small", "encoder.embed_dim=384", "encoder.depth=12",
        "encoder.num_heads=6", "encoder.patch_size=16", "encoder.num_frames=16",
        "data.num_frames=16", "data.img_size=112", "predictor.embed_dim=192",
        "predictor.num_heads=6", "predictor.depth=4", "train.batch_size=4")),
)


def measure(setting: Setting, repeats: int) -> dict:
    recipe = load_recipe(RECIPE, list(setting.overrides))
    torch.manual_seed(0)
    method = build_method(recipe, lengths=ScheduleLengths(ipe=1000, epochs=1, warmup_epochs=0))
    nets = method.networks
    optimizer = build_adamw([nets[n] for n in method.trainable], betas=(0.9, 0.999), eps=1e-8,
                            fused=False)
    for group in optimizer.param_groups:
        group["lr"] = 1e-4
    b, frames, side = recipe.train.batch_size, recipe.data.num_frames, recipe.img_size
    clips = torch.randn(b, 3, frames, side, side, generator=torch.Generator().manual_seed(0))
    labels = torch.zeros(b, dtype=torch.long)
    masks = [method.masker.sample(b, i, torch.Generator().manual_seed(i)) for i in range(4)]

    def step(i: int) -> None:
        out = method.forward(Batch([clips], labels, masks[i % 4], i, 0), nets)
        float(out.loss.detach())  # the trainer's non-finite guard syncs here
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        with torch.no_grad():
            method.after_step(i + 1)

    with FlopCounterMode(display=False) as counter:
        method.forward(Batch([clips], labels, masks[0], 0, 0), nets).loss.backward()
    optimizer.zero_grad(set_to_none=True)
    flops = counter.get_total_flops()
    for i in range(4):  # untimed: kernels for each mask shape, the heap at its peak
        step(i)
    times = []
    for i in range(repeats):
        tic = time.perf_counter()
        step(i)
        times.append(time.perf_counter() - tic)
    dtype = torch.bfloat16 if recipe.train.precision == "bf16" else torch.float32
    ceiling = matmul_ceiling(dtype)
    seconds = median(times)
    tokens = b * nets["encoder"].num_patches
    gflops = flops / seconds / 1e9
    return {"setting": setting.name, "grid": "x".join(map(str, nets["encoder"].grid)),
            "batch": b, "ms_step": 1e3 * seconds, "spread": spread(times),
            "clips_s": b / seconds, "tokens_s": tokens / seconds,
            "gflop_step": flops / 1e9, "gflop_s": gflops, "ceiling_gflop_s": ceiling,
            "share": gflops / ceiling}


def run(quick: bool = False) -> Result:
    """ms/step, clips/s, tokens/s and share of the matmul ceiling of the V-JEPA step."""
    busy = settle()
    load = loadavg()
    settings = SETTINGS[:1] if quick else SETTINGS
    rows = [measure(s, 3 if quick else 8) for s in settings]
    result = Result("video_step", ["setting", "grid", "batch", "ms_step", "spread", "clips_s",
                                   "tokens_s", "gflop_step", "gflop_s", "ceiling_gflop_s",
                                   "share"], rows)
    result.notes.append(f"torch on {torch.get_num_threads()} threads; median of "
                        f"{3 if quick else 8} steps over 4 mask batches; load average "
                        f"{load:.2f} at the start, {busy:.2f} cores busy elsewhere")
    result.notes.append("clips_s is what the loader must deliver: compare bench_video_decode's "
                        "clips/s per worker")
    result.track("setting", "tokens_s")
    return result


if __name__ == "__main__":
    raise SystemExit(script_main(run))

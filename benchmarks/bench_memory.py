"""Memory: peak resident memory of a train step, and proof that attention is never materialised.

Each config runs in a fresh subprocess (the RSS high-water mark belongs to a whole process, so
configs must not share one): RSS after building the models, then after two steps (the first
allocates AdamW's state, the second has it plus the activations), so the step's own peak is the
difference. The mark is ``VmHWM`` from ``/proc/self/status``, which starts afresh at ``exec``;
``getrusage``'s ``ru_maxrss`` does not (a child started by a large parent reports the parent's
peak). ``tracemalloc`` cannot see torch's allocator.

The attention audit runs one more step under a ``TorchDispatchMode`` that sees every aten op
below autograd and autocast. Hooks on the attention modules record each call's (B, H, N);
the audit fails if any op returns a (B, H, N, N) or (B*H, N, N) tensor (unless N equals the head
width, where q, k and v have that shape too), if a softmax runs, or
if the fused SDPA kernels (``aten::_scaled_dot_product_*``) were not called once per block and
pass (forward: context encoder + target encoder + predictor; backward: the trained two).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from collections import Counter
from dataclasses import asdict
from typing import Any

import torch
from bench_step import (
    StepConfig,
    TrainStep,
    default_levers,
    random_images,
    recipe_for,
    sample_masks,
)
from common import Result, precisions, script_main
from torch.utils import _pytree as pytree
from torch.utils._python_dispatch import TorchDispatchMode


def rss_mib() -> float:
    """Peak resident memory of this process so far, MiB."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    # Not Linux: ru_maxrss is KiB on Linux and BSD, bytes on macOS; the order of magnitude
    # is what this table is for.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class AttentionAudit(TorchDispatchMode):
    """Records SDPA kernel calls and any op output shaped like an attention matrix."""

    def __init__(self) -> None:
        super().__init__()
        self.forbidden: set[tuple[int, ...]] = set()
        self.calls: Counter[str] = Counter()
        self.found: list[str] = []

    def watch(self, model: torch.nn.Module) -> None:
        def record(module: torch.nn.Module, args: tuple[Any, ...]) -> None:
            b, n, _ = args[0].shape
            h = module.num_heads
            if n != module.head_dim:  # else q/k/v/out have the shape too; counts still check
                self.forbidden |= {(b, h, n, n), (b * h, n, n)}

        for sub in model.modules():
            if hasattr(sub, "fused_attn") and hasattr(sub, "num_heads"):
                sub.register_forward_pre_hook(record)

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None
                           ) -> Any:
        out = func(*args, **(kwargs or {}))
        name = func.overloadpacket.__name__
        if "scaled_dot_product" in name or "softmax" in name:
            self.calls[name] += 1
        if not func.is_view:  # q/k/v are views of qkv; only new tensors can be the matrix
            for t in pytree.tree_leaves(out):
                if isinstance(t, torch.Tensor) and tuple(t.shape) in self.forbidden:
                    self.found.append(f"aten::{name} -> {tuple(t.shape)}")
        return out


#: Exit status of a child stopped by its memory cap (``guard_rss``).
OVER_CAP = 3


def available_mib() -> float:
    """MemAvailable of the machine, MiB (inf where /proc/meminfo is missing)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("inf")


def guard_rss(cap_mib: float) -> None:
    """Stop this process (exit ``OVER_CAP``) once its peak RSS passes ``cap_mib``: a config
    that does not fit is reported as "more than the cap" instead of taking the machine down
    with it (no swap: the OOM killer may pick another process)."""
    import os
    import threading
    import time

    def watch() -> None:
        while True:
            if rss_mib() > cap_mib:
                os._exit(OVER_CAP)
            time.sleep(0.1)

    threading.Thread(target=watch, daemon=True).start()


def child(cfg: StepConfig) -> dict[str, Any]:
    """Runs in the subprocess: RSS figures and the attention audit of one config."""
    base = rss_mib()
    recipe = recipe_for(cfg)
    step = TrainStep(recipe, default_levers())
    images = random_images(recipe.img_size, cfg.batch)
    masks = sample_masks(recipe, step.encoder.grid, cfg.batch, 3)
    built = rss_mib()
    step(images, masks[0])
    step(images, masks[1])
    peak = rss_mib()

    audit = AttentionAudit()
    for module in (step.encoder, step.target_encoder, step.predictor):
        audit.watch(module)
    with audit:
        step(images, masks[2])
    enc, pred = step.encoder.depth, len(step.predictor.predictor_blocks)
    fwd = sum(v for k, v in audit.calls.items() if "scaled_dot_product" in k
              and not k.endswith("backward"))
    bwd = sum(v for k, v in audit.calls.items() if k.endswith("backward"))
    problems = list(dict.fromkeys(audit.found))[:5]
    # Checkpointed blocks run their forward again in the backward pass.
    expected_fwd = 2 * enc + pred + (enc + pred if cfg.checkpointing else 0)
    if fwd != expected_fwd:
        problems.append(f"{fwd} fused SDPA forward calls, expected {expected_fwd}")
    if bwd != enc + pred:
        problems.append(f"{bwd} fused SDPA backward calls, expected {enc + pred}")
    softmax = sum(v for k, v in audit.calls.items() if "softmax" in k)
    if softmax:
        problems.append(f"{softmax} softmax calls: attention ran unfused")
    return {
        "config": cfg.label, **asdict(cfg), "import_mib": base, "built_mib": built,
        "peak_mib": peak, "step_mib": peak - built,
        "step_mib_per_image": (peak - built) / cfg.batch,
        "sdpa_kernels": ", ".join(sorted(k.replace("_scaled_dot_product_", "")
                                         for k in audit.calls if "scaled_dot_product" in k)),
        "attention_ok": not problems, "problems": problems,
    }


def in_subprocess(cfg: StepConfig) -> dict[str, Any]:
    # Leave the rest of the machine 1.5 GiB; whatever the child needs beyond that is reported.
    cap = max(available_mib() - 1536, 1024)
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(asdict(cfg)), str(cap)],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode == OVER_CAP:
        return {"config": cfg.label, **asdict(cfg), "import_mib": None, "built_mib": None,
                "peak_mib": None, "step_mib": None, "step_mib_per_image": None,
                "sdpa_kernels": "", "attention_ok": True, "problems": [],
                "over_cap_mib": cap}
    if proc.returncode:
        raise RuntimeError(f"memory child for {cfg.label} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


#: ``--scale``: ViT-B/16 (predictor 6) and ViT-H/14 (predictor 12) at 224 px, batch 16, with
#: activation checkpointing off and on. Long on a CPU (a ViT-H/14 step is minutes).
SCALE = [StepConfig(size, 224, patch, depth, checkpointing=ckpt)
         for size, patch, depth in (("base", 16, 6), ("huge", 14, 12)) for ckpt in (False, True)]


def configs(quick: bool, scale: bool = False) -> list[StepConfig]:
    if scale:
        return list(SCALE)
    cfgs = [StepConfig("tiny", 64, 8, 12), StepConfig("small", 224, 16, 12),
            StepConfig("small", 224, 16, 12, "bf16")]
    if not quick:
        cfgs += [StepConfig("tiny", 64, 8, 12, "bf16"), StepConfig("tiny", 224, 16, 12)]
    kinds = precisions("auto")
    return [c for c in cfgs if c.precision in kinds]


def run(quick: bool = False, scale: bool = False) -> Result:
    """Peak RSS per config (fresh process each) and the no-materialised-attention audit."""
    rows = [in_subprocess(cfg) for cfg in configs(quick, scale)]
    result = Result("memory", ["config", "import_mib", "built_mib", "peak_mib", "step_mib",
                               "step_mib_per_image", "attention_ok", "sdpa_kernels",
                               "over_cap_mib"], rows)
    result.notes.append("MiB of peak RSS (VmHWM): after import, after building models and masks, "
                        "after two steps; step_mib = peak - built")
    for row in rows:
        if row.get("over_cap_mib"):
            result.notes.append(f"{row['config']}: stopped at its memory cap, peak RSS above "
                                f"{row['over_cap_mib']:,.0f} MiB (does not fit this machine)")
    result.track("config", "peak_mib", higher_is_better=False)
    for row in rows:
        for problem in row["problems"]:
            result.failures.append(f"{row['config']}: {problem}")
    return result


if __name__ == "__main__":
    if len(sys.argv) in (3, 4) and sys.argv[1] == "--child":
        if len(sys.argv) == 4:
            guard_rss(float(sys.argv[3]))
        torch.manual_seed(0)
        print(json.dumps(child(StepConfig(**json.loads(sys.argv[2])))))
        raise SystemExit(0)
    if "--scale" in sys.argv:  # ViT-B/16 and ViT-H/14, checkpointing off and on
        sys.argv.remove("--scale")
        raise SystemExit(script_main(lambda quick=False: run(quick, scale=True)))
    raise SystemExit(script_main(run))

"""Train step: ms per step, images/s, FLOPs per step and achieved GFLOP/s vs the matmul ceiling.

The step is what ``Trainer._train_step`` does on a CPU: schedules -> ``ijepa_forward`` ->
one ``float(loss)`` (the NaN guard) -> zero_grad -> backward -> AdamW step -> EMA update,
with masks from the recipe's multiblock masker (4 targets of scale 0.15-0.2, context
0.85-1.0). ``TrainStep`` mirrors the trainer instead of calling its private method so the
levers (fused AdamW, no host sync, torch.compile) can be switched one at a time; keep the two
in step when the trainer changes. The default ``Levers()`` is what the trainer does.

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` over one forward+backward
of the same masks on the meta device (shapes only, so counting costs no compute; the optimizer
and EMA do no matmuls). Each config times ``repeats`` steps over a fixed set of mask batches,
the same for fp32 and bf16, so precision and lever comparisons see identical work. One untimed
pass over those batches comes first: it builds the oneDNN kernels for each new shape and grows
the heap to the step's peak, which a real run pays once, not every step.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from common import (
    Result,
    loadavg,
    matmul_ceiling,
    median,
    precisions,
    script_main,
    settle,
    spread,
)
from torch.utils.flop_counter import FlopCounterMode

from jepa_kit.build import build_loss, build_masker, build_method, build_target_updater
from jepa_kit.maskers.base import Masks
from jepa_kit.methods.ijepa import ijepa_forward
from jepa_kit.optim.adamw import OptimSchedule, build_adamw
from jepa_kit.optim.schedules import ScheduleLengths
from jepa_kit.recipe import load_recipe, validate_recipe
from jepa_kit.train.compile import compile_network


@dataclass(frozen=True)
class StepConfig:
    """One row of the matrix. ``size="quickstart"`` takes recipes/quickstart.toml as is."""

    size: str  # a ViT size name ("tiny", "small", ...) or "quickstart"
    img: int
    patch: int
    pred_depth: int
    precision: str = "fp32"
    batch: int = 16
    targets: str = "per_block"  # predictor.targets
    masker_mode: str = "uniform"  # masker.mode; "reference": the official collator's
    checkpointing: bool = False  # train.activation_checkpointing
    length_bucket: int = 0  # method.length_bucket (the fixed-shape path)

    @property
    def label(self) -> str:
        # Only non-default switches are named, so the baseline's keys stay what they were.
        extra = "".join(f" {v}" for v, default in ((self.targets, "per_block"),
                                                   (self.masker_mode, "uniform"))
                        if v != default) + (" ckpt" if self.checkpointing else "")
        extra += f" pad{self.length_bucket}" if self.length_bucket else ""
        if self.size == "quickstart":
            return f"quickstart {self.precision} b{self.batch}{extra}"
        short = {"tiny": "T", "small": "S", "base": "B", "large": "L", "huge": "H"}[self.size]
        return (f"ViT-{short}/{self.patch} {self.img}px pred{self.pred_depth} "
                f"{self.precision} b{self.batch}{extra}")


@dataclass(frozen=True)
class Levers:
    """Switches over the trainer's CPU step; the defaults are what the trainer does.

    glibc's malloc settings are process-wide, so ``keep_freed_memory`` is applied by the lever
    study in a fresh process (``common.keep_freed_memory``) and only recorded here.
    """

    fused_adamw: bool = True  # torch.optim.AdamW(fused=True); False: foreach
    no_host_sync: bool = False  # skip the per-step float(loss) NaN guard
    compile: bool = False  # train.compile: compile_network(encoder), (predictor)
    compile_target: bool = False  # also compile the target encoder's (no-grad) forward
    keep_freed_memory: bool = False  # mallopt: no mmap for big blocks, no trimming


#: The trainer's step.
TRAINER = Levers()


def default_levers() -> Levers:
    return TRAINER


def recipe_for(cfg: StepConfig) -> Any:
    """A validated recipe: the reference I-JEPA settings at the config's size."""
    if cfg.size == "quickstart":
        from common import REPO

        return load_recipe(REPO / "recipes" / "quickstart.toml",
                           [f"train.precision={cfg.precision!r}",
                            f"train.batch_size={cfg.batch}",
                            f"predictor.targets={cfg.targets!r}",
                            f"masker.mode={cfg.masker_mode!r}",
                            f"method.length_bucket={cfg.length_bucket}"])
    return validate_recipe(recipe_dict(cfg), f"<benchmark {cfg.label}>")


def recipe_dict(cfg: StepConfig) -> dict[str, Any]:
    """The recipe of a ViT ``cfg`` as plain data (what ``recipe_for`` validates; a TOML file
    of it runs the same model through ``jepa-kit run``)."""
    grid = cfg.img // cfg.patch
    return {
        "method": {"kind": "ijepa", "length_bucket": cfg.length_bucket},
        "data": {"kind": "synthetic", "img_size": cfg.img},
        "encoder": {"kind": "vit", "size": cfg.size, "patch_size": cfg.patch},
        "predictor": {"kind": "vit_predictor", "embed_dim": 384, "depth": cfg.pred_depth,
                      "targets": cfg.targets},
        # min_keep 10 is the reference's at 224 px; an 8x8 grid needs 4 (see the masker).
        "masker": {"kind": "multiblock", "mode": cfg.masker_mode, "num_targets": 4,
                   "target_scale": [0.15, 0.2],
                   "context_scale": [0.85, 1.0], "min_keep": 10 if grid >= 14 else 4},
        "train": {"batch_size": cfg.batch, "precision": cfg.precision,
                  "activation_checkpointing": cfg.checkpointing},
    }


def sample_masks(recipe: Any, grid: tuple[int, int], batch: int, count: int) -> list[Masks]:
    """``count`` mask batches of the recipe's masker, steps 0..count-1, fixed seeds."""
    import warnings

    masker = build_masker(recipe.masker, grid=grid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # relaxed contexts on tiny grids are expected
        return [masker.sample(batch, step, torch.Generator().manual_seed(1000 + step))
                for step in range(count)]


class TrainStep:
    """One optimizer step of the trainer, on the CPU, with the given levers."""

    def __init__(self, recipe: Any, levers: Levers = TRAINER) -> None:
        torch.manual_seed(0)
        nets = build_method(recipe).networks
        self.recipe = recipe
        self.precision: str = recipe.train.precision
        self.levers = levers
        self.encoder, self.target_encoder, self.predictor = (
            nets["encoder"], nets["target_encoder"], nets["predictor"])
        self.loss_fn = build_loss(recipe.loss)
        o = recipe.optim
        lengths = ScheduleLengths(1000, 100, o.warmup_epochs, o.ipe_scale)
        self.updater = build_target_updater(recipe.target_updater,
                                            total_steps=lengths.momentum_steps)
        self.optimizer = build_adamw([self.encoder, self.predictor], betas=o.betas, eps=o.eps,
                                     fused=levers.fused_adamw)
        self.schedule = OptimSchedule(self.optimizer, lengths, start_lr=o.start_lr, lr=o.lr,
                                      final_lr=o.final_lr, wd=o.weight_decay,
                                      final_wd=o.final_weight_decay)
        if recipe.train.activation_checkpointing:  # as the trainer does
            self.encoder.set_grad_checkpointing(True)
            self.predictor.set_grad_checkpointing(True)
        self.train_encoder: torch.nn.Module = self.encoder
        self.train_predictor: torch.nn.Module = self.predictor
        self.run_target: torch.nn.Module = self.target_encoder
        static = recipe.method.length_bucket > 0  # as the trainer: static graphs per bucket
        if levers.compile:
            self.train_encoder = compile_network(self.encoder, static=static)
            self.train_predictor = compile_network(self.predictor, static=static)
        if levers.compile_target:
            self.run_target = compile_network(self.target_encoder, static=static)
        self.step = 0

    def forward(self, images: torch.Tensor, masks: Masks) -> torch.Tensor:
        out = ijepa_forward(self.train_encoder, self.train_predictor, self.run_target,
                           self.loss_fn, images, masks, precision=self.precision,
                           length_bucket=self.recipe.method.length_bucket,
                           num_patches=self.encoder.num_patches)
        return out.loss

    def __call__(self, images: torch.Tensor, masks: Masks) -> torch.Tensor:
        self.step += 1
        self.schedule.apply(self.step)
        loss = self.forward(images, masks)
        if not self.levers.no_host_sync and not math.isfinite(float(loss.detach())):
            raise RuntimeError("non-finite loss in the benchmark")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            self.updater.update(self.encoder, self.target_encoder, self.step)
        return loss


def count_flops(step: TrainStep, images: torch.Tensor, masks: Masks) -> int:
    """FLOPs of one forward+backward, counted on meta copies (no compute, same shapes)."""
    meta = copy.copy(step)
    meta.precision = "fp32"  # autocast has no meta device; bf16 runs the same matmuls
    meta.encoder = copy.deepcopy(step.encoder).to("meta")
    meta.predictor = copy.deepcopy(step.predictor).to("meta")
    meta.target_encoder = copy.deepcopy(step.target_encoder).to("meta")
    meta.train_encoder, meta.train_predictor = meta.encoder, meta.predictor
    meta.run_target = meta.target_encoder
    with FlopCounterMode(display=False) as counter:
        loss = meta.forward(images.to("meta"), masks.to("meta"))
        loss.backward()
    return int(counter.get_total_flops())


def random_images(cfg_img: int, batch: int) -> torch.Tensor:
    return torch.randn(batch, 3, cfg_img, cfg_img, generator=torch.Generator().manual_seed(0))


def measure(cfg: StepConfig, *, repeats: int, levers: Levers | None = None,
            ceilings: dict[str, float] | None = None) -> dict[str, Any]:
    """Time ``repeats`` steps of ``cfg`` (after one untimed pass) and count their FLOPs."""
    levers = levers or default_levers()
    recipe = recipe_for(cfg)
    step = TrainStep(recipe, levers)
    images = random_images(recipe.img_size, cfg.batch)
    masks = sample_masks(recipe, step.encoder.grid, cfg.batch, repeats)
    flops = [count_flops(step, images, m) for m in masks]

    tic = time.perf_counter()
    for m in masks:
        step(images, m)
    # With torch.compile this pass compiles (every new shape, then once dynamic).
    warm_s = time.perf_counter() - tic
    busy = settle()
    load = loadavg()
    times = []
    for m in masks:
        tic = time.perf_counter()
        step(images, m)
        times.append(time.perf_counter() - tic)
    per_step = [f / t / 1e9 for f, t in zip(flops, times, strict=True)]
    t_med = median(times)
    row: dict[str, Any] = {
        "config": cfg.label, **asdict(cfg), **{f"lever_{k}": v for k, v in asdict(levers).items()},
        "context_len": float(sum(m.context.shape[1] for m in masks) / len(masks)),
        "target_len": float(sum(m.targets.shape[2] for m in masks) / len(masks)),
        "ms_per_step": t_med * 1e3, "images_per_s": cfg.batch / t_med,
        "gflop_per_step": sum(flops) / len(flops) / 1e9, "gflops": median(per_step),
        "spread": spread(per_step), "loadavg": load, "busy_cores": busy, "warm_pass_s": warm_s,
        "times_s": times,
    }
    if ceilings is not None:
        ceiling = ceilings["bf16" if cfg.precision == "bf16" else "fp32"]
        row["ceiling_gflops"] = ceiling
        row["of_ceiling"] = row["gflops"] / ceiling
    return row


def measure_in_subprocess(cfg: StepConfig, *, repeats: int,
                          ceilings: dict[str, float]) -> dict[str, Any]:
    """``measure`` in a fresh process, as a training run has one to itself.

    In a shared process the allocator's state left by earlier configs (glibc's adaptive mmap
    threshold, a fragmented heap) changed a later config's speed by up to 20 %.
    """
    import json
    import subprocess

    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(asdict(cfg)),
                           str(repeats)], capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"step child for {cfg.label} failed:\n{proc.stderr[-3000:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    ceiling = ceilings["bf16" if cfg.precision == "bf16" else "fp32"]
    row["ceiling_gflops"] = ceiling
    row["of_ceiling"] = row["gflops"] / ceiling
    return row


def ceilings(kinds: Sequence[str] = ("fp32", "bf16")) -> dict[str, float]:
    """Best of three ceiling measurements per dtype: a ceiling is what the machine can do, and
    other processes can only push a measurement down."""
    return {name: max(matmul_ceiling(dtype) for _ in range(3))
            for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16))
            if name in kinds}


def matrix(quick: bool, kinds: Sequence[str] = ("fp32", "bf16")) -> list[StepConfig]:
    if quick:
        shapes = [("tiny", 64, 8, 12), ("small", 224, 16, 12)]
    else:
        shapes = [(s, img, p, d) for (img, p) in ((64, 8), (224, 16)) for s in ("tiny", "small")
                  for d in (6, 12)]
    return [StepConfig(s, img, p, d, prec) for s, img, p, d in shapes for prec in kinds]


COLUMNS = ["config", "context_len", "target_len", "ms_per_step", "images_per_s",
           "gflop_per_step", "gflops", "of_ceiling", "spread", "loadavg", "busy_cores"]


def run(quick: bool = False, configs: Sequence[StepConfig] | None = None,
        repeats: int | None = None) -> Result:
    """Train-step speed over the model matrix, against this machine's matmul ceiling."""
    kinds = precisions("auto") if configs is None else tuple({c.precision for c in configs})
    peak = ceilings(kinds)
    rows = []
    for cfg in configs or matrix(quick, kinds):
        n = repeats or (3 if cfg.img >= 224 else 5)
        rows.append(measure_in_subprocess(cfg, repeats=n, ceilings=peak))
        rows[-1]["note"] = ""
    result = Result("step", COLUMNS, rows, extra={"ceilings_gflops": peak})
    peaks = ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peak.items())
    result.notes.append(f"matmul ceiling (2048^2, same run): {peaks}; "
                        f"threads {torch.get_num_threads()}; "
                        f"levers {asdict(default_levers())}")
    result.track("config", "images_per_s")
    result.track("config", "of_ceiling")
    return result


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        import json

        config = StepConfig(**json.loads(sys.argv[2]))
        print(json.dumps(measure(config, repeats=int(sys.argv[3]))))
        raise SystemExit(0)
    raise SystemExit(script_main(run))

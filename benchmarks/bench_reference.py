"""The official I-JEPA train step against jepa-kit's, interleaved in one run, as ratios.

The official step is the logic of ``src/train.py``'s ``train_step`` in
github.com/facebookresearch/ijepa, run with that repository's own modules (``src.helper``'s
``init_model`` / ``init_opt``, its ``apply_masks`` and ``repeat_interleave_batch``, its
``grad_logger``), imported from the folder named by the ``IJEPA_OFFICIAL`` environment variable;
no official code is copied here. Not set: the script says so and exits 0.

Both sides run the same shapes (batch 16, predictor 384 wide) on the same mask batches (jepa-kit's
multiblock masker in ``reference`` mode, the official collator's sizes), steps interleaved round
by round so that load from other processes hits every variant alike; the table gives each
variant's median ms/step and ``official / variant`` (above 1: jepa-kit is faster). The official
code's bf16 switch is ``torch.cuda.amp.autocast``, which does nothing on a CPU, so on the CPU the
official step is fp32 and both jepa-kit precisions are compared with it.

    IJEPA_OFFICIAL=/tmp/ijepa python benchmarks/bench_reference.py [--quick] [--rounds 3]
"""

from __future__ import annotations

import argparse
import copy
import importlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F
from bench_step import StepConfig, TrainStep, random_images, recipe_for, sample_masks
from common import (
    QUIET_WAIT,
    Result,
    add_precision_arg,
    add_shared_args,
    loadavg,
    median,
    precisions,
    print_table,
    settle,
    write_json,
)

from jepa_kit.maskers.base import Masks

#: Shapes of the issue's side-by-side table: ViT-T/8 at 64 px with a 384 x 6 predictor and
#: ViT-S/16 at 224 px with a 384 x 12 predictor, batch 16, reference masks.
CONFIGS = (StepConfig("tiny", 64, 8, 6, masker_mode="reference"),
           StepConfig("small", 224, 16, 12, masker_mode="reference"))
OFFICIAL = "official fp32"
COLUMNS = ["config", "variant", "ms_per_step", "vs_official", "steps", "spread", "loadavg",
           "busy_cores"]


def load_official(path: str | Path) -> SimpleNamespace:
    """The official repository's modules, imported from ``path`` (its root, holding ``src/``)."""
    root = Path(path)
    if not (root / "src" / "helper.py").is_file():
        raise SystemExit(f"IJEPA_OFFICIAL={path}: no src/helper.py there; point it at a "
                         "checkout of github.com/facebookresearch/ijepa")
    sys.path.insert(0, str(root))
    names = {"helper": "src.helper", "masks": "src.masks.utils", "tensors": "src.utils.tensors",
             "logging": "src.utils.logging"}
    return SimpleNamespace(**{k: importlib.import_module(v) for k, v in names.items()})


class OfficialStep:
    """One ``train_step`` of the official ``src/train.py`` (fp32, one process), on the CPU.

    ``AllReduce`` of the loss is the identity in one process and is left out; the schedules are
    the reference recipe's (lr 2e-4 -> 1e-3 -> 1e-6, wd 0.04 -> 0.4, EMA 0.996 -> 1.0)."""

    def __init__(self, official: SimpleNamespace, cfg: StepConfig, ipe: int = 100,
                 epochs: int = 10) -> None:
        torch.manual_seed(0)
        self.o = official
        self.encoder, self.predictor = official.helper.init_model(
            device=torch.device("cpu"), patch_size=cfg.patch, model_name=f"vit_{cfg.size}",
            crop_size=cfg.img, pred_depth=cfg.pred_depth, pred_emb_dim=384)
        self.target_encoder = copy.deepcopy(self.encoder)
        for p in self.target_encoder.parameters():
            p.requires_grad = False
        self.optimizer, _, self.scheduler, self.wd_scheduler = official.helper.init_opt(
            encoder=self.encoder, predictor=self.predictor, iterations_per_epoch=ipe,
            start_lr=2e-4, ref_lr=1e-3, warmup=1, num_epochs=epochs, wd=0.04, final_wd=0.4,
            final_lr=1e-6, use_bfloat16=False, ipe_scale=1.0)
        total = ipe * epochs
        self.momentum = (0.996 + i * (1.0 - 0.996) / total for i in range(total + 1))

    def __call__(self, images: torch.Tensor, masks_enc: list[torch.Tensor],
                 masks_pred: list[torch.Tensor]) -> float:
        self.scheduler.step()
        self.wd_scheduler.step()
        with torch.no_grad():
            h = self.target_encoder(images)
            h = F.layer_norm(h, (h.size(-1),))
            h = self.o.masks.apply_masks(h, masks_pred)
            h = self.o.tensors.repeat_interleave_batch(h, len(images), repeat=len(masks_enc))
        z = self.predictor(self.encoder(images, masks_enc), masks_enc, masks_pred)
        loss = F.smooth_l1_loss(z, h)
        loss.backward()
        self.optimizer.step()
        self.o.logging.grad_logger(self.encoder.named_parameters())
        self.optimizer.zero_grad()
        with torch.no_grad():
            m = next(self.momentum)
            for q, k in zip(self.encoder.parameters(), self.target_encoder.parameters(),
                            strict=True):
                k.data.mul_(m).add_((1.0 - m) * q.detach().data)
        return float(loss)


def official_masks(masks: Masks) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """jepa-kit's masks in the official layout: [context (B, Kc)], M x [target (B, Kt)]."""
    return [masks.context], list(masks.targets.unbind(0))


def interleave(variants: dict[str, Callable[[Masks], object]], batches: Sequence[Masks],
               rounds: int) -> dict[str, list[float]]:
    """Seconds per step of each variant: one untimed pass over ``batches`` per variant (kernels
    and heap for each shape), then ``rounds`` rounds in which each batch runs through every
    variant in turn, so slow spells on a shared machine hit all of them alike."""
    for fn in variants.values():
        for masks in batches:
            fn(masks)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(rounds):
        order = list(variants.items())
        if r % 2:  # alternate who goes first: no variant always runs on a cold cache
            order.reverse()
        for masks in batches:
            for name, fn in order:
                tic = time.perf_counter()
                fn(masks)
                times[name].append(time.perf_counter() - tic)
    return times


def ratio_rows(config: str, times: dict[str, list[float]], reference: str | None = OFFICIAL,
               column: str = "vs_official") -> list[dict[str, Any]]:
    """One row per variant: median ms/step, and ``reference``'s median over the variant's (the
    speed-up: above 1 is faster than the reference); None where there is no reference."""
    medians = {name: median(ts) for name, ts in times.items()}
    ref = medians.get(reference) if reference is not None else None
    rows = []
    for name, ts in times.items():
        lo, hi = min(ts), max(ts)
        rows.append({"config": config, "variant": name, "ms_per_step": medians[name] * 1e3,
                     column: None if ref is None else ref / medians[name],
                     "steps": len(ts), "spread": (hi - lo) / medians[name]})
    return rows


def jepa_kit_variant(cfg: StepConfig, images: torch.Tensor) -> Callable[[Masks], object]:
    step = TrainStep(recipe_for(cfg))
    return lambda masks: step(images, masks)


def run(quick: bool = False, rounds: int = 3, targets: Sequence[str] = ("per_block",),
        official_path: str | None = None, kinds: Sequence[str] = ("fp32", "bf16"),
        sizes: Sequence[str] = ("tiny", "small")) -> Result:
    """Official I-JEPA step vs jepa-kit's at the issue's two shapes, interleaved."""
    official = load_official(official_path) if official_path else None
    rows: list[dict[str, Any]] = []
    chosen = [c for c in CONFIGS if c.size in sizes]
    for base in chosen[:1] if quick else chosen:
        recipe = recipe_for(base)
        images = random_images(base.img, base.batch)
        grid = (base.img // base.patch,) * 2
        batches = sample_masks(recipe, grid, base.batch, 2 if base.img >= 224 else 3)
        variants: dict[str, Callable[[Masks], object]] = {}
        if official is not None:
            ref_step = OfficialStep(official, base)
            variants[OFFICIAL] = lambda m, s=ref_step, x=images: s(x, *official_masks(m))
        for mode in targets:
            for precision in kinds:
                cfg = replace(base, precision=precision, targets=mode)
                name = f"jepa-kit {precision}" + ("" if mode == "per_block" else f" {mode}")
                variants[name] = jepa_kit_variant(cfg, images)
        busy, load = settle(), loadavg()
        times = interleave(variants, batches, rounds)
        label = base.label.replace(" fp32", "").replace(" reference", "")
        for row in ratio_rows(label, times, OFFICIAL if official is not None else None):
            rows.append({**row, "loadavg": load, "busy_cores": busy})
            print(f"  {label} | {row['variant']} | {row['ms_per_step']:,.0f} ms | "
                  f"{row['vs_official'] or float('nan'):.2f}x", flush=True)
    result = Result("reference", COLUMNS, rows)
    result.notes.append(f"threads {torch.get_num_threads()}; {rounds} interleaved rounds; "
                        "vs_official = official median / variant median (above 1: faster)")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_shared_args(parser)
    add_precision_arg(parser)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--targets", default="per_block",
                        help="predictor.targets modes of jepa-kit to add, comma-separated "
                        "(per_block,joint,isolated)")
    parser.add_argument("--config", default="tiny,small",
                        help="comma-separated: tiny (ViT-T/8 64 px, predictor 384x6), small "
                        "(ViT-S/16 224 px, 384x12)")
    args = parser.parse_args(argv)
    sizes = args.config.split(",")
    if bad := [s for s in sizes if s not in ("tiny", "small")]:
        parser.error(f"--config: unknown {', '.join(bad)} (expected tiny, small)")
    QUIET_WAIT["seconds"] = args.wait
    path = os.environ.get("IJEPA_OFFICIAL")
    if not path:
        print("bench_reference: IJEPA_OFFICIAL is not set, skipped. Set it to a checkout of "
              "github.com/facebookresearch/ijepa (the folder holding src/) to compare.")
        return 0
    result = run(args.quick, args.rounds, args.targets.split(","), official_path=path,
                 kinds=precisions(args.precision), sizes=sizes)
    print_table(result)
    print(f"  wrote {write_json(result, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

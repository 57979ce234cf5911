"""Training heads on a frozen encoder's features: the optimizer recipe and the lr x wd search.

Heads (a linear layer, an attentive pooler) are trained the way V-JEPA's frozen evaluation
trains its attentive probe ([0], ``evals/image_classification_frozen``): AdamW, the learning
rate warmed up linearly from ``start_lr`` then cosine-decayed to ``final_lr``, the weight decay
cosine-decayed from ``weight_decay`` to ``final_weight_decay`` (biases and 1-D parameters
never decayed), gradients clipped to norm ``grad_clip``, cross-entropy.

Several settings of (lr, wd) train side by side on the **same** mini-batches (one head each;
DINO trains its grid of linear heads this way, [1]), so on-the-fly features from augmented
images are computed once per step for the whole grid. Model selection never looks at val: with
more than one setting, a class-stratified hold-out of the train split picks the best (accuracy,
then loss), which is then refitted on all train images and scored once on val.

- [0]: V-JEPA, Bardes et al. 2024, arXiv:2404.08471
- [1]: DINO, Caron et al. 2021, arXiv:2104.14294 (``eval_linear.py``)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from jepa_kit.eval.holdout import stratified_holdout
from jepa_kit.optim.fit import Fitted, Values, fit
from jepa_kit.optim.groups import param_groups
from jepa_kit.optim.schedules import warmup_cosine

#: ``batches(epoch, indices)`` -> (features, labels) mini-batches of those train rows.
BatchSource = Callable[[int, torch.Tensor], Iterable[tuple[torch.Tensor, torch.Tensor]]]


@dataclass(frozen=True)
class ProbeOptim:
    """One head's optimisation; defaults: V-JEPA's ImageNet attentive probe ([0],
    ``configs/evals/vitl16_in1k.yaml``: 20 epochs, batch 16 x 64 GPUs, lr 1e-3 constant start,
    no warmup, wd 1e-3 decayed to 1e-6, clip 1.0)."""

    lr: float = 1e-3
    weight_decay: float = 1e-3
    epochs: int = 20
    batch_size: int = 1024
    start_lr: float | None = None  # None: the lr itself (no warmup ramp)
    final_lr: float = 0.0
    warmup_epochs: float = 0.0
    final_weight_decay: float | None = 1e-6  # None: constant weight decay
    grad_clip: float | None = 1.0

    def check(self) -> None:
        bad = [f"{k}={v}" for k, v in (("lr", self.lr), ("epochs", self.epochs),
                                        ("batch_size", self.batch_size)) if not v > 0]
        bad += [f"{k}={v}" for k, v in (("weight_decay", self.weight_decay),
                                        ("warmup_epochs", self.warmup_epochs)) if v < 0]
        if bad:
            raise ValueError(f"probe settings out of range: {', '.join(bad)}")


def schedule(opt: ProbeOptim, step: int, total: int, warmup: int) -> tuple[float, float]:
    """``(lr, wd)`` at 0-based ``step`` of ``total`` (V-JEPA's WarmupCosine / CosineWD)."""
    start = opt.lr if opt.start_lr is None else opt.start_lr
    k = step + 1  # the value after the step's scheduler tick, as V-JEPA's
    lr = warmup_cosine(k, warmup=warmup, total=total, start=start, peak=opt.lr,
                       final=opt.final_lr)
    if opt.final_weight_decay is None:
        return lr, opt.weight_decay
    return lr, warmup_cosine(k, warmup=0, total=total, start=opt.weight_decay,
                             peak=opt.weight_decay, final=opt.final_weight_decay)


def fit_heads(heads: list[nn.Module], settings: list[ProbeOptim], batches: BatchSource,
              indices: torch.Tensor) -> list[nn.Module]:
    """Train every head with its settings on the same mini-batches of the train rows
    ``indices``; the settings share ``epochs`` and ``batch_size`` (one batch stream)."""
    first = settings[0]
    for s in settings:
        s.check()
        if (s.epochs, s.batch_size) != (first.epochs, first.batch_size):
            raise ValueError("heads trained together share epochs and batch_size")
    steps_per_epoch = math.ceil(indices.numel() / first.batch_size)
    total = first.epochs * steps_per_epoch

    def values(s: ProbeOptim) -> Values:
        warmup = round(s.warmup_epochs * steps_per_epoch)
        return lambda step: schedule(s, step, total, warmup)

    runs = [Fitted(h, torch.optim.AdamW(param_groups([h]), lr=s.lr), values(s), s.grad_clip)
            for h, s in zip(heads, settings, strict=True)]
    stream = (batch for epoch in range(first.epochs) for batch in batches(epoch, indices))
    fit(runs, stream)
    return heads


def cached_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int) -> BatchSource:
    """Mini-batches of cached features: a fresh permutation of the rows every epoch, drawn
    from a generator seeded with ``(seed, epoch)``; rows move to ``x``'s device."""

    def batches(epoch: int, indices: torch.Tensor) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = indices.cpu()[torch.randperm(indices.numel(), generator=g)].to(x.device)
        for start in range(0, order.numel(), batch_size):
            idx = order[start : start + batch_size]
            yield x[idx], y[idx].to(x.device)

    return batches


@torch.no_grad()
def scores(head: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024
           ) -> dict[str, float]:
    """``top1``, ``top5`` (more than 5 classes) and mean cross-entropy ``loss`` of ``head``."""
    logits = torch.cat([head(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)])
    y = y.to(logits.device)
    ranked = logits.topk(min(5, logits.shape[1]), dim=1).indices
    hits = ranked == y.view(-1, 1)
    out = {"top1": float(hits[:, 0].double().mean()),
           "loss": float(F.cross_entropy(logits.float(), y))}
    if logits.shape[1] > 5:
        out["top5"] = float(hits.any(dim=1).double().mean())
    return out


def search_and_fit(
    make_head: Callable[[], nn.Module],
    batches: BatchSource,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor],
    *,
    base: ProbeOptim,
    lrs: tuple[float, ...],
    weight_decays: tuple[float, ...],
    train_indices: torch.Tensor | None = None,
    holdout_fraction: float = 0.2,
    seed: int = 0,
) -> dict[str, Any]:
    """Pick (lr, wd) on a train hold-out (only with more than one setting), refit on all
    ``train_indices`` (default: every train row), score on ``val``.

    ``train`` holds eval-view features of the whole train split (for hold-out scoring; only the
    labels are read otherwise) and ``val`` those of the val split; ``batches`` produces the
    training mini-batches (cached rows, or features of augmented images). Each head is built by
    ``make_head`` after seeding torch with ``seed``: the same inputs give the same result.
    """
    if not lrs or not weight_decays:
        raise ValueError("lrs and weight_decays need at least one value each")
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
    x, y = train
    rows = torch.arange(y.numel()) if train_indices is None else train_indices.cpu()
    grid_settings = [replace(base, lr=lr, weight_decay=wd) for lr in lrs for wd in weight_decays]

    def heads(n: int) -> list[nn.Module]:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return [make_head() for _ in range(n)]

    grid: list[dict[str, Any]] = []
    best = grid_settings[0]
    if len(grid_settings) > 1:
        fit_pos, held_pos = stratified_holdout(y[rows], holdout_fraction, seed)
        if held_pos.numel() == 0:
            raise ValueError("the train images are too few to hold any out for model selection")
        held = rows[held_pos]
        fitted = fit_heads(heads(len(grid_settings)), grid_settings, batches, rows[fit_pos])
        for s, head in zip(grid_settings, fitted, strict=True):
            r = scores(head, x[held.to(x.device)], y[held])
            grid.append({"lr": s.lr, "weight_decay": s.weight_decay,
                         "holdout_top1": r["top1"], "holdout_loss": r["loss"]})
        # Ties on accuracy are common on easy data; the hold-out loss breaks them.
        pick = max(range(len(grid)), key=lambda i: (grid[i]["holdout_top1"],
                                                    -grid[i]["holdout_loss"]))
        best = grid_settings[pick]
    (head,) = fit_heads(heads(1), [best], batches, rows)
    result = scores(head, *val)
    out: dict[str, Any] = {k: result[k] for k in ("top1", "top5") if k in result}
    out.update(val_loss=result["loss"], lr=best.lr, weight_decay=best.weight_decay)
    if grid:
        out.update(holdout_top1=max(g["holdout_top1"] for g in grid
                                    if g["lr"] == best.lr and g["weight_decay"] ==
                                    best.weight_decay), grid=grid,
                   holdout_fraction=holdout_fraction)
    out.update(optim={k: v for k, v in asdict(best).items() if k not in ("lr", "weight_decay")},
               lrs=list(lrs), weight_decays=list(weight_decays), seed=seed,
               num_train=int(rows.numel()), num_val=int(val[1].numel()))
    return out

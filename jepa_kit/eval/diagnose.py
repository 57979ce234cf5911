"""What a checkpoint's predictor gets wrong, where, and how much its encoder still tells apart.

Two readings of one checkpoint, both through the method API (``Method.forward`` on the
method's own batches, so the masks are the ones training samples):

* **Prediction error on the patch grid**: for every target token of ``batches`` batches, the
  squared error between prediction and target (mean over the feature dim: the ``l2`` loss
  before averaging), summed per grid position (``mean_error[p]``: how hard position ``p`` is
  to predict) and per distance, in patches, from the nearest context patch (rounded up): a
  predictor that uses its context predicts near targets better than far ones. Needs a method
  whose ``StepOutput`` has ``predictions`` and ``targets`` and whose batches carry ``Masks``
  (I-JEPA); for the others (LeJEPA has no predictor and no masks) the report says so.
* **Representation rank** of the encoder ``which`` names, for any method: RankMe ([1]) of the
  average-pooled features of ``images`` eval-view images, and LiDAR ([0]) of ``views``
  augmented views (random resized crop 0.3-1 and flip) of each; with I-JEPA also LiDAR of its
  target blocks, the quantity the training monitor logs.

- [0]: LiDAR, Thilak et al. 2023, arXiv:2312.04000
- [1]: RankMe, Garrido et al. 2023, arXiv:2210.02885
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from jepa_kit.build import build_dataset, build_method
from jepa_kit.data.loader import build_loader, mix_seed
from jepa_kit.data.transforms import EvalTransform, TrainTransform
from jepa_kit.eval.lidar import block_views, lidar
from jepa_kit.eval.monitors import feature_std, rankme

_VIEW_TAG = 0xD1A6


@dataclass
class ErrorMap:
    """Running sums of per-token prediction error by grid position and by context distance."""

    grid: tuple[int, ...]
    total: torch.Tensor = field(init=False)
    count: torch.Tensor = field(init=False)
    by_distance: dict[int, list[float]] = field(default_factory=dict)  # d -> [sum, count]

    def __post_init__(self) -> None:
        n = math.prod(self.grid)
        self.total = torch.zeros(n, dtype=torch.float64)
        self.count = torch.zeros(n, dtype=torch.float64)

    def add(self, errors: torch.Tensor, positions: torch.Tensor,
            distances: torch.Tensor) -> None:
        """``errors``, ``positions`` (grid indices) and ``distances``: one value per token."""
        errors, positions = errors.reshape(-1).double().cpu(), positions.reshape(-1).cpu()
        self.total.index_add_(0, positions, errors)
        self.count.index_add_(0, positions, torch.ones_like(errors))
        bins = distances.reshape(-1).cpu().ceil().long()
        for d in bins.unique().tolist():
            chosen = errors[bins == d]
            slot = self.by_distance.setdefault(int(d), [0.0, 0.0])
            slot[0] += float(chosen.sum())
            slot[1] += len(chosen)

    def summary(self) -> dict[str, Any]:
        mean = torch.where(self.count > 0, self.total / self.count.clamp_min(1), torch.nan)
        as_list = [None if math.isnan(v) else v for v in mean.tolist()]
        shaped: Any = as_list
        for side in reversed(self.grid[1:]):  # row-major nesting: [rows][cols]
            shaped = [shaped[i:i + side] for i in range(0, len(shaped), side)]
        return {
            "grid": list(self.grid), "mean_error": shaped,
            "target_count": self.count.reshape(self.grid).long().tolist(),
            "tokens": int(self.count.sum()),
            "overall_mean_error": float(self.total.sum() / self.count.sum().clamp_min(1)),
            "error_vs_distance": [{"distance": d, "mean_error": s / c, "tokens": int(c)}
                                  for d, (s, c) in sorted(self.by_distance.items())],
        }


def context_distance(target_idx: torch.Tensor, context_idx: torch.Tensor,
                     grid: tuple[int, ...]) -> torch.Tensor:
    """Euclidean distance, in patches, from every target token to the nearest context patch
    of its image: ``target_idx`` (M, B, Kt), ``context_idx`` (B, Kc) -> (M, B, Kt)."""
    m, b, kt = target_idx.shape

    def coords(idx: torch.Tensor) -> torch.Tensor:
        return torch.stack(torch.unravel_index(idx, grid), dim=-1).float()

    t = coords(target_idx).permute(1, 0, 2, 3).reshape(b, m * kt, len(grid))  # (B, M*Kt, g)
    c = coords(context_idx)  # (B, Kc, g)
    nearest = torch.cdist(t, c).min(dim=-1).values  # (B, M*Kt)
    return nearest.view(b, m, kt).permute(1, 0, 2)


def why_no_error_map(method_kind: str, out: Any, masks: Any) -> str | None:
    """None when the prediction-error map applies to this step's output, else the reason."""
    if out.predictions is None or out.targets is None:
        return (f"method {method_kind!r} returns no predictions and targets from forward(): "
                f"it has no predictor of masked positions, so the prediction-error map and "
                f"error-vs-distance do not apply; the representation ranks do")
    if masks is None or getattr(masks, "targets", None) is None or \
            getattr(masks, "context", None) is None:
        return (f"method {method_kind!r} predicts, but its batches carry no context/target "
                f"masks, so errors cannot be placed on the patch grid")
    m, b, kt = masks.targets.shape
    if tuple(out.predictions.shape[:2]) != (m * b, kt):
        return (f"method {method_kind!r}: predictions of shape {tuple(out.predictions.shape)} "
                f"do not line up with target masks ({m} blocks x {b} images x {kt} tokens)")
    return None


@torch.no_grad()
def prediction_errors(method: Any, recipe: Any, *, batches: int, batch_size: int,
                      device: torch.device, train_split: bool = True) -> dict[str, Any]:
    """Run ``method.forward`` on ``batches`` of the method's own batches (eval mode)."""
    seed = recipe.run.seed
    dataset = build_dataset(recipe.data, train=train_split, seed=seed)
    loader = build_loader(dataset, method.views, method.collator(seed=seed, rank=0),
                          batch_size=min(batch_size, len(dataset)), seed=seed, num_workers=0)
    for network in method.networks.values():
        network.eval()
    kind = recipe.method.kind
    grid: tuple[int, ...] | None = None
    errors: ErrorMap | None = None
    losses, block_lidars, reason, done = [], [], None, 0
    for batch in loader:
        if done >= batches:
            break
        batch = batch.to(device)
        out = method.forward(batch, method.networks)
        losses.append(float(out.loss))
        done += 1
        reason = why_no_error_map(kind, out, batch.masks)
        if reason is not None:
            continue
        if grid is None:
            grid = tuple(method.networks[method.encoder_for(None)].grid)
            errors = ErrorMap(grid)
        masks = batch.masks
        per_token = (out.predictions.float() - out.targets.float()).square().mean(-1)
        distance = context_distance(masks.targets, masks.context, grid)
        assert errors is not None
        errors.add(per_token, masks.targets.reshape(-1, masks.targets.shape[-1]),
                   distance.reshape(per_token.shape))
        views = block_views(out.targets, len(batch))
        if views is not None:
            block_lidars.append(lidar(views))
    result: dict[str, Any] = {"method": kind, "batches": done, "batch_size": batch_size,
                              "split": "train" if train_split else "val",
                              "mean_loss": sum(losses) / max(len(losses), 1),
                              "applies": reason is None and errors is not None}
    if errors is not None and reason is None:
        result["error_map"] = errors.summary()
        if block_lidars:
            result["lidar_target_blocks"] = sum(block_lidars) / len(block_lidars)
    else:
        result["reason"] = reason
    return result


@torch.no_grad()
def representation_ranks(encoder: nn.Module, recipe: Any, *, images: int, views: int,
                         device: torch.device, batch_size: int = 128) -> dict[str, Any]:
    """RankMe and feature std of ``images`` eval views; LiDAR of ``views`` crops of each."""
    seed = recipe.run.seed
    dataset = build_dataset(recipe.data, train=False, seed=seed)
    n = min(images, len(dataset))
    eval_view = EvalTransform(recipe.data)
    crop = TrainTransform(recipe.data.img_size, scale=(0.3, 1.0), flip=True, key="diagnose")
    was_training = encoder.training
    encoder.eval()

    def embed(batch: list[torch.Tensor]) -> torch.Tensor:
        return encoder(torch.stack(batch).to(device)).float().mean(dim=1).cpu()  # (b, D)

    plain: list[torch.Tensor] = []
    augmented: list[torch.Tensor] = []
    pending_plain: list[torch.Tensor] = []
    pending_aug: list[torch.Tensor] = []
    try:
        for i in range(n):
            image, _ = dataset[i]
            pending_plain.append(eval_view(image))
            for j in range(views):
                generator = torch.Generator().manual_seed(mix_seed(_VIEW_TAG, seed, i, j))
                pending_aug.append(crop(image, generator))
            if len(pending_aug) >= batch_size or i == n - 1:
                plain.append(embed(pending_plain))
                augmented.append(embed(pending_aug))
                pending_plain, pending_aug = [], []
    finally:
        encoder.train(was_training)
    pooled = torch.cat(plain)  # (n, D)
    by_image = torch.cat(augmented).view(n, views, -1)  # (n, q, D), views of one image together
    return {"images": n, "views": views, "dim": int(pooled.shape[1]),
            "rankme": rankme(pooled), "feature_std": feature_std(pooled),
            "lidar": lidar(by_image) if n >= 2 and views >= 2 else None,
            "max_rank": min(n, int(pooled.shape[1]))}


def load_method(state: dict[str, Any], recipe: Any, device: torch.device,
                source: str) -> Any:
    """The recipe's method with the checkpoint's weights, on ``device``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(recipe.run.seed)
        method = build_method(recipe)
    method.load_state_dict(state, source)
    return method.to(device)

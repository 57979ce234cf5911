"""Cheap collapse monitors computed from tensors the train step already has.

* RankMe: the effective rank of image embeddings, ``exp(H(p))`` with ``p`` the normalised
  singular values of a (n, D) matrix of average-pooled target features over the last few
  batches. Near 1 means collapse; near ``min(n, D)`` means a full-rank representation.
* Per-dimension standard deviation of target and predicted features (mean over dimensions);
  a collapsed encoder gives a std near 0.
* Cosine similarity between predictions and their targets.
* Image share of token variance: of the variance of the layer-normed target tokens (what the
  loss compares), the part carried by each image's mean token. Near 1 means every token of an
  image holds the same vector, which any context of that image predicts trivially: a shortcut
  the pooled monitors above do not see (seen on small CPU runs, see docs/evaluation.md).
* LiDAR of the target blocks: each image of the batch is a surrogate class whose views are its
  ``M`` average-pooled target blocks (the views I-JEPA's loss compares); the effective rank of
  their LDA matrix ([2], ``jepa_kit.train.lidar``). Computed from the last batch at log steps
  only, at most ``min(B - 1, D)``; absent for methods whose targets are not blocks.

- [0]: RankMe, Garrido et al. 2023, arXiv:2210.02885
- [1]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
- [2]: LiDAR, Thilak et al. 2023, arXiv:2312.04000
"""

from __future__ import annotations

from collections import deque

import torch
import torch.nn.functional as F

from jepa_kit.train.lidar import block_views, lidar


def rankme(embeddings: torch.Tensor, eps: float = 1e-7) -> float:
    """Effective rank of ``embeddings`` (n, D), between 1 and min(n, D)."""
    s = torch.linalg.svdvals(embeddings.double())
    p = s / (s.sum() + eps) + eps
    return float(torch.exp(-(p * p.log()).sum()))


def feature_std(features: torch.Tensor) -> float:
    """Mean over dimensions of the per-dimension std of ``features`` (..., D)."""
    flat = features.reshape(-1, features.shape[-1]).float()
    return float(flat.std(dim=0).mean())


def _image_share(tokens: torch.Tensor) -> torch.Tensor:
    t = F.layer_norm(tokens.float(), (tokens.shape[-1],))
    total = t.var(dim=(0, 1), unbiased=False).sum()
    per_image = t.mean(dim=1).var(dim=0, unbiased=False).sum()
    return per_image / total.clamp_min(1e-12)


def image_share(tokens: torch.Tensor) -> float:
    """Share of the variance of layer-normed ``tokens`` (B, N, D) explained by the per-image
    mean token: 1.0 when all tokens of an image are equal, about 1/N for independent tokens."""
    return float(_image_share(tokens))


class CollapseMonitor:
    """Keeps a queue of pooled target features; returns monitor values when asked."""

    def __init__(self, *, batches: int = 8, min_std: float = 1e-3,
                 min_rankme: float = 1.5) -> None:
        self.queue: deque[torch.Tensor] = deque(maxlen=batches)
        self.shares: deque[torch.Tensor] = deque(maxlen=batches)
        self.min_std = min_std
        self.min_rankme = min_rankme

    def observe(self, target_features: torch.Tensor) -> None:
        """Remember the average-pooled target features (B, N, D) -> (B, D) of one batch."""
        self.queue.append(target_features.detach().float().mean(dim=1))  # stays on device
        self.shares.append(_image_share(target_features.detach()))  # no host sync here

    def values(self, predictions: torch.Tensor | None = None,
               targets: torch.Tensor | None = None) -> dict[str, float]:
        """Monitor values over the observed batches; ``predictions`` and ``targets``
        (..., Kt, D), when the method has them, add ``pred_std`` and ``pred_target_cos``, and
        ``lidar`` when ``targets`` (M*B, Kt, D) hold ``M >= 2`` blocks of the last observed
        batch's ``B`` images."""
        assert self.queue, "observe() at least one batch first"
        pooled = torch.cat(list(self.queue))
        values = {"rankme": rankme(pooled), "target_std": feature_std(pooled)}
        if predictions is not None and targets is not None:
            values["pred_std"] = feature_std(predictions.mean(1))
            values["pred_target_cos"] = float(F.cosine_similarity(
                predictions.float(), targets.float(), dim=-1).mean())
            views = block_views(targets, self.queue[-1].shape[0])
            if views is not None:
                values["lidar"] = lidar(views)
        if self.shares:
            values["target_image_share"] = float(torch.stack(list(self.shares)).mean())
        return values

    def warnings(self, values: dict[str, float]) -> list[str]:
        """Human-readable collapse warnings for ``values`` (empty when healthy)."""
        out = []
        if values["target_std"] < self.min_std:
            out.append(f"target features have collapsed: per-dimension std "
                       f"{values['target_std']:.2e} < eval.min_feature_std={self.min_std}")
        if values["rankme"] < self.min_rankme:
            out.append(f"target features have collapsed: RankMe {values['rankme']:.2f} "
                       f"< eval.min_rankme={self.min_rankme} (1.0 is a single direction)")
        return out

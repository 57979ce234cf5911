"""Conformance of evaluation protocols: on four well-separated classes of features (or tokens,
or tiny synthetic images) a protocol returns a ``Result`` whose counts match its inputs, whose
headline metrics are fractions it reports, that is JSON-serialisable, that honours the
low-shot subset, that separates the classes and that is the same when run twice."""

from __future__ import annotations

import json
from typing import Any

import torch
from torch import nn

from jepa_kit.testing.base import ConfigLike, check_config, expect, generator, label

#: The separable set: classes, train and val images per class, tokens per image.
CLASSES, TRAIN_PER_CLASS, VAL_PER_CLASS, TOKENS = 4, 8, 4, 4


class _TinyEncoder(nn.Module):
    """Stands in for the encoder a probe may ask about (its width and heads)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.embed_dim, self.num_heads = dim, 2
        self.proj = nn.Linear(dim, dim)


class _TinyClassifier(nn.Module):
    """An encoder with a linear head on its pooled tokens: (B, 3, H, W) -> (B, K) logits, for
    a protocol that scores a classifier (``scores = "classifier"``)."""

    def __init__(self, encoder: nn.Module, classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(int(encoder.embed_dim), classes)  # type: ignore[arg-type]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(images).mean(dim=1))


def _clusters(per_class: int, dim: int, tokens: bool, seed: int
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, D) features, or (N, T, D) tokens, around one far-apart centre per class."""
    g = generator(seed)
    labels = torch.arange(CLASSES).repeat_interleave(per_class)
    centres = 4.0 * torch.eye(CLASSES, dim)
    shape = (labels.numel(), TOKENS, dim) if tokens else (labels.numel(), dim)
    noise = 0.1 * torch.randn(shape, generator=g)
    centre = centres[labels][:, None, :] if tokens else centres[labels]
    return centre + noise, labels


def _inputs(cls: type, subset: torch.Tensor | None, dim: int) -> Any:
    from jepa_kit.eval.protocols.base import Inputs

    reads = cls.reads  # type: ignore[attr-defined]
    if reads == "images":
        from jepa_kit.eval.features import build_eval_splits
        from jepa_kit.registry import registry

        data = registry("dataset").load("synthetic").Config(  # type: ignore[attr-defined]
            train_size=8, val_size=4, native_size=16, img_size=32, num_workers=0)
        splits = build_eval_splits(data)
        encoder = registry("encoder").load("vit")(  # type: ignore[call-arg]
            registry("encoder").load("vit").Config(size="tiny", embed_dim=48, depth=1,
                                                   num_heads=2, patch_size=8), img_size=32)
        classes = len(splits.train.classes)
        if getattr(cls, "scores", "encoder") == "classifier":  # it reads logits (B, K)
            encoder = _TinyClassifier(encoder, classes)
        return Inputs(None, None, classes, None, encoder, splits, torch.device("cpu"))
    tokens = reads == "tokens"
    train = _clusters(TRAIN_PER_CLASS, dim, tokens, seed=0)
    val = _clusters(VAL_PER_CLASS, dim, tokens, seed=1)
    return Inputs(train, val, CLASSES, subset, _TinyEncoder(dim), None, torch.device("cpu"))


def check_eval_protocol(cls: type, config: ConfigLike = None, *, dim: int = 8,
                        name: str | None = None) -> None:
    """Build ``cls(config)`` and run it on separable inputs of what it ``reads``."""
    from jepa_kit.eval.protocols.base import Protocol, Result

    cfg = check_config(cls, "eval_protocol", config, name)
    who = f"eval protocol {label(cls)}"
    reads = getattr(cls, "reads", None)
    expect(reads in ("pooled", "tokens", "images"),
           f"{who}: reads must be 'pooled', 'tokens' or 'images', got {reads!r}")
    headline = getattr(cls, "headline", ())
    expect(isinstance(headline, tuple) and "top1" in headline
           and all(isinstance(h, str) and h.isidentifier() for h in headline),
           f"{who}: headline must be a tuple of metric names holding 'top1', got {headline!r}")
    expect(isinstance(getattr(cls, "fits", None), bool), f"{who}: fits must be a bool")
    protocol: Protocol = cls(cfg)
    images = reads == "images"
    subsets: list[torch.Tensor | None] = [None] if images else [
        None, torch.arange(CLASSES * TRAIN_PER_CLASS).view(CLASSES, -1)[:, :2].flatten()]
    for subset in subsets:
        inputs = _inputs(cls, subset, dim)
        result = protocol.run(inputs)
        expect(isinstance(result, Result), f"{who}: run() must return a "
               f"jepa_kit.eval.protocols.Result, got {type(result).__name__}")
        metrics = result.metrics()
        try:
            json.dumps(metrics)
        except (TypeError, ValueError) as exc:
            raise AssertionError(f"{who}: the result's metrics are not JSON-serialisable "
                                 f"({exc}); convert tensors with float() / .tolist()") from None
        for key in headline:
            value = metrics.get(key)
            expect(isinstance(value, (int, float)) and 0.0 <= value <= 1.0,
                   f"{who}: headline metric {key!r} must be a fraction in [0, 1], got {value!r}")
        if images:
            continue
        train_n = len(inputs.train[1]) if subset is None else len(subset)
        counts = (result.num_classes, result.num_train, result.num_val)
        expect(counts == (CLASSES, train_n, CLASSES * VAL_PER_CLASS),
               f"{who}: (num_classes, num_train, num_val) = {counts}, expected "
               f"{(CLASSES, train_n, CLASSES * VAL_PER_CLASS)}"
               + (" (the low-shot subset restricts the fit)" if subset is not None else ""))
        expect(result.top1 >= 0.75, f"{who}: top-1 {result.top1:.2f} on {CLASSES} classes of "
               "far-apart clusters: it should separate them")
        again = protocol.run(_inputs(cls, subset, dim)).metrics()
        expect(again == metrics, f"{who}: two runs on the same inputs differ ({metrics} vs "
               f"{again}): seed any randomness with inputs.seed")

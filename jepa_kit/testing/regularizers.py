"""Conformance of regularizers: an embedding (N, D) or (V, N, D) -> a finite scalar whose
gradient reaches the embedding, the same for the same step."""

from __future__ import annotations

import torch

from jepa_kit.testing.base import ConfigLike, check_config, expect, generator, label

#: What a small check fills in when the config gives no weight or embedding name.
DEFAULTS = {"weight": 1.0, "on": "embedding"}


def check_regularizer(cls: type, config: ConfigLike = None, *, samples: int = 32,
                      dim: int = 16, name: str | None = None) -> None:
    """Build ``cls(config, seed=0)`` and run it on Gaussian embeddings of both shapes."""
    given = dict(config.model_dump() if hasattr(config, "model_dump") else config or {})
    cfg = check_config(cls, "regularizer", {**DEFAULTS, **given}, name)
    who = f"regularizer {label(cls)}"
    regularizer = cls(cfg, seed=0)
    for shape in ((samples, dim), (2, samples, dim)):
        x = torch.randn(shape, generator=generator(0), requires_grad=True)
        value = regularizer(x, step=1)
        expect(isinstance(value, torch.Tensor) and value.shape == (),
               f"{who}: forward(embedding {shape}) must return a scalar tensor, got "
               f"{getattr(value, 'shape', type(value).__name__)}")
        expect(bool(torch.isfinite(value)), f"{who}: forward(embedding {shape}) is {value}")
        value.backward()
        expect(x.grad is not None and bool(torch.isfinite(x.grad).all()),
               f"{who}: no finite gradient reaches the embedding {shape}")
        first, again = value.detach(), regularizer(x.detach(), step=1).detach()
        expect(torch.equal(first, again),
               f"{who}: two calls at the same step differ ({float(first)} vs {float(again)}): "
               f"any sampling must be seeded by the step, so every rank draws alike")

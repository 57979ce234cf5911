"""Conformance checks of the trainable kinds: encoders, predictors and losses.

The contract comes from the interfaces (``jepa_kit.encoders.base`` and friends) and from how the
I-JEPA step uses them ([0], Sec. 3): the context encoder sees only the kept patches, with their
positions added before the others were dropped; the predictor returns one prediction per target
patch, block-major; the loss is a differentiable scalar in representation space.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

import copy

import torch

from jepa_kit.testing.base import (
    ConfigLike,
    check_close,
    check_config,
    check_finite,
    check_gradients,
    check_shape,
    dropped_pixels,
    expect,
    generator,
    label,
    params_equal,
    probe_loss,
    seeded,
    sorted_indices,
)


def check_encoder(cls: type, config: ConfigLike = None, *, img_size: int = 32, in_chans: int = 3,
                  batch_size: int = 2, seed: int = 0, name: str | None = None) -> None:
    """Shapes, attributes, the ``keep`` contract, determinism and gradients of an encoder.

    The ``keep`` contract includes locality: changing the pixels of dropped patches leaves the
    kept tokens unchanged. Samples are independent in eval and in train mode.
    """
    cfg = check_config(cls, "encoder", config, name)
    who = f"encoder {label(cls)}"
    encoder = seeded(lambda: cls(cfg, img_size=img_size, in_chans=in_chans), seed)
    for attr in ("embed_dim", "num_heads"):
        value = getattr(encoder, attr, None)
        expect(isinstance(value, int) and value > 0,
               f"{who}: .{attr} must be a positive int, got {value!r}")
    side = img_size // cfg.resolved_patch_size()  # type: ignore[attr-defined]
    expect(tuple(getattr(encoder, "grid", ())) == (side, side),
           f"{who}: .grid is {getattr(encoder, 'grid', None)!r}, expected {(side, side)} for "
           f"img_size={img_size} and resolved_patch_size()={cfg.resolved_patch_size()}")  # type: ignore[attr-defined]
    n, d, b = side * side, encoder.embed_dim, batch_size
    gen = generator(seed)
    images = torch.randn(b, in_chans, img_size, img_size, generator=gen)
    pristine = images.clone()
    keep = sorted_indices(b, n, max(1, n // 2), gen)

    encoder.eval()
    with torch.no_grad():
        full = encoder(images)
        check_shape(full, (b, n, d), f"{who}: forward(images) with keep=None")
        check_finite(full, who)
        part = encoder(images, keep)
        check_shape(part, (b, keep.shape[1], d), f"{who}: forward(images, keep (B, K))")
        check_close(encoder(images, keep), part, f"{who}: two eval forwards differ", exact=True)
        everything = torch.arange(n).expand(b, n)
        check_close(encoder(images, everything), full,
                    f"{who}: keeping every patch must give the same tokens as keep=None "
                    "(positions are added before patches are dropped)")
        check_close(encoder(images[:1], keep[:1]), part[:1],
                    f"{who}: sample 0 alone differs from sample 0 in a batch (batch mixing?)")
        # The context must not see the target ([0], Sec. 3): pixels of dropped patches may not
        # reach the kept tokens (a network run on the whole image before gathering leaks them).
        patch = cfg.resolved_patch_size()  # type: ignore[attr-defined]
        dropped = dropped_pixels(keep, encoder.grid, patch, (img_size, img_size))
        noise = 3.0 * torch.randn(images.shape, generator=gen)
        check_close(encoder(torch.where(dropped[:, None], noise, images), keep), part,
                    f"{who}: the kept tokens changed when only the pixels of dropped patches "
                    f"changed (patch size {patch}, grid {encoder.grid}, row-major): the context "
                    "sees the pixels it must not; patchify and drop patches before any layer "
                    "that mixes neighbouring pixels or patches")
    expect(torch.equal(images, pristine), f"{who}: forward modified the input images in place")

    twin = seeded(lambda: cls(cfg, img_size=img_size, in_chans=in_chans), seed)
    expect(params_equal(encoder, twin), f"{who}: two builds under the same torch seed differ")

    encoder.train()
    if b > 1:
        # Train mode too (BatchNorm mixes samples only there); the same RNG draws on both sides
        # keep dropout and stochastic depth out of the comparison.
        others = images.clone()
        others[1:] = torch.randn(others[1:].shape, generator=gen)
        with torch.no_grad():
            mine = seeded(lambda: encoder(images, keep), seed)
            theirs = seeded(lambda: encoder(others, keep), seed)
        check_close(theirs[0], mine[0],
                    f"{who}: in train mode the tokens of sample 0 changed when only the other "
                    "samples of the batch changed: each sample must be encoded independently "
                    "(batch statistics such as BatchNorm's mix samples; use LayerNorm or "
                    "GroupNorm)")
    out = encoder(images, keep)
    probe_loss(out, gen).backward()
    check_gradients(encoder, who)


def check_predictor(cls: type, config: ConfigLike = None, *, grid: tuple[int, int] = (4, 4),
                    embed_dim: int = 48, encoder_heads: int = 2, batch_size: int = 2,
                    num_targets: int = 2, seed: int = 0, name: str | None = None) -> None:
    """Output (M * B, Kt, D) block-major, per-sample independence, determinism, gradients."""
    cfg = check_config(cls, "predictor", config, name)
    who = f"predictor {label(cls)}"

    def build() -> torch.nn.Module:
        return cls(cfg, grid=grid, embed_dim=embed_dim, encoder_heads=encoder_heads)

    predictor = seeded(build, seed)
    n, b, m = grid[0] * grid[1], batch_size, num_targets
    expect(n >= 4, f"{who}: the check needs a grid of at least 4 patches, got {grid}")
    gen = generator(seed)
    # Context and targets disjoint, as a masker without overlap gives them.
    order = torch.rand(b, n, generator=gen).argsort(dim=1)
    kc, kt = n // 2, max(1, n // 4)
    context_idx = order[:, :kc].sort(dim=1).values  # (B, Kc)
    rest = order[:, kc:]
    target_idx = torch.stack([  # (M, B, Kt): each block a random draw from the rest
        rest.gather(1, sorted_indices(b, n - kc, kt, gen)) for _ in range(m)
    ]).sort(dim=2).values
    context = torch.randn(b, kc, embed_dim, generator=gen)

    predictor.eval()
    with torch.no_grad():
        out = predictor(context, context_idx, target_idx)
        check_shape(out, (m * b, kt, embed_dim), f"{who}: forward(context, context_idx, "
                    f"target_idx (M={m}, B={b}, Kt={kt}))")
        check_finite(out, who)
        blocks = out.view(m, b, kt, embed_dim)
        for i in range(b):
            alone = predictor(context[i:i + 1], context_idx[i:i + 1], target_idx[:, i:i + 1])
            check_close(alone.view(m, kt, embed_dim), blocks[:, i],
                        f"{who}: sample {i} predicted alone differs from rows j*B+{i} of the "
                        "batched output (the layout must be block-major: row j*B+b is block j "
                        "of sample b)")
        again = predictor(context, context_idx, target_idx)
        check_close(again, out, f"{who}: two eval forwards differ", exact=True)
    twin = seeded(build, seed)
    expect(params_equal(predictor, twin), f"{who}: two builds under the same torch seed differ")

    predictor.train()
    context = context.clone().requires_grad_(True)
    probe_loss(predictor(context, context_idx, target_idx), gen).backward()
    check_gradients(predictor, who)
    expect(context.grad is not None and bool(context.grad.abs().sum() > 0),
           f"{who}: no gradient reached the context tokens, so the encoder would not learn")


def check_loss(cls: type, config: ConfigLike = None, *, rows: int = 6, tokens: int = 5,
               dim: int = 16, seed: int = 0, name: str | None = None) -> None:
    """``prepare_targets`` keeps shapes; the loss is a finite, differentiable, repeatable scalar.

    Whether the loss is zero for identical inputs is not checked: regularised losses are not.
    """
    cfg = check_config(cls, "loss", config, name)
    who = f"loss {label(cls)}"
    loss_fn = seeded(lambda: cls(cfg), seed)
    gen = generator(seed)

    features = torch.randn(2, tokens * 2, dim, generator=gen)
    pristine = features.clone()
    with torch.no_grad():
        prepared = loss_fn.prepare_targets(features)
    check_shape(prepared, features.shape, f"{who}: prepare_targets(features (B, N, D))")
    check_finite(prepared, f"{who}: prepare_targets")
    expect(torch.equal(features, pristine), f"{who}: prepare_targets modified its input in place")

    predictions = torch.randn(rows, tokens, dim, generator=gen, requires_grad=True)
    targets = torch.randn(rows, tokens, dim, generator=gen)
    kept = (predictions.detach().clone(), targets.clone())
    value = loss_fn(predictions, targets)
    expect(isinstance(value, torch.Tensor) and value.dim() == 0,
           f"{who}: forward must return a 0-dim tensor, got "
           f"{tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__}")
    expect(value.is_floating_point(), f"{who}: the loss has dtype {value.dtype}, not a float")
    check_finite(value, who)
    expect(value.requires_grad, f"{who}: the loss does not depend on the predictions through "
           "autograd (detached, or computed without gradients); it must be differentiable")
    value.backward()
    grad = predictions.grad
    expect(grad is not None and torch.isfinite(grad).all() and bool(grad.abs().sum() > 0),
           f"{who}: the loss must be differentiable in the predictions (gradient missing, "
           "zero or non-finite)")
    if any(p.requires_grad for p in loss_fn.parameters()):
        check_gradients(loss_fn, who)
    expect(torch.equal(predictions.detach(), kept[0]) and torch.equal(targets, kept[1]),
           f"{who}: forward modified its inputs in place")
    with torch.no_grad():
        repeat = loss_fn(predictions.detach().clone(), targets.clone())
        other = copy.deepcopy(loss_fn)(predictions.detach().clone(), targets.clone())
    first = value.detach()
    expect(torch.equal(repeat, first) and torch.equal(other, first),
           f"{who}: the same inputs gave different values ({float(first)}, {float(repeat)}, "
           f"{float(other)})")

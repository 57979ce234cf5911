"""Conformance checks of maskers, and of one batch of masks on its own.

A masker runs in data-loader workers on the CPU, so besides the shape contract it must be
reproducible from its arguments alone: the loader seeds the generator from (run seed, global
step, rank) and expects the same masks in every process and after a resume.
"""

from __future__ import annotations

import pickle

import torch

from jepa_kit.maskers.base import Masks
from jepa_kit.testing.base import ConfigLike, check_config, expect, generator, label


def check_masks(masks: object, *, grid: tuple[int, int], batch_size: int,
                allow_overlap: bool = False, who: str = "masks") -> None:
    """One ``Masks`` against the contract.

    ``context`` (B, Kc) and ``targets`` (M, B, Kt) int64, every index on the grid, every row
    sorted with distinct indices (equal lengths across the batch are implied by the tensor
    shapes), and no target patch in the context unless ``allow_overlap``.
    """
    expect(isinstance(masks, Masks), f"{who}: sample() must return a jepa_kit.maskers.Masks, "
           f"got {type(masks).__name__}")
    assert isinstance(masks, Masks)
    n = grid[0] * grid[1]
    context, targets = masks.context, masks.targets
    for part, tensor, dims in (("context", context, 2), ("targets", targets, 3)):
        expect(isinstance(tensor, torch.Tensor), f"{who}: {part} is not a tensor")
        expect(tensor.dtype == torch.int64, f"{who}: {part} has dtype {tensor.dtype}, "
               "expected torch.int64 (index tensors)")
        expect(tensor.dim() == dims, f"{who}: {part} has shape {tuple(tensor.shape)}, expected "
               f"{'(B, Kc)' if dims == 2 else '(M, B, Kt)'}")
        expect(tensor.device.type == "cpu", f"{who}: {part} is on {tensor.device}; maskers run "
               "in CPU data-loader workers and the trainer moves the batch")
        expect(all(s > 0 for s in tensor.shape), f"{who}: {part} is empty: {tuple(tensor.shape)}")
        expect(bool(((tensor >= 0) & (tensor < n)).all()),
               f"{who}: {part} holds indices outside [0, {n}) for grid {grid}")
        expect(bool((tensor.diff(dim=-1) > 0).all()), f"{who}: every {part} row must be sorted "
               "ascending with distinct indices")
    expect(context.shape[0] == batch_size,
           f"{who}: context has {context.shape[0]} rows for batch_size={batch_size}")
    expect(targets.shape[1] == batch_size,
           f"{who}: targets has shape {tuple(targets.shape)}, expected (M, {batch_size}, Kt)")
    if allow_overlap:
        return
    taken = torch.zeros(batch_size, n, dtype=torch.bool)
    taken.scatter_(1, context, True)
    overlap = taken.gather(1, targets.permute(1, 0, 2).reshape(batch_size, -1))  # (B, M * Kt)
    expect(not bool(overlap.any()), f"{who}: target patches also appear in the context; set the "
           "config's allow_overlap option if that is intended")


def check_masker(cls: type, config: ConfigLike = None, *, grid: tuple[int, int] = (8, 8),
                 batch_size: int = 4, steps: tuple[int, ...] = (0, 1, 17), seed: int = 0,
                 name: str | None = None) -> None:
    """``check_grid`` accepts ``grid``; masks follow the contract for several steps and batch
    sizes; the same (batch size, step, generator seed) gives the same masks from any instance;
    the global RNG is left alone.

    Overlap between context and targets is allowed only when the config has a true
    ``allow_overlap`` option.
    """
    cfg = check_config(cls, "masker", config, name)
    who = f"masker {label(cls)}"
    try:
        cfg.check_grid(grid)  # type: ignore[attr-defined]
    except ValueError as exc:
        raise AssertionError(f"{who}: check_grid rejects the grid {grid} the check runs on "
                             f"({exc}); pass a config or grid that fits") from None
    allow_overlap = bool(getattr(cfg, "allow_overlap", False))
    masker = cls(cfg, grid=grid)

    rng_before = torch.random.get_rng_state()
    first: dict[tuple[int, int], Masks] = {}
    for b in (1, batch_size):
        for step in steps:
            masks = masker.sample(b, step, generator(seed + step))
            check_masks(masks, grid=grid, batch_size=b, allow_overlap=allow_overlap,
                        who=f"{who}: sample(batch_size={b}, step={step})")
            first[(b, step)] = masks
    expect(torch.equal(torch.random.get_rng_state(), rng_before),
           f"{who}: sample() drew from the global torch RNG; draw only from the generator given")

    # A fresh instance, asked in another order, must agree: no hidden state between calls. It
    # comes through pickle, as a masker reaches data-loader workers started with spawn.
    try:
        fresh = pickle.loads(pickle.dumps(cls(cfg, grid=grid)))
    except Exception as exc:
        raise AssertionError(f"{who}: the masker cannot be pickled ({type(exc).__name__}: "
                             f"{exc}); data-loader workers receive it pickled") from None
    for (b, step), masks in reversed(list(first.items())):
        again = fresh.sample(b, step, generator(seed + step))
        expect(torch.equal(again.context, masks.context)
               and torch.equal(again.targets, masks.targets),
               f"{who}: sample(batch_size={b}, step={step}) with the same generator seed gave "
               "different masks (hidden state, or randomness not drawn from the generator)")

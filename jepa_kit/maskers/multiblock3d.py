"""V-JEPA's 3-D multi-block masking: spatial blocks repeated through time, several generators.

"We use a multi-block masking ... sampling several (possibly overlapping) spatially continuous
blocks with various aspect ratios ... repeated across the entire temporal dimension" ([0],
Sec. 3.2). Each *mask generator* has its own recipe, and every batch gets one mask pair from
each: short-range (8 blocks of spatial scale 0.15) and long-range (2 blocks of scale 0.7), both
with aspect ratio (0.75, 1.5) and temporal scale 1.0 (the official ``configs/pretrain``). For
one generator and one sample, the target is the UNION of its ``num_blocks`` (t, h, w) boxes and
the context is everything else; per batch, one block size per generator is shared by every
sample, and targets and contexts are then cut to the batch's shortest.

Two modes:

* ``reference`` reproduces the official ``_MaskGenerator`` (jepa ``src/masks/multiblock3d.py``)
  where it is deterministic: block sizes from a ``torch.Generator`` seeded with ``step`` (three
  ``torch.rand(1)`` draws: temporal scale, spatial scale, aspect ratio; ``t = max(1, int(T s_t))``,
  ``n = int(H W s)``, ``h = round(sqrt(n a))``, ``w = round(sqrt(n / a))`` capped at H x W);
  every offset allowed (inclusive bounds); a sample's blocks redrawn while they leave no context;
  and the FIRST indices kept when cutting to the batch minimum. Positions come from
  ``generator`` instead of the global RNG, so masks match in distribution, not value by value.
* ``uniform`` (default) draws the sizes from ``generator`` per batch (``step`` unused) with a
  side floor of 1, and cuts each sample's target and context to the batch minimum by keeping a
  uniformly random subset (sorted) instead of the first indices. The official cut keeps the
  earliest tokens in (t, r, c) order: with blocks spanning all of time, every larger sample loses
  its last frames' tokens, so late frames are under-represented in both context and targets.

Both modes run in bounded time. The official code redraws a sample's blocks until some context
is left (and loops forever when a block covers the whole clip); here ``TRIES`` candidate
placements per sample are drawn at once and the first that leaves context is taken (the same
distribution as the redraw loop whenever one of them does), up to ``ROUNDS`` times for the
samples still without context; if none does, the sample's last
blocks are dropped until context is left (with a warning). ``Config.check_grid`` refuses a
generator whose block can cover the whole clip, so one block always leaves context.

On a 2-D (H, W) grid the masker works as on one frame (T = 1), which lets image recipes and the
conformance checks use it.

- [0]: V-JEPA, Bardes et al. 2024, arXiv:2404.08471
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator

from jepa_kit.maskers import blocks
from jepa_kit.maskers.base import Masker, MaskerConfig, Masks

#: Candidate placements drawn at once per sample and generator, and rounds of them for the
#: samples still without context, before blocks are dropped.
TRIES = 8
ROUNDS = 4

Pair = tuple[float, float]


class MaskGenerator(BaseModel):
    """One kind of mask (an entry of the official ``mask`` list)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    num_blocks: int = Field(8, ge=1, le=64, description="Blocks whose union is the target.")
    spatial_scale: Pair = Field((0.15, 0.15), description="Range of a block's share of the "
                                "H x W frame grid.")
    temporal_scale: Pair = Field((1.0, 1.0), description="Range of a block's share of the "
                                 "T tubelets (1.0: the whole clip).")
    aspect_ratio: Pair = Field((0.75, 1.5), description="Range of a block's height / width.")
    max_keep: int | None = Field(None, ge=1, description="Cap on the context length (official "
                                 "max_keep; None: no cap).")

    @model_validator(mode="after")
    def _ranges(self) -> MaskGenerator:
        for key in ("spatial_scale", "temporal_scale"):
            lo, hi = getattr(self, key)
            if not 0 < lo <= hi <= 1:
                raise ValueError(f"{key}=({lo}, {hi}) must satisfy 0 < low <= high <= 1")
        lo, hi = self.aspect_ratio
        if not 0 < lo <= hi:
            raise ValueError(f"aspect_ratio=({lo}, {hi}) must satisfy 0 < low <= high")
        return self


#: The official ViT-L/H pre-training masks ([0], configs/pretrain/vitl16.yaml).
SHORT_RANGE = MaskGenerator(num_blocks=8, spatial_scale=(0.15, 0.15))
LONG_RANGE = MaskGenerator(num_blocks=2, spatial_scale=(0.7, 0.7))


@dataclass(frozen=True)
class MultiMasks(Masks):
    """The masks of several generators for one batch.

    ``context`` / ``targets`` are generator 0's (so code that knows only ``Masks`` sees one
    valid pair); the others are packed along the token axis in ``more_context`` (B, sum Kc) and
    ``more_targets`` (B, sum Kt), with their lengths in ``context_sizes`` / ``target_sizes``.
    ``groups()`` unpacks every generator's ``Masks`` (targets (1, B, Kt)).
    """

    more_context: torch.Tensor
    more_targets: torch.Tensor
    context_sizes: tuple[int, ...] = ()
    target_sizes: tuple[int, ...] = ()

    @classmethod
    def join(cls, groups: Sequence[Masks]) -> MultiMasks:
        first, rest = groups[0], groups[1:]
        empty = first.context[:, :0]
        return cls(first.context, first.targets,
                   torch.cat([g.context for g in rest], 1) if rest else empty,
                   torch.cat([g.targets[0] for g in rest], 1) if rest else empty,
                   tuple(int(g.context.shape[1]) for g in rest),
                   tuple(int(g.targets.shape[2]) for g in rest))

    @property
    def num_groups(self) -> int:
        return 1 + len(self.context_sizes)

    def groups(self) -> list[Masks]:
        contexts = self.more_context.split(list(self.context_sizes), dim=1)
        targets = self.more_targets.split(list(self.target_sizes), dim=1)
        return [Masks(self.context, self.targets),
                *(Masks(c, t.unsqueeze(0)) for c, t in zip(contexts, targets, strict=True))]

    def _apply(self, fn: object) -> MultiMasks:
        return MultiMasks(*(fn(t) for t in (self.context, self.targets, self.more_context,  # type: ignore[operator]
                                             self.more_targets)),
                          self.context_sizes, self.target_sizes)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> MultiMasks:
        return self._apply(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> MultiMasks:
        return self._apply(lambda t: t.pin_memory())


def mask_groups(masks: Masks) -> list[Masks]:
    """Every generator's masks of a batch: ``groups()`` of ``MultiMasks``, else ``[masks]``."""
    return masks.groups() if isinstance(masks, MultiMasks) else [masks]


class MultiBlock3DMasker(Masker):
    """V-JEPA's multi-block masks ([0], Sec. 3.2), in the official or the ``uniform`` mode."""

    class Config(MaskerConfig):
        kind: Literal["multiblock3d"] = "multiblock3d"
        mode: Literal["uniform", "reference"] = Field(
            "uniform", description="reference: the official sampler's sizes and first-index "
            "cut; uniform: sizes from the batch generator, random-subset cut (module docstring)."
        )
        generators: list[MaskGenerator] = Field(
            default_factory=lambda: [SHORT_RANGE.model_copy(), LONG_RANGE.model_copy()],
            min_length=1, max_length=8,
            description="Mask generators; each batch gets one (context, target) pair from each "
            "(official: short-range 8 x 0.15 and long-range 2 x 0.7).",
        )

        def check_grid(self, grid: tuple[int, ...]) -> None:
            """Refuse generators whose block can cover the whole clip (no context is left; the
            official sampler loops forever) or, in reference mode, be empty."""
            if len(grid) not in (2, 3):
                raise ValueError(f"masker.kind='multiblock3d' needs a (T, H, W) or (H, W) "
                                 f"patch grid, got {tuple(grid)}")
            t_max, h, w = (1, *grid) if len(grid) == 2 else grid
            floor = 0 if self.mode == "reference" else 1
            for i, gen in enumerate(self.generators):
                key = f"masker.generators[{i}]"
                sizes = blocks.reachable_sizes((h, w), gen.spatial_scale, gen.aspect_ratio,
                                               (h, w), False, floor)
                frames = {temporal_size(gen.temporal_scale, t_max, u)
                          for u in (0.0, blocks.U_MAX)}
                if min(a * b for a, b in sizes) == 0:
                    raise ValueError(f"{key}.spatial_scale={gen.spatial_scale} can give an empty "
                                     f"block on a {h}x{w} patch grid in masker.mode='reference'; "
                                     f"raise it or use masker.mode='uniform'")
                if (h, w) in sizes and t_max in frames:
                    raise ValueError(f"{key}: a block can cover the whole {t_max}x{h}x{w} patch "
                                     f"grid and leave no context ({key}.spatial_scale="
                                     f"{gen.spatial_scale}, aspect_ratio={gen.aspect_ratio}); "
                                     "lower the spatial scale")

    def __init__(self, config: Config, *, grid: tuple[int, ...]) -> None:
        config.check_grid(grid)
        self.config = config.model_copy(deep=True)
        self.grid = tuple(int(g) for g in grid)
        self.grid3 = (1, *self.grid) if len(self.grid) == 2 else self.grid
        self.floor = 0 if config.mode == "reference" else 1

    def block_size(self, gen: MaskGenerator, step: int, generator: torch.Generator
                   ) -> tuple[int, int, int]:
        """``(t, h, w)`` of one generator's blocks in a batch."""
        if self.config.mode == "reference":
            g = torch.Generator().manual_seed(step)  # the official per-step seed
            ut, us, ua = (torch.rand(1, generator=g).item() for _ in range(3))
        else:
            ut, us, ua = torch.rand(3, generator=generator).tolist()
        t_max, h_max, w_max = self.grid3
        t = temporal_size(gen.temporal_scale, t_max, ut)
        h, w = blocks.shape(int(h_max * w_max * blocks.lerp(gen.spatial_scale, us)),
                            blocks.lerp(gen.aspect_ratio, ua), (h_max, w_max), self.floor)
        return t, h, w

    def _boxes(self, size: tuple[int, int, int], shape: tuple[int, ...],
               generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Random blocks of ``size``, ``shape`` = (..., K): their frame spans (..., K, T) and
        frame-grid cells (..., K, H*W), 0/1 float (every offset allowed, as the official)."""
        (t, h, w), (gt, gh, gw) = size, self.grid3
        starts = torch.randint(0, gt - t + 1, shape, generator=generator)
        tops = torch.randint(0, gh - h + 1, shape, generator=generator)
        lefts = torch.randint(0, gw - w + 1, shape, generator=generator)
        spatial = (blocks.spans(h, gh)[tops][..., :, None] *
                   blocks.spans(w, gw)[lefts][..., None, :]).flatten(-2)
        return blocks.spans(t, gt)[starts], spatial

    def _draw(self, gen: MaskGenerator, b: int, step: int, generator: torch.Generator
              ) -> torch.Tensor:
        """(B, N) bool: each sample's target (the union of its blocks)."""
        size = self.block_size(gen, step, generator)
        k, r, n = gen.num_blocks, TRIES, math.prod(self.grid3)
        target = torch.zeros(b, n, dtype=torch.bool)
        pending = torch.arange(b)
        for _ in range(ROUNDS):  # rounds redraw only the samples still without context
            p = pending.numel()
            frames, spatial = self._boxes(size, (p, r, k), generator)  # (P, R, K, T), (.., H*W)
            # Cells covered by some block: (P*R, T, K) @ (P*R, K, H*W), a count per cell.
            count = torch.bmm(frames.view(p * r, k, -1).transpose(1, 2),
                              spatial.view(p * r, k, -1))
            covered = count.view(p, r, n) > 0
            ok = ~covered.all(-1)  # (P, R): some context left
            pick = ok.to(torch.uint8).argmax(1)  # the first candidate that leaves context
            done = ok.any(1)
            target[pending[done]] = covered[done.nonzero().flatten(), pick[done]]
            frames, spatial, pending = frames[~done], spatial[~done], pending[~done]
            if pending.numel() == 0:
                return target
        for j, i in enumerate(pending.tolist()):  # drop candidate 0's last blocks
            prefix = (frames[j, 0, :, :, None] * spatial[j, 0, :, None, :]).flatten(1)
            prefix = prefix.cumsum(0) > 0  # (K, N): the union of blocks 0..k
            first_full = int(prefix.all(1).to(torch.uint8).argmax())
            target[i] = prefix[first_full - 1]  # one block never covers all (check_grid)
        warnings.warn(f"multiblock3d masker: {pending.numel()} of {b} samples left no context "
                      f"in {ROUNDS * TRIES} placements of {k} blocks of {size}; their last "
                      "blocks were dropped", stacklevel=3)
        return target

    def _cut(self, mask: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
        """(B, N) bool with >= k per row -> (B, k) sorted indices: the first k (reference) or a
        uniformly random k-subset (uniform)."""
        b, n = mask.shape
        if self.config.mode == "reference":
            keep = mask & (mask.cumsum(1) <= k)
        else:
            keys = torch.randint(0, 2**40, (b, n), generator=generator) * n + torch.arange(n)
            keys.masked_fill_(~mask, 2**62)
            keep = keys <= keys.kthvalue(k, dim=1, keepdim=True).values
        return keep.nonzero()[:, 1].view(b, k)

    def sample_generator(self, gen: MaskGenerator, batch_size: int, step: int,
                         generator: torch.Generator) -> Masks:
        """One generator's ``Masks``: context (B, Kc), targets (1, B, Kt)."""
        target = self._draw(gen, batch_size, step, generator)
        context = ~target
        kt = int(target.sum(1).min())
        kc = int(context.sum(1).min())
        if gen.max_keep is not None:
            kc = min(kc, gen.max_keep)
        return Masks(self._cut(context, kc, generator),
                     self._cut(target, kt, generator).unsqueeze(0))

    def sample(self, batch_size: int, step: int, generator: torch.Generator) -> MultiMasks:
        """Every generator's masks, in order (all from ``generator``; reference sizes from
        ``step``)."""
        return MultiMasks.join([self.sample_generator(g, batch_size, step, generator)
                                for g in self.config.generators])


def temporal_size(scale: Pair, frames: int, u: float) -> int:
    """Tubelets a block spans: ``max(1, int(T * s_t))`` as the official sampler."""
    return max(1, int(frames * blocks.lerp(scale, u)))

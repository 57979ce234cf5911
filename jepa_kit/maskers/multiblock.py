"""I-JEPA's multi-block masking: M target blocks and one context block with the targets removed.

Per batch, one target block size and one context block size are drawn (shared by all samples,
so every target mask has the same length); per sample, M target blocks are placed at random,
then a context block is placed where it keeps more than ``min_keep`` patches once the targets
are removed ([0], Sec. 3: targets of scale (0.15, 0.2) and aspect ratio (0.75, 1.5), context of
scale (0.85, 1.0), no overlap). Contexts are then cut to the batch's shortest.

Two modes:

* ``reference`` reproduces the official ``MaskCollator`` (ijepa ``src/masks/multiblock.py``)
  where it is deterministic: block sizes from a ``torch.Generator`` seeded with ``step`` (target
  size first, then context; one ``torch.rand(1)`` per size shared by scale and aspect ratio;
  sides capped at H-1 x W-1; square context), positions with an exclusive upper bound (no block
  ever touches the last row or column; a context of height H-1 always starts at row 0),
  20 context candidates per relaxation level, and the FIRST indices kept when cutting to the
  batch minimum. Positions come from ``generator`` instead of the global RNG, so the masks match
  the reference in distribution, not value by value.
* ``uniform`` (default) keeps the recipe and removes those biases: scale and aspect ratio are
  drawn independently (as [0] describes them) from ``generator``, per batch (``step`` is not
  used); blocks may span the whole grid and take every valid offset (inclusive upper bound);
  the context is placed uniformly among ALL offsets that keep > min_keep patches (what
  unbounded rejection sampling converges to, computed at once); and each sample keeps a
  uniformly random subset of its context, sorted. Keeping the first indices drops the
  bottom-most context patches of every larger sample (reference context coverage falls from
  0.75 on the top row to 0.02 on row 12 of a 14x14 grid), so the encoder rarely sees the bottom
  of an image; a random subset thins every context patch by the same factor instead.

Both modes run in bounded time (no retry loop without a bound). A context that cannot keep
> min_keep patches next to all targets is placed with the last target ignored, then the last
two, ...: the reference's relaxation, the only way context and targets overlap, and it warns.
Reference mode moves a sample on after 20 failed candidates per level, as the reference does;
uniform mode only when no offset at all qualifies. With every target ignored the bare block
always qualifies, because ``Config.check_grid`` refuses any config whose target or context
block can come out with <= min_keep patches (a block has exactly h*w patches, and on such a
batch the reference loops forever). Work per batch: a few small batched matmuls and index
ops, no Python loop over samples or patches.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import Field, model_validator

from jepa_kit.maskers import blocks
from jepa_kit.maskers.base import Masker, MaskerConfig, Masks

#: Context candidates per relaxation level in reference mode (the reference's ``timeout``).
REFERENCE_TRIES = 20

Pair = tuple[float, float]


@dataclass(frozen=True)
class MultiBlockDraw:
    """One batch before collation: the block sizes, ``targets`` (B, M, h*w) row-major indices,
    ``context`` (B, H*W) boolean (context block minus its sample's targets) and ``relaxed``
    (B,) int64, the number of target constraints dropped for each sample's context."""

    target_size: tuple[int, int]
    context_size: tuple[int, int]
    targets: torch.Tensor
    context: torch.Tensor
    relaxed: torch.Tensor


class MultiBlockMasker(Masker):
    """Multi-block masks ([0], Sec. 3), in the reference's or the unbiased ``uniform`` mode."""

    class Config(MaskerConfig):
        kind: Literal["multiblock"] = "multiblock"
        mode: Literal["uniform", "reference"] = Field(
            "uniform",
            description="reference: the official collator's sizes and position biases; "
            "uniform: unbiased positions and truncation (see the module docstring).",
        )
        num_targets: int = Field(4, ge=1, le=64, description="Target blocks per image (M).")
        target_scale: Pair = Field(
            (0.15, 0.2), description="Range of a target block's share of the patch grid."
        )
        target_aspect_ratio: Pair = Field(
            (0.75, 1.5), description="Range of a target block's height / width."
        )
        context_scale: Pair = Field(
            (0.85, 1.0), description="Range of the (square) context block's share of the grid."
        )
        min_keep: int = Field(
            10, ge=1, description="A block must keep more than this many patches (reference: "
            "10 at 224 px; use 4 on grids of 8x8 and smaller)."
        )
        allow_overlap: bool = Field(
            False, description="Let the context keep patches of its sample's target blocks."
        )

        @model_validator(mode="after")
        def _ranges(self) -> MultiBlockMasker.Config:
            for key in ("target_scale", "context_scale"):
                lo, hi = getattr(self, key)
                if not 0 < lo <= hi <= 1:
                    raise ValueError(f"masker.{key}=({lo}, {hi}) must satisfy 0 < low <= high "
                                     "<= 1 (shares of the patch grid)")
            lo, hi = self.target_aspect_ratio
            if not 0 < lo <= hi:
                raise ValueError(f"masker.target_aspect_ratio=({lo}, {hi}) must satisfy "
                                 "0 < low <= high")
            return self

        def sides(self, grid: tuple[int, int]) -> tuple[tuple[int, int], int]:
            """Largest block ``(h, w)`` and smallest side. The reference caps sides at H-1 x W-1
            (the context never spans the image) and lets a side round to 0 (an empty block,
            refused by check_grid); uniform mode allows the whole grid and floors sides at 1."""
            h, w = grid
            return ((h - 1, w - 1), 0) if self.mode == "reference" else ((h, w), 1)

        def check_grid(self, grid: tuple[int, int]) -> None:
            """Refuse configs on which some batch can never be masked.

            A target block has exactly h*w patches and a context block at most h*w, so a batch
            whose drawn size has <= min_keep patches is hopeless: the reference loops forever
            on it and dropping target constraints cannot help. The sizes a config can draw are
            enumerated exactly (``blocks.reachable_sizes``), so this refuses nothing that
            always works.
            """
            if len(grid) != 2:
                raise ValueError(f"masker.kind='multiblock' samples 2-D blocks; the encoder's "
                                 f"patch grid is {tuple(grid)}")
            h, w = grid
            if self.mode == "reference" and min(grid) < 2:
                raise ValueError(f"masker.mode='reference' caps blocks at {h - 1}x{w - 1} on a "
                                 f"{h}x{w} patch grid, which leaves no block; use "
                                 "masker.mode='uniform' or a larger data.img_size")
            (limit, floor), coupled = self.sides(grid), self.mode == "reference"
            for what, key, scale, ratio in (
                ("target", "target_scale", self.target_scale, self.target_aspect_ratio),
                ("context", "context_scale", self.context_scale, (1.0, 1.0)),
            ):
                areas = sorted(a * b for a, b in
                               blocks.reachable_sizes(grid, scale, ratio, limit, coupled, floor))
                smallest, largest = areas[0], areas[-1]
                if smallest > self.min_keep:
                    continue
                where = f"on a {h}x{w} patch grid (data.img_size / encoder.patch_size)"
                if largest <= self.min_keep:
                    problem = (f"masker.min_keep={self.min_keep} can never be satisfied {where}: "
                               f"the largest {what} block (masker.{key}={scale}) has {largest} "
                               f"patch{'' if largest == 1 else 'es'}")
                else:
                    problem = (f"masker.min_keep={self.min_keep} is not satisfied by every "
                               f"{what} block {where}: masker.{key}={scale} gives blocks of "
                               f"{smallest} to {largest} patches, and a batch of blocks with "
                               "<= min_keep patches can never be masked (the reference "
                               "collator loops forever on it)")
                fix = (f"lower masker.min_keep to {smallest - 1} or raise masker.{key}"
                       if smallest > 1 else f"raise masker.{key} or use a larger patch grid")
                raise ValueError(f"{problem}; {fix}")

    def __init__(self, config: Config, *, grid: tuple[int, int]) -> None:
        config.check_grid(grid)
        self.config = config.model_copy()  # later edits to the caller's config are unchecked
        self.grid = (int(grid[0]), int(grid[1]))
        self.limit, self.floor = config.sides(self.grid)

    # -- sizes ---------------------------------------------------------------------------------
    def block_sizes(self, step: int, generator: torch.Generator
                    ) -> tuple[tuple[int, int], tuple[int, int]]:
        """``(target (h, w), context (h, w))`` of a batch."""
        c, grid = self.config, self.grid
        if c.mode == "reference":
            # A fresh generator per step, as the reference: sizes depend on the step alone.
            g = torch.Generator().manual_seed(step)
            ut = float(torch.rand(1, generator=g))
            uc = float(torch.rand(1, generator=g))
            target = (blocks.lerp(c.target_scale, ut), blocks.lerp(c.target_aspect_ratio, ut))
            context = (blocks.lerp(c.context_scale, uc), 1.0)
        else:
            us, ua, uc = torch.rand(3, generator=generator).tolist()  # float32: reachable_sizes
            target = (blocks.lerp(c.target_scale, us), blocks.lerp(c.target_aspect_ratio, ua))
            context = (blocks.lerp(c.context_scale, uc), 1.0)
        return (blocks.block_size(*target, grid, self.limit, self.floor),
                blocks.block_size(*context, grid, self.limit, self.floor))

    def _offsets(self, size: tuple[int, int], shape: tuple[int, ...],
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        # reference: torch.randint(0, H - h) excludes the last valid offset.
        extra = 0 if self.config.mode == "reference" else 1
        tops = torch.randint(0, self.grid[0] - size[0] + extra, shape, generator=generator)
        lefts = torch.randint(0, self.grid[1] - size[1] + extra, shape, generator=generator)
        return tops, lefts

    # -- placement -----------------------------------------------------------------------------
    def _place_context(self, union: torch.Tensor, size: tuple[int, int],
                       generator: torch.Generator
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Context offsets for samples whose forbidden cells are ``union`` (P, H, W) 0/1 float:
        ``(tops, lefts, found)``, each (P,); ``found`` is False where no candidate kept more
        than min_keep patches."""
        (h, w), p = size, union.shape[0]
        row_spans, col_spans = blocks.spans(h, self.grid[0]), blocks.spans(w, self.grid[1])
        if self.config.mode == "reference":
            tops, lefts = self._offsets(size, (p, REFERENCE_TRIES), generator)  # (P, T)
            cols = col_spans[lefts]  # (P, T, W)
            hit = (torch.bmm(row_spans[tops], union) * cols).sum(-1)  # target cells inside
            ok = h * w - hit > self.config.min_keep
            pick = ok.to(torch.uint8).argmax(1, keepdim=True)  # the first valid (0 if none)
            return (tops.gather(1, pick).squeeze(1), lefts.gather(1, pick).squeeze(1),
                    ok.gather(1, pick).squeeze(1))
        # Every offset at once: (Or, H) @ (P, H, W) @ (W, Oc) -> cells of union in each box.
        kept = h * w - row_spans @ union @ col_spans.T  # (P, Or, Oc)
        ok = (kept > self.config.min_keep).flatten(1)
        # Uniform among the valid offsets: the largest random key among them.
        keys = torch.rand(ok.shape, generator=generator).masked_fill_(~ok, -1.0)
        pick = keys.argmax(1)
        found = ok.gather(1, pick[:, None]).squeeze(1)
        return pick // col_spans.shape[0], pick % col_spans.shape[0], found

    def draw(self, batch_size: int, step: int, generator: torch.Generator) -> MultiBlockDraw:
        """Blocks of one batch, before cutting contexts to equal length."""
        c, (gh, gw) = self.config, self.grid
        b, m = batch_size, c.num_targets
        target_size, context_size = self.block_sizes(step, generator)
        t_tops, t_lefts = self._offsets(target_size, (b, m), generator)  # (B, M)
        t_rows = blocks.spans(target_size[0], gh)[t_tops]  # (B, M, H)
        t_cols = blocks.spans(target_size[1], gw)[t_lefts]  # (B, M, W)

        def union(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
            return blocks.cover(rows, cols).clamp_(max=1.0)  # (P, H, W) 0/1

        # Level k ignores the last k targets (the reference's relaxation); a sample moves on to
        # the next level only if no candidate kept > min_keep patches. allow_overlap starts at
        # the unconstrained level.
        first = m if c.allow_overlap else 0
        forbidden = union(t_rows[:, : m - first], t_cols[:, : m - first])
        c_tops = torch.zeros(b, dtype=torch.long)
        c_lefts = torch.zeros(b, dtype=torch.long)
        relaxed = torch.full((b,), first, dtype=torch.long)
        pending, level_union = torch.arange(b), forbidden
        for level in range(first, m + 1):
            if level > first:
                level_union = union(t_rows[pending, : m - level], t_cols[pending, : m - level])
            tops, lefts, found = self._place_context(level_union, context_size, generator)
            if level == first and bool(found.all()):  # the common case: no bookkeeping
                c_tops, c_lefts, pending = tops, lefts, pending[:0]
                break
            done = pending[found]
            c_tops[done], c_lefts[done], relaxed[done] = tops[found], lefts[found], level
            forbidden[done] = level_union[found]
            pending = pending[~found]
            if pending.numel() == 0:
                break
        # With no target left, a bare context block has > min_keep patches (check_grid).
        assert pending.numel() == 0, "multiblock: context placement did not finish"
        if not c.allow_overlap and bool((relaxed > 0).any()):
            warnings.warn(f"multiblock masker: {int((relaxed > 0).sum())} of {b} contexts could "
                          f"not keep more than masker.min_keep={c.min_keep} patches beside all "
                          "their targets; the last targets were ignored for them (as the "
                          "reference does), so those contexts overlap targets", stacklevel=2)

        c_rows = blocks.spans(context_size[0], gh)[c_tops]  # (B, H)
        c_cols = blocks.spans(context_size[1], gw)[c_lefts]  # (B, W)
        context = (c_rows[:, :, None] * c_cols[:, None, :]) > forbidden  # block minus targets
        targets = blocks.box_indices(t_tops, t_lefts, target_size, gw)  # (B, M, h*w)
        return MultiBlockDraw(target_size, context_size, targets, context.view(b, gh * gw),
                              relaxed)

    def collate(self, d: MultiBlockDraw, generator: torch.Generator) -> Masks:
        """Cut every context to the batch's shortest -> ``Masks``."""
        mask = d.context  # (B, N)
        b, n = mask.shape
        k = int(mask.sum(1).min())
        if self.config.mode == "reference":
            keep = mask & (mask.cumsum(1) <= k)  # the first k of each row
        else:
            # A uniformly random k-subset per row: the k smallest of distinct random keys
            # (the index breaks ties, so exactly k pass the threshold).
            keys = torch.randint(0, 2**40, (b, n), generator=generator) * n + torch.arange(n)
            keys.masked_fill_(~mask, 2**62)
            keep = keys <= keys.kthvalue(k, dim=1, keepdim=True).values
        context = keep.nonzero()[:, 1].view(b, k)  # row-major order: ascending per row
        return Masks(context=context, targets=d.targets.transpose(0, 1).contiguous())

    def sample(self, batch_size: int, step: int, generator: torch.Generator) -> Masks:
        """``context`` (B, Kc) and ``targets`` (M, B, h*w), all from ``generator`` (and, in
        reference mode, the block sizes from ``step``)."""
        return self.collate(self.draw(batch_size, step, generator), generator)

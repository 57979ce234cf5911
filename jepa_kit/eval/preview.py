"""See what a masker does: masks drawn over images, and where masks fall on average.

``draw_masks`` paints a contact sheet with PIL only (matplotlib stays an optional extra):
patches outside both context and targets are dimmed, context patches are tinted blue and each
target block gets its own colour and an outline, so overlapping blocks stay readable. I-JEPA's
multi-block masks are meant to be large, semantic-scale target blocks and one informative,
spatially spread context block with the targets removed ([0], Sec. 3, Fig. 4); a sheet makes
that (or its absence) visible at a glance.

``mask_coverage`` samples the batches a run would and profiles them with
``jepa_kit.maskers.stats.coverage``: per row and per column, how often a patch is context and how
often it lies in some target block, plus the mean mask lengths. A masker biased toward a border
or the centre shows up as a slope in those frequencies.

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

import math

import torch
from PIL import Image, ImageDraw

# The loader's mask-stream tag, so a preview shows the very masks a run's batch gets.
from jepa_kit.data.loader import _MASK_TAG, mix_seed
from jepa_kit.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from jepa_kit.maskers.base import Masker, Masks
from jepa_kit.maskers.stats import MaskCoverage, coverage

RGB = tuple[int, int, int]
CONTEXT_COLOUR: RGB = (40, 120, 255)
#: Target block colours, in block order (cycled past the end); none is close to the context blue.
TARGET_COLOURS: tuple[RGB, ...] = (
    (255, 140, 0), (230, 30, 60), (40, 200, 80), (220, 40, 220),
    (255, 230, 0), (0, 210, 210), (150, 90, 40), (255, 150, 190),
)
PAD = 4
LEGEND_HEIGHT = 16
MIN_TILE = 128


def target_colour(block: int) -> RGB:
    return TARGET_COLOURS[block % len(TARGET_COLOURS)]


def unnormalise(images: torch.Tensor) -> torch.Tensor:
    """ImageNet-normalised float (B, 3, S, S) -> uint8 (B, 3, S, S)."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images.float().cpu() * std + mean).clamp(0, 1).mul(255).round().to(torch.uint8)


def tile_scale(img_size: int, min_tile: int = MIN_TILE) -> int:
    """Integer upscaling so a tile is at least ``min_tile`` px (small images stay legible)."""
    return max(1, math.ceil(min_tile / img_size))


def sheet_size(n: int, img_size: int, cols: int = 4, min_tile: int = MIN_TILE) -> tuple[int, int]:
    """``(width, height)`` in px of the sheet ``draw_masks`` makes for ``n`` images."""
    tile = img_size * tile_scale(img_size, min_tile)
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    return cols * tile + (cols + 1) * PAD, rows * tile + (rows + 1) * PAD + LEGEND_HEIGHT


def _tile(image: torch.Tensor, context: set[int], blocks: list[set[int]],
          grid: tuple[int, int], scale: int) -> Image.Image:
    side = image.shape[-1] * scale
    base = Image.fromarray(image.permute(1, 2, 0).numpy()).resize((side, side), Image.NEAREST)
    overlay = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    gh, gw = grid
    ph, pw = side // gh, side // gw

    def box(t: int) -> tuple[int, int, int, int]:
        r, c = divmod(t, gw)
        return c * pw, r * ph, (c + 1) * pw - 1, (r + 1) * ph - 1

    covered = set().union(*blocks) if blocks else set()
    for t in range(gh * gw):
        if t in context:
            draw.rectangle(box(t), fill=(*CONTEXT_COLOUR, 80))
        elif t not in covered:
            draw.rectangle(box(t), fill=(0, 0, 0, 150))
    for b, block in enumerate(blocks):
        colour = target_colour(b)
        for t in block:
            draw.rectangle(box(t), fill=(*colour, 90))
        # Outline the block: a patch edge is drawn where the neighbour is not in the block.
        for t in block:
            r, c = divmod(t, gw)
            x0, y0, x1, y1 = box(t)
            edges = (((r - 1) * gw + c, r > 0, (x0, y0, x1, y0)),
                     ((r + 1) * gw + c, r < gh - 1, (x0, y1, x1, y1)),
                     (t - 1, c > 0, (x0, y0, x0, y1)),
                     (t + 1, c < gw - 1, (x1, y0, x1, y1)))
            for other, inside, line in edges:
                if not inside or other not in block:
                    draw.line(line, fill=(*colour, 255), width=max(1, scale // 2))
    return Image.alpha_composite(base.convert("RGBA"), overlay).convert("RGB")


def draw_masks(images: torch.Tensor, masks: Masks, grid: tuple[int, int], *,
               cols: int = 4, min_tile: int = MIN_TILE) -> Image.Image:
    """A sheet of ``images`` (n, 3, S, S; normalised) with ``masks`` (batch of n) drawn over.

    Tiles go row by row, ``cols`` to a row; a legend line at the bottom names the colours.
    """
    n, s = images.shape[0], images.shape[-1]
    if masks.context.shape[0] != n:
        raise ValueError(f"{n} images but masks for {masks.context.shape[0]}")
    scale = tile_scale(s, min_tile)
    tile = s * scale
    width, height = sheet_size(n, s, cols, min_tile)
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    pixels = unnormalise(images)
    cols = min(cols, n)
    for i in range(n):
        context = set(masks.context[i].tolist())
        blocks = [set(masks.targets[m, i].tolist()) for m in range(masks.num_targets)]
        r, c = divmod(i, cols)
        sheet.paste(_tile(pixels[i], context, blocks, grid, scale),
                    (PAD + c * (tile + PAD), PAD + r * (tile + PAD)))
    draw = ImageDraw.Draw(sheet)
    x, y = PAD, height - LEGEND_HEIGHT
    for label, colour in [("context", CONTEXT_COLOUR),
                          *((f"target {m + 1}", target_colour(m))
                            for m in range(masks.num_targets))]:
        draw.rectangle((x, y + 3, x + 9, y + 12), fill=colour)
        draw.text((x + 12, y + 2), label, fill=(0, 0, 0))
        x += 12 + int(draw.textlength(label)) + 10
    return sheet


def sample_masks(masker: Masker, batch_size: int, step: int, seed: int) -> Masks:
    """The masks the loader would give batch ``step`` of a run seeded ``seed`` (rank 0)."""
    generator = torch.Generator().manual_seed(mix_seed(_MASK_TAG, seed, step, 0))
    return masker.sample(batch_size, step=step, generator=generator)


def mask_coverage(masker: Masker, grid: tuple[int, int], *, batches: int = 200,
                  batch_size: int = 64, seed: int = 0) -> MaskCoverage:
    """Coverage profiles (``jepa_kit.maskers.stats``) of the first ``batches`` batches a run
    seeded ``seed`` would sample."""
    masks = (sample_masks(masker, batch_size, step, seed) for step in range(batches))
    return coverage(masks, grid)


# -- video (a (T, H, W) patch grid) -----------------------------------------------------------
LABEL_WIDTH = 64


def draw_video_masks(clips: torch.Tensor, groups: list[Masks], grid: tuple[int, int, int], *,
                     min_tile: int = 64) -> Image.Image:
    """A strip of frames per (mask generator, clip): ``clips`` (n, 3, T, S, S) normalised,
    ``groups`` one ``Masks`` per generator (a batch of n), ``grid`` (T', H, W) tubelets.

    Column f shows the first frame of tubelet f with that tubelet's context (blue) and target
    (one colour per generator) patches; rows go generator by generator, clip by clip.
    """
    n, s, frames = clips.shape[0], clips.shape[-1], clips.shape[2]
    tubes, gh, gw = grid
    scale = tile_scale(s, min_tile)
    tile = s * scale
    rows = len(groups) * n
    width = LABEL_WIDTH + tubes * (tile + PAD) + PAD
    height = rows * (tile + PAD) + PAD + LEGEND_HEIGHT
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    per_frame = gh * gw
    for g, masks in enumerate(groups):
        for i in range(n):
            y = PAD + (g * n + i) * (tile + PAD)
            draw.text((4, y + tile // 2 - 6), f"gen {g} #{i}", fill=(0, 0, 0))
            context = masks.context[i].tolist()
            target = masks.targets[:, i].flatten().tolist()
            for f in range(tubes):
                pixels = unnormalise(clips[i:i + 1, :, f * frames // tubes])[0]
                ctx = {t - f * per_frame for t in context if t // per_frame == f}
                tgt = {t - f * per_frame for t in target if t // per_frame == f}
                block = [tgt] if g == 0 else [set()] * g + [tgt]  # colour g for generator g
                sheet.paste(_tile(pixels, ctx, block, (gh, gw), scale),
                            (LABEL_WIDTH + f * (tile + PAD), y))
    x, y = PAD, height - LEGEND_HEIGHT
    for label, colour in [("context", CONTEXT_COLOUR),
                          *((f"target gen {g}", target_colour(g)) for g in range(len(groups)))]:
        draw.rectangle((x, y + 3, x + 9, y + 12), fill=colour)
        draw.text((x + 12, y + 2), label, fill=(0, 0, 0))
        x += 12 + int(draw.textlength(label)) + 10
    return sheet


def video_coverage(masker: Masker, grid: tuple[int, int, int], *, batches: int = 50,
                   batch_size: int = 16, seed: int = 0) -> list[dict[str, object]]:
    """Per mask generator over the first ``batches`` batches of a run seeded ``seed``: mean
    context and target lengths and how often each tubelet holds context / target tokens."""
    from jepa_kit.maskers.multiblock3d import mask_groups

    n = grid[0] * grid[1] * grid[2]
    out: list[dict[str, object]] = []
    for step in range(batches):
        for g, m in enumerate(mask_groups(sample_masks(masker, batch_size, step, seed))):
            if g == len(out):
                out.append({"context_len": 0.0, "target_len": 0.0,
                            "context": torch.zeros(grid[0], dtype=torch.float64),
                            "target": torch.zeros(grid[0], dtype=torch.float64)})
            stats = out[g]
            stats["context_len"] += m.context.shape[1] / batches  # type: ignore[operator]
            stats["target_len"] += m.targets[0].shape[1] / batches  # type: ignore[operator]
            for key, idx in (("context", m.context), ("target", m.targets.transpose(0, 1)
                                                      .flatten(1))):
                hits = torch.zeros(batch_size, n, dtype=torch.float64).scatter_(1, idx, 1.0)
                stats[key] += hits.view(batch_size, *grid).mean((0, 2, 3)) / batches  # type: ignore[operator]
    return out

"""``masks``: draw a recipe's masks over its images and print where masks fall on average."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from jepa_kit.cli.options import SetOption

if TYPE_CHECKING:
    from jepa_kit.maskers.stats import MaskCoverage

out = Console(highlight=False, soft_wrap=True)


def _print_coverage(cov: MaskCoverage, grid: tuple[int, int]) -> None:
    n = grid[0] * grid[1]
    summary = Table(title=f"mask coverage over {cov.samples} sampled images "
                          f"(grid {grid[0]}x{grid[1]} = {n} patches)")
    summary.add_column("quantity")
    summary.add_column("value", justify="right")
    summary.add_row("context length (mean)", f"{cov.context_len:.1f} ({cov.context_len / n:.1%})")
    summary.add_row("target blocks (mean)", f"{cov.num_targets:.2f}")
    summary.add_row("target block length (mean)",
                    f"{cov.target_len:.1f} ({cov.target_len / n:.1%})")
    summary.add_row("patches in some target (mean)",
                    f"{float(cov.rows['target_union'].mean()):.1%}")
    summary.add_row("context patches inside a target", f"{cov.overlap:.2%}")
    out.print(summary)

    lines = Table(title="frequency of context / target patches per row and per column")
    for name in ("index", "row context", "row target", "col context", "col target"):
        lines.add_column(name, justify="right")
    row_c, row_t = cov.rows["context"], cov.rows["target_union"]
    col_c, col_t = cov.cols["context"], cov.cols["target_union"]
    for i in range(max(grid)):
        cells = [str(i)]
        for values, size in ((row_c, grid[0]), (row_t, grid[0]), (col_c, grid[1]),
                             (col_t, grid[1])):
            cells.append(f"{float(values[i]):.3f}" if i < size else "")
        lines.add_row(*cells)
    out.print(lines)


def masks(
    recipe: Path = typer.Argument(..., help="Recipe file."),
    out_path: Path = typer.Option(Path("masks.png"), "--out", "-o", help="PNG to write."),
    n: int = typer.Option(8, "--n", min=1, max=256, help="Images on the sheet."),
    cols: int = typer.Option(4, "--cols", min=1, help="Images per sheet row."),
    batches: int = typer.Option(200, "--batches", min=1,
                                help="Batches sampled for the coverage statistics."),
    batch_size: int = typer.Option(64, "--batch-size", min=1,
                                   help="Images per batch for the coverage statistics."),
    overrides: list[str] = SetOption,
) -> None:
    """Draw the recipe's masks (context blue, each target block its own colour) over n of its
    images as a PNG, and print per-row / per-column coverage and mean mask lengths."""
    import torch

    from jepa_kit.build import build_dataset, build_masker
    from jepa_kit.data.transforms import EvalTransform
    from jepa_kit.eval.preview import draw_masks, mask_coverage, sample_masks
    from jepa_kit.recipe import load_recipe

    r = load_recipe(recipe, overrides or [])
    if len(r.grid) == 3:  # video: a strip of frames per clip and generator
        _video_masks(r, out_path, min(n, 8), batches, batch_size)
        return
    masker = build_masker(r.masker, grid=r.grid)
    dataset = build_dataset(r.data, train=True, seed=r.run.seed)
    count = min(n, len(dataset))
    transform = EvalTransform(r.data)
    images = torch.stack([transform(dataset[i][0]) for i in range(count)])
    sheet = draw_masks(images, sample_masks(masker, count, step=0, seed=r.run.seed), r.grid,
                       cols=cols)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out_path, format="PNG")
    out.print(f"wrote {out_path} ({sheet.width}x{sheet.height} px, {count} images, "
              f"{r.masker.kind} masker, grid {r.grid[0]}x{r.grid[1]})")
    _print_coverage(mask_coverage(masker, r.grid, batches=batches, batch_size=batch_size,
                                  seed=r.run.seed), r.grid)


def _video_masks(r: object, out_path: Path, n: int, batches: int, batch_size: int) -> None:
    """``masks`` for a (T, H, W) grid: a PNG of frame strips, per-tubelet frequencies."""
    import torch

    from jepa_kit.build import build_dataset, build_masker
    from jepa_kit.data.video_transforms import VideoEvalTransform
    from jepa_kit.eval.preview import draw_video_masks, sample_masks, video_coverage
    from jepa_kit.maskers.multiblock3d import mask_groups

    grid = r.grid  # type: ignore[attr-defined]
    masker = build_masker(r.masker, grid=grid)  # type: ignore[attr-defined]
    dataset = build_dataset(r.data, train=True, seed=r.run.seed)  # type: ignore[attr-defined]
    count = min(n, len(dataset))
    transform = VideoEvalTransform(r.img_size)  # type: ignore[attr-defined]
    clips = torch.stack([transform(dataset[i][0]) for i in range(count)])
    groups = mask_groups(sample_masks(masker, count, step=0, seed=r.run.seed))  # type: ignore[attr-defined]
    sheet = draw_video_masks(clips, groups, grid)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out_path, format="PNG")
    out.print(f"wrote {out_path} ({sheet.width}x{sheet.height} px, {count} clips x "
              f"{len(groups)} mask generators, {r.masker.kind} masker, grid "  # type: ignore[attr-defined]
              f"{'x'.join(str(g) for g in grid)})")
    stats = video_coverage(masker, grid, batches=batches, batch_size=batch_size,
                           seed=r.run.seed)  # type: ignore[attr-defined]
    table = Table(title=f"per tubelet: share of tokens that are context / target "
                        f"({batches} batches of {batch_size})")
    table.add_column("tubelet", justify="right")
    for g, st in enumerate(stats):
        table.add_column(f"gen {g} context (len {st['context_len']:.0f})", justify="right")
        table.add_column(f"gen {g} target (len {st['target_len']:.0f})", justify="right")
    for f in range(grid[0]):
        table.add_row(str(f), *(f"{float(st[k][f]):.3f}" for st in stats  # type: ignore[index]
                                for k in ("context", "target")))
    out.print(table)


def register(app: typer.Typer) -> None:
    app.command()(masks)

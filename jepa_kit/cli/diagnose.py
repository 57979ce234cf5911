"""``jepa-kit diagnose CHECKPOINT``: prediction-error map and representation ranks.

Writes ``diagnose.json`` and ``diagnose.png`` (matplotlib; without it the JSON alone, and the
command says so) into ``RUN_DIR/diagnose/`` for ``RUN_DIR/checkpoints/step_N.pt``, else into
``<checkpoint stem>_diagnose/`` beside the checkpoint. What the numbers mean on a healthy and
on a collapsed run: docs/diagnostics.md.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from jepa_kit import __version__
from jepa_kit.atomic import atomic_write
from jepa_kit.cli.options import SetOption

out = Console(highlight=False, soft_wrap=True)


def default_output_dir(checkpoint: Path) -> Path:
    if checkpoint.parent.name == "checkpoints":
        return checkpoint.parent.parent / "diagnose"
    return checkpoint.with_name(f"{checkpoint.stem}_diagnose")


def write_png(report: dict[str, Any], path: Path) -> str | None:
    """Draw the error map and error-vs-distance (or say why not); None when written, else
    the reason no PNG was written."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
    except ImportError:
        return ("matplotlib is not installed (pip install 'jepa-kit[plot]'), so no PNG was "
                "written; diagnose.json holds every number")
    errors = report["prediction"]
    ranks = report["representation"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    title = (f"{report['method']} step {report['step']}: RankMe {ranks['rankme']:.2f}, "
             f"LiDAR {_fmt(ranks['lidar'])} (of at most {ranks['max_rank']})")
    fig.suptitle(title, fontsize=10)
    if errors["applies"]:
        emap = errors["error_map"]
        values = np.array([[math.nan if v is None else v for v in row]
                           for row in _rows(emap["mean_error"])], dtype=float)
        image = axes[0].imshow(values, cmap="magma")
        fig.colorbar(image, ax=axes[0], fraction=0.046)
        axes[0].set_title("mean prediction error per target position", fontsize=9)
        axes[0].set_xlabel("patch column")
        axes[0].set_ylabel("patch row")
        rows = emap["error_vs_distance"]
        axes[1].plot([r["distance"] for r in rows], [r["mean_error"] for r in rows], "o-")
        for r in rows:  # few tokens at the far end: their mean is noisy
            axes[1].annotate(f"n={r['tokens']}", (r["distance"], r["mean_error"]),
                             textcoords="offset points", xytext=(0, 6), ha="center",
                             fontsize=7, color="grey")
        axes[1].set_xlabel("distance to the nearest context patch (patches, rounded up)")
        axes[1].set_ylabel("mean prediction error")
        axes[1].set_title("error against distance from the context block", fontsize=9)
        axes[1].grid(alpha=0.3)
    else:
        for ax in axes:
            ax.axis("off")
        axes[0].text(0, 0.5, _wrap(errors["reason"]), fontsize=9, va="center")
    fig.tight_layout()
    atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=110), binary=True)
    plt.close(fig)
    return None


def _rows(nested: list[Any]) -> list[list[Any]]:
    """2-D rows of a nested grid; a 3-D (T, H, W) grid is averaged over its leading axis."""
    if nested and isinstance(nested[0], list) and nested[0] and isinstance(nested[0][0], list):
        frames = [_rows(f) for f in nested]
        return [[_mean([f[r][c] for f in frames]) for c in range(len(frames[0][0]))]
                for r in range(len(frames[0]))]
    return nested


def _mean(values: list[Any]) -> float | None:
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _wrap(text: str, width: int = 60) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line])


def diagnose(
    checkpoint: Path = typer.Argument(..., help="A jepa-kit checkpoint (.pt)."),
    data_dir: Path | None = typer.Option(None, "--data", help="Image folder to diagnose on."),
    dataset: str | None = typer.Option(None, "--dataset", help="A registered dataset."),
    which: str = typer.Option(None, "--which", help="Encoder whose ranks are measured "
                              "(default: the method's)."),
    batches: int = typer.Option(8, "--batches", min=1, help="Batches for the error map."),
    batch_size: int = typer.Option(64, "--batch-size", min=2, help="Images per batch."),
    split: str = typer.Option("train", "--split", help="train (what the run saw) or val."),
    images: int = typer.Option(256, "--images", min=2, help="Images for RankMe and LiDAR."),
    views: int = typer.Option(8, "--views", min=2, help="Augmented views per image (LiDAR)."),
    output_dir: Path | None = typer.Option(None, "--output-dir", "-o", help="Folder for "
                                           "diagnose.json and diagnose.png."),
    overrides: list[str] = SetOption,
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    """Prediction-error map on the patch grid (per target position and against distance from
    the context) and RankMe / LiDAR of the encoder, as JSON and PNG."""
    from jepa_kit.checkpoint import read_checkpoint
    from jepa_kit.cli.evaluate import data_section
    from jepa_kit.eval.checkpoint_model import recipe_from_checkpoint
    from jepa_kit.eval.diagnose import load_method, prediction_errors, representation_ranks
    from jepa_kit.train.trainer import resolve_device

    if split not in ("train", "val"):
        raise typer.BadParameter(f"expected train or val, got {split!r}", param_hint="--split")
    if device not in ("auto", "cpu", "cuda"):
        raise typer.BadParameter(f"expected auto, cpu or cuda, got {device!r}",
                                 param_hint="--device")
    tic = time.perf_counter()
    record = read_checkpoint(checkpoint)
    raw = data_section(record.recipe if isinstance(record.recipe, dict) else {},
                       data_dir, dataset)
    recipe = recipe_from_checkpoint({"recipe": raw}, str(checkpoint), overrides or [])
    dev = resolve_device(device)
    method = load_method(record, recipe, dev, str(checkpoint))
    encoder = method.networks[method.encoder_for(which)]
    report: dict[str, Any] = {
        "checkpoint": str(checkpoint.resolve()), "step": record.step,
        "method": recipe.method.kind, "which": which or next(iter(method.eval_encoders)),
        "prediction": prediction_errors(method, recipe, batches=batches,
                                        batch_size=batch_size, device=dev,
                                        train_split=split == "train"),
        "representation": representation_ranks(encoder, recipe, images=images, views=views,
                                                device=dev),
        "device": str(dev), "jepa_kit": __version__,
    }
    target = output_dir or default_output_dir(checkpoint)
    target.mkdir(parents=True, exist_ok=True)
    missing = write_png(report, target / "diagnose.png")
    report["png"] = None if missing else str(target / "diagnose.png")
    report["seconds"] = round(time.perf_counter() - tic, 2)
    text = json.dumps(report, indent=2) + "\n"
    atomic_write(target / "diagnose.json", lambda handle: handle.write(text))
    _print(report, target, missing)
    if checkpoint.parent.name == "checkpoints":  # a run's checkpoint: to the run's trackers
        from PIL import Image

        from jepa_kit.loggers.attach import log_to_run

        ranks = report["representation"]
        values = {f"diagnose_{k}": ranks[k] for k in ("rankme", "lidar", "feature_std")
                  if isinstance(ranks.get(k), (int, float))}
        images = {} if missing else {"diagnose/maps": Image.open(target / "diagnose.png")}
        log_to_run(checkpoint.parent.parent, step=record.step, metrics=values, images=images)


def _print(report: dict[str, Any], target: Path, missing: str | None) -> None:
    p, r = report["prediction"], report["representation"]
    out.print(f"{report['method']} checkpoint at step {report['step']}, "
              f"{report['which']} encoder")
    out.print(f"  RankMe {r['rankme']:.2f}, LiDAR {_fmt(r['lidar'])} "
              f"({r['images']} images x {r['views']} views, at most {r['max_rank']}), "
              f"feature std {r['feature_std']:.3g}")
    if p["applies"]:
        e = p["error_map"]
        near = ", ".join(f"{d['distance']}: {d['mean_error']:.4f}"
                         for d in e["error_vs_distance"][:6])
        out.print(f"  prediction error {e['overall_mean_error']:.4f} over {e['tokens']} target "
                  f"tokens; by distance from the context: {near}")
        if "lidar_target_blocks" in p:
            out.print(f"  LiDAR of the target blocks {p['lidar_target_blocks']:.2f}")
    else:
        out.print(f"  prediction-error map: not applicable: {p['reason']}")
    if missing:
        out.print(f"[bold yellow]note:[/] {escape(missing)}")
    out.print(f"wrote {target / 'diagnose.json'}" + ("" if missing else
                                                      f" and {target / 'diagnose.png'}"))


def register(app: typer.Typer) -> None:
    app.command("diagnose")(diagnose)

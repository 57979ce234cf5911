"""``data``: prepare training data; ``data shard`` writes an image folder as tar shards."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
data_app = typer.Typer(help="Prepare training data.", no_args_is_help=True)


@data_app.command("shard")
def shard(
    folder: Path = typer.Argument(..., help="Image folder: one sub-folder per class, or images "
                                  "directly (unlabelled)."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="New or empty folder for the shards "
                                 "and manifest.json."),
    shard_size: int = typer.Option(1000, "--shard-size", min=1, max=10_000_000,
                                   help="Most samples per shard (sizes are made even)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the one-time shuffle that mixes "
                             "classes across shards."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines."),
) -> None:
    """Write FOLDER as WebDataset tar shards plus a manifest of their sample counts, the input
    of `data.kind = "webdataset"` (docs/data.md, "Streaming from tar shards")."""
    from jepa_kit.data.shard_writer import write_shards

    def progress(done: int, total: int) -> None:
        if not quiet:
            out.print(f"shard {done}/{total}")

    summary = write_shards(str(folder), str(out_dir), shard_size=shard_size, seed=seed,
                           progress=progress)
    classes = f"{len(summary.classes)} classes" if summary.classes else "unlabelled"
    out.print(f"wrote {summary.num_samples} samples ({classes}) in {len(summary.shard_samples)} "
              f"shard(s) of {min(summary.shard_samples)}-{max(summary.shard_samples)} to "
              f"{out_dir}; manifest {summary.manifest}")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")

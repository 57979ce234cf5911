"""One rank of the two-process streaming test: train on shards, record the samples read.

Started by torchrun; argv: OUTPUT_DIR SHARDS KEY=VALUE... Rank 0 writes ``consumed.json``:
every rank's manifest indices in the order it trained on them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch.distributed as dist

from jepa_kit.data import stream
from jepa_kit.recipe import load_recipe
from jepa_kit.train.trainer import Trainer

REPO = Path(__file__).resolve().parents[2]


def recording(consumed: list[int]) -> Callable[..., Iterator[tuple]]:
    real = stream.decoded_stream

    def decoded_stream(*args: Any, **kwargs: Any) -> Iterator[tuple]:
        for item in real(*args, **kwargs):
            consumed.append(item[0])
            yield item

    return decoded_stream


def main() -> None:
    out, shards, *overrides = sys.argv[1:]
    consumed: list[int] = []
    stream.decoded_stream = recording(consumed)  # num_workers = 0: read in this process
    recipe = load_recipe(REPO / "recipes" / "quickstart.toml",
                         ["data.kind=\"webdataset\"", f"data.root=\"{shards}\"", *overrides])
    trainer = Trainer(recipe, output_dir=Path(out), quiet=True)
    trainer.run()
    gathered: list[object] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, {"consumed": consumed, "step": trainer.step,
                                      "len": len(trainer.dataset)})
    if dist.get_rank() == 0:
        (Path(out) / "consumed.json").write_text(json.dumps(gathered))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

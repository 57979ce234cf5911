"""One rank of the two-process DDP test: train, then check every rank holds the same weights.

Started by torchrun; argv: OUTPUT_DIR RESUME(0|1) KEY=VALUE...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from jepa_kit.recipe import load_recipe
from jepa_kit.train.trainer import Trainer

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    out, resume, *overrides = sys.argv[1:]
    recipe = load_recipe(REPO / "recipes" / "quickstart.toml", overrides)
    trainer = Trainer(recipe, output_dir=Path(out), resume=resume == "1", quiet=True)
    trainer.run()
    flat = torch.cat([p.detach().flatten() for m in trainer.method.networks.values()
                      for p in m.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, flat)
    if dist.get_rank() == 0:
        diff = max(float((g - gathered[0]).abs().max()) for g in gathered)
        report = {"world_size": dist.get_world_size(), "max_weight_diff": diff,
                  "step": trainer.step}
        (Path(out) / "ddp_check.json").write_text(json.dumps(report))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

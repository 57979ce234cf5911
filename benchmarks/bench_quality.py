"""Recipe cards: does each recipe's default encoder beat its random init by what it promises?

A recipe may carry an ``[expect]`` card (``jepa_kit.recipe.ExpectSection``): the probe, the
encoder, the minimum mean gain over the random init of the same architecture, the seeds and
the number of validation images. For every recipe given (default: the shipped recipes that
have a card), this trains one run per seed through the command line a user types
(``jepa-kit run``, then ``jepa-kit eval``, which scores the random init beside the trained
encoder), and prints the card's check: trained and random-init accuracy, the gain (mean +- std
over seeds) and pass / fail. Runs are kept in ``--runs`` and resumed, so a second call only
evaluates.

    python benchmarks/bench_quality.py [RECIPE ...] [--seeds N] [--runs DIR] [--quick]

``--quick``: one seed and a tenth of the steps, to check the script end to end (the card's
verdict is then not meaningful and is not printed as pass / fail).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import Result, add_shared_args, print_table, write_json

REPO = Path(__file__).resolve().parent.parent


def carded_recipes() -> list[Path]:
    """The shipped recipes that carry an ``[expect]`` card."""
    from jepa_kit.recipe import load_recipe

    found = []
    for path in sorted((REPO / "recipes").glob("*.toml")):
        if load_recipe(path).expect is not None:
            found.append(path)
    return found


def jepa_kit(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "jepa_kit", *args], text=True,
                          capture_output=True)
    if done.returncode != 0:
        raise SystemExit(f"jepa-kit {' '.join(args)} failed ({done.returncode}):\n"
                         f"{done.stderr[-3000:]}")
    return done


def score(recipe: Path, seed: int, runs: Path, *, quick: bool) -> dict[str, Any]:
    """Train (or resume) one seed of ``recipe`` and score its card's encoder, with baseline."""
    from jepa_kit.checkpoint import list_checkpoints
    from jepa_kit.recipe import load_recipe

    card = load_recipe(recipe).expect
    out = runs / f"{recipe.stem}-seed{seed}"
    sets = [f"run.seed={seed}", f"data.val_size={card.val_size}"]
    if quick:
        sets.append("train.max_steps=16")
    flags = [arg for item in sets for arg in ("--set", item)]
    jepa_kit("run", str(recipe), "-o", str(out), "--resume", "--quiet", *flags)
    checkpoint = list_checkpoints(out / "checkpoints")[-1]
    report = out / f"card_{card.metric}.json"
    which = ["--which", card.which] if card.which else []
    jepa_kit("eval", card.metric, str(checkpoint), "--out", str(report), *which)
    data = json.loads(report.read_text())
    return {"trained": 100 * data["metrics"]["top1"],
            "random_init": 100 * data["baseline"]["metrics"]["top1"],
            "gain": 100 * data["gain"]["top1"], "which": data["which"],
            "num_val": data["metrics"].get("num_val")}


def check(recipe: Path, runs: Path, *, seeds: int | None, quick: bool) -> dict[str, Any]:
    from jepa_kit.recipe import load_recipe

    card = load_recipe(recipe).expect
    n = 1 if quick else (seeds or card.seeds)
    scores = [score(recipe, seed, runs, quick=quick) for seed in range(n)]
    gains = [s["gain"] for s in scores]
    mean = statistics.fmean(gains)
    spread = statistics.stdev(gains) if len(gains) > 1 else 0.0
    verdict = "(quick)" if quick else ("pass" if mean >= card.min_gain else "FAIL")
    return {
        "recipe": recipe.stem, "probe": card.metric, "encoder": scores[0]["which"],
        "seeds": n, "val": scores[0]["num_val"],
        "trained": f"{statistics.fmean(s['trained'] for s in scores):.1f}",
        "random init": f"{statistics.fmean(s['random_init'] for s in scores):.1f}",
        "gain": f"{mean:+.1f} +- {spread:.1f}", "card": f">= {card.min_gain:g}",
        "check": verdict, "gains": [round(g, 2) for g in gains],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="*", type=Path,
                        help="recipes with an [expect] card (default: every shipped one)")
    parser.add_argument("--seeds", type=int, default=None, help="override the card's seeds")
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "quality",
                        help="where the runs go (kept, and resumed by a second call)")
    add_shared_args(parser)
    args = parser.parse_args(argv)
    recipes = args.recipes or carded_recipes()
    rows = []
    for recipe in recipes:
        row = check(recipe, args.runs, seeds=args.seeds, quick=args.quick)
        print(f"{row['recipe']}: gains {row['gains']} -> {row['check']}", flush=True)
        rows.append(row)
    columns = ["recipe", "probe", "encoder", "seeds", "val", "trained", "random init", "gain",
               "card", "check"]
    result = Result("quality", columns, rows)
    print_table(result)
    write_json(result, args.out)
    return 1 if any(r["check"] == "FAIL" for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())

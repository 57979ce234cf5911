"""The table ``jepa-kit eval`` prints of a result: the score, its random-init baseline and
gain, the chosen probe settings and the data."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from jepa_kit.eval.evaluate import Evaluation, gain

out = Console(highlight=False, soft_wrap=True)


def print_result(evaluation: Evaluation, *, baseline: bool = True) -> None:
    result, target = evaluation.result, evaluation.path
    m: dict[str, Any] = result["metrics"]
    base = result.get("baseline")
    weights = "random init (step 0)" if result["random_init"] else f"step {result['step']}"
    title = evaluation.protocol.describe(m, result["features"])
    if result["augment"] != "none":
        title += f", {result['augment']} augmentation"
    table = Table(title=f"{title}: {result['which']} encoder, {weights}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("top-1", f"{100 * m['top1']:.2f}%")
    if base is not None:
        g = gain(result)
        table.add_row("random-init top-1", f"{100 * base['metrics']['top1']:.2f}%")
        table.add_row("gain (top-1)", f"{100 * g.top1:+.2f} points "
                      f"(s.e. {100 * g.standard_error:.2f})")
    if "top5" in m:
        table.add_row("top-5", f"{100 * m['top5']:.2f}%")
        if base is not None and "top5" in base["metrics"]:
            table.add_row("random-init top-5", f"{100 * base['metrics']['top5']:.2f}%")
    if "lr" in m and "weight_decay" in m:  # a probe that chose its settings on a hold-out
        table.add_row("chosen lr / wd", f"{m['lr']:g} / {m['weight_decay']:g}")
    if "holdout_top1" in m:
        table.add_row("hold-out top-1", f"{100 * m['holdout_top1']:.2f}%")
    if result["subset"] is not None:
        s = result["subset"]
        table.add_row("low-shot subset", f"{s['num_images']} images (seed {s['seed']})")
    data = result["dataset"]
    table.add_row("data", str(data.get("root", data["kind"])))
    table.add_row("train / val images", f"{m['num_train']} / {m['num_val']}")
    table.add_row("classes", str(m["num_classes"]))
    out.print(table)
    if base is not None:
        out.print(gain(result).sentence())
        how = "read from" if base["cached"] else "computed and stored in"
        out.print(f"random-init baseline {how} {result['baseline_cache']}")
    elif result["random_init"] and "baseline_cache" in result:
        out.print(f"stored as the random-init baseline of later evaluations: "
                  f"{result['baseline_cache']}")
    elif baseline and not result["random_init"] and result["source"] != "checkpoint":
        out.print(f"no random-init baseline: a {result['source']} export carries no initial "
                  "weights; evaluate the run's checkpoint for one")
    out.print(f"wrote {target}")

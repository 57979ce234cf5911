"""``eval knn`` and ``eval linear``: score a checkpoint's frozen encoder on labelled images.

Data: the checkpoint recipe's ``data`` section unless ``--data DIR`` (an image folder: ``DIR``
with ``train/`` and ``val/`` sub-folders uses them as the two splits, any other ``DIR`` holds out
20% of every class for val) or ``--dataset NAME`` (a registered dataset, e.g. ``synthetic``, at
the recipe's image size) is given; ``--set data.key=value`` adjusts either. The result is
printed as a table and written as JSON, by default next to the run
(``RUN_DIR/eval_knn.json`` for ``RUN_DIR/checkpoints/step_*.pt``).
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from jepa_kit import __version__
from jepa_kit.cli.options import SetOption
from jepa_kit.errors import UserError

out = Console(highlight=False, soft_wrap=True)
eval_app = typer.Typer(name="eval", no_args_is_help=True,
                       help="Evaluate a checkpoint's frozen encoder: kNN or a linear probe.")

#: Held-out share of each class when ``--data DIR`` has no train/ and val/ sub-folders.
VAL_FRACTION = 0.2

CheckpointArg = typer.Argument(..., help="A jepa-kit checkpoint (.pt), e.g. "
                               "runs/NAME/checkpoints/step_00000160.pt.")
DataOption = typer.Option(None, "--data", help="Image folder to evaluate on (class sub-folders; "
                          "train/ and val/ sub-folders are used as splits when both exist).")
DatasetOption = typer.Option(None, "--dataset",
                             help="A registered dataset, e.g. synthetic, at the recipe's size.")
WhichOption = typer.Option(None, "--which", help="Which of the method's encoders (I-JEPA: "
                           "target, as the paper, or context; LeJEPA: encoder); default: the "
                           "method's.")
RandomInitOption = typer.Option(False, "--random-init",
                                help="Evaluate the run's untrained step-0 encoder (baseline).")
OutOption = typer.Option(None, "--out", help="JSON result file (default: next to the run).")
BatchOption = typer.Option(128, "--batch-size", min=1, help="Images per forward pass.")
DeviceOption = typer.Option("auto", "--device", help="auto, cpu or cuda.")
Bf16Option = typer.Option(False, "--bf16", help="Run the encoder under bf16 autocast.")


def data_section(raw: dict[str, Any], data_dir: Path | None, dataset: str | None
                 ) -> dict[str, Any]:
    """The recipe dict with its ``data`` section replaced as ``--data`` / ``--dataset`` ask."""
    if data_dir is not None and dataset is not None:
        raise UserError("give either --data DIR or --dataset NAME, not both")
    raw = copy.deepcopy(raw)
    old = raw.get("data") or {}
    kept = {k: old[k] for k in ("img_size", "num_workers") if k in old}
    if data_dir is not None:
        if not data_dir.is_dir():
            what = "is not a folder" if data_dir.exists() else "does not exist"
            raise UserError(f"--data {data_dir}: {what}")
        train, val = data_dir / "train", data_dir / "val"
        split = ({"root": str(train), "val_root": str(val)} if train.is_dir() and val.is_dir()
                 else {"root": str(data_dir), "val_fraction": VAL_FRACTION})
        raw["data"] = {"kind": "image_folder", **kept, **split}
    elif dataset is not None and old.get("kind", "synthetic") != dataset:
        raw["data"] = {"kind": dataset, **kept}
    return raw


def default_output(checkpoint: Path, protocol: str, which: str | None, random_init: bool
                   ) -> Path:
    """``RUN_DIR/eval_<protocol>[_<which>][_random_init].json`` for a checkpoint in
    ``RUN_DIR/checkpoints``, else ``<checkpoint stem>_eval_....json`` beside the checkpoint;
    ``which`` is None for the method's default encoder (I-JEPA: target)."""
    name = f"eval_{protocol}" + (f"_{which}" if which else "") + (
        "_random_init" if random_init else "") + ".json"
    if checkpoint.parent.name == "checkpoints":
        return checkpoint.parent.parent / name
    return checkpoint.with_name(f"{checkpoint.stem}_{name}")


def _prepare(checkpoint: Path, data_dir: Path | None, dataset: str | None,
             which: str | None, random_init: bool, overrides: list[str]
             ) -> tuple[Any, Any, Any, int]:
    from jepa_kit.eval.checkpoint_model import build_from_state, recipe_from_checkpoint
    from jepa_kit.eval.features import build_eval_splits
    from jepa_kit.rundir.checkpoint import load_checkpoint

    state = load_checkpoint(checkpoint)
    raw = data_section(state["recipe"] if isinstance(state["recipe"], dict) else {},
                       data_dir, dataset)
    recipe = recipe_from_checkpoint({"recipe": raw}, str(checkpoint), overrides)
    encoder = build_from_state(state, recipe, which=which, random_init=random_init,
                               source=str(checkpoint))
    splits = build_eval_splits(recipe.data, seed=recipe.run.seed)
    return encoder, recipe, splits, int(state["step"])


def _evaluate(protocol: str, checkpoint: Path, *, data_dir: Path | None, dataset: str | None,
              which: str | None, random_init: bool, overrides: list[str],
              out_path: Path | None,
              batch_size: int, device: str, bf16: bool, settings: dict[str, Any]) -> None:
    from jepa_kit.eval.features import split_features
    from jepa_kit.eval.knn import knn_eval
    from jepa_kit.eval.linear import linear_probe
    from jepa_kit.recipe import recipe_to_dict
    from jepa_kit.train.trainer import resolve_device

    if device not in ("auto", "cpu", "cuda"):
        raise typer.BadParameter(f"expected auto, cpu or cuda, got {device!r}",
                                 param_hint="--device")
    tic = time.perf_counter()
    encoder, recipe, splits, step = _prepare(checkpoint, data_dir, dataset, which, random_init,
                                             overrides)
    from jepa_kit.build import method_class

    choices = method_class(recipe).eval_encoders
    default = next(iter(choices))
    if which == default:
        which = None  # one file name for the default encoder, however it was asked for
    dev = resolve_device(device)
    feats = split_features(encoder.to(dev), splits, dev, batch_size=batch_size,
                           precision="bf16" if bf16 else "fp32")
    num_classes = len(splits.train.classes)
    if protocol == "knn":
        metrics = knn_eval(*feats["train"], *feats["val"], num_classes=num_classes, **settings)
    else:
        metrics = linear_probe(*feats["train"], *feats["val"], num_classes=num_classes,
                               **settings)
    result = {
        "protocol": protocol, "checkpoint": str(checkpoint.resolve()),
        "step": 0 if random_init else step, "checkpoint_step": step,
        "which": which or default,
        "random_init": random_init, "dataset": recipe_to_dict(recipe)["data"],
        "classes": list(splits.train.classes), "metrics": metrics, "device": str(dev),
        "precision": "bf16" if bf16 else "fp32", "seconds": round(time.perf_counter() - tic, 2),
        "jepa_kit": __version__,
    }
    target = out_path or default_output(checkpoint, protocol, which, random_init)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2) + "\n")
    _print(result, target)


def _print(result: dict[str, Any], target: Path) -> None:
    m = result["metrics"]
    weights = "random init (step 0)" if result["random_init"] else f"step {result['step']}"
    if result["protocol"] == "knn":
        title = f"kNN (k={m['k']}, T={m['temperature']})"
    else:
        title = f"linear probe ({m['optimizer']}, {m['epochs']} epochs)"
    table = Table(title=f"{title}: {result['which']} encoder, {weights}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("top-1", f"{100 * m['top1']:.2f}%")
    if "top5" in m:
        table.add_row("top-5", f"{100 * m['top5']:.2f}%")
    if result["protocol"] == "linear":
        table.add_row("chosen lr / wd", f"{m['lr']:g} / {m['weight_decay']:g}")
        table.add_row("hold-out top-1", f"{100 * m['holdout_top1']:.2f}%")
    data = result["dataset"]
    table.add_row("data", str(data.get("root", data["kind"])))
    table.add_row("train / val images", f"{m['num_train']} / {m['num_val']}")
    table.add_row("classes", str(m["num_classes"]))
    out.print(table)
    out.print(f"wrote {target}")


@eval_app.command()
def knn(
    checkpoint: Path = CheckpointArg,
    data_dir: Path | None = DataOption,
    dataset: str | None = DatasetOption,
    which: str = WhichOption,
    random_init: bool = RandomInitOption,
    k: int = typer.Option(20, "--k", min=1, help="Neighbours in the vote."),
    temperature: float = typer.Option(0.07, "--temperature", min=1e-6,
                                      help="Vote weight exp(similarity / T)."),
    out_path: Path | None = OutOption,
    overrides: list[str] = SetOption,
    batch_size: int = BatchOption,
    device: str = DeviceOption,
    bf16: bool = Bf16Option,
) -> None:
    """Weighted kNN accuracy (cosine similarity, votes exp(s/T)) on average-pooled tokens."""
    _evaluate("knn", checkpoint, data_dir=data_dir, dataset=dataset, which=which,
              random_init=random_init, overrides=overrides or [], out_path=out_path,
              batch_size=batch_size, device=device, bf16=bf16,
              settings={"k": k, "temperature": temperature})


@eval_app.command()
def linear(
    checkpoint: Path = CheckpointArg,
    data_dir: Path | None = DataOption,
    dataset: str | None = DatasetOption,
    which: str = WhichOption,
    random_init: bool = RandomInitOption,
    epochs: int = typer.Option(100, "--epochs", min=1, help="Epochs per grid point."),
    probe_batch: int | None = typer.Option(None, "--probe-batch-size", min=1,
                                           help="Mini-batch of the probe (default: full batch)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the hold-out and batch order."),
    out_path: Path | None = OutOption,
    overrides: list[str] = SetOption,
    batch_size: int = BatchOption,
    device: str = DeviceOption,
    bf16: bool = Bf16Option,
) -> None:
    """Linear probe on cached features; lr x weight-decay chosen on a train hold-out."""
    _evaluate("linear", checkpoint, data_dir=data_dir, dataset=dataset, which=which,
              random_init=random_init, overrides=overrides or [], out_path=out_path,
              batch_size=batch_size, device=device, bf16=bf16,
              settings={"epochs": epochs, "batch_size": probe_batch, "seed": seed})


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")

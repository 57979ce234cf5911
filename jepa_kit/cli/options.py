"""Options shared by several commands, and the ``eval`` command group that the protocol
commands (``cli/evaluate.py``) and ``eval finetune`` (``cli/finetune.py``) join."""

from __future__ import annotations

import typer

SetOption = typer.Option(
    None, "--set", "-s", metavar="KEY=VALUE",
    help="Override a recipe field, e.g. --set train.epochs=10 (value parsed as TOML).",
)

eval_app = typer.Typer(name="eval", no_args_is_help=True,
                       help="Evaluate a checkpoint's frozen encoder with an evaluation protocol "
                       "(kNN, linear or attentive probes, and any installed plug-in's).")

CheckpointArg = typer.Argument(..., help="A jepa-kit checkpoint (.pt), e.g. "
                               "runs/NAME/checkpoints/step_00000160.pt, or an exported encoder "
                               "(a `jepa-kit export --format timm` folder or a "
                               "`--format safetensors` file).")
DataOption = typer.Option(None, "--data", help="Image folder to evaluate on (class sub-folders; "
                          "train/ and val/ sub-folders are used as splits when both exist).")
DatasetOption = typer.Option(None, "--dataset",
                             help="A registered dataset, e.g. synthetic, at the recipe's size.")
WhichOption = typer.Option(None, "--which", help="Which of the method's encoders (I-JEPA: "
                           "target, as the paper, or context; LeJEPA: encoder); default: the "
                           "method's.")
RandomInitOption = typer.Option(False, "--random-init",
                                help="Evaluate the run's untrained step-0 encoder (baseline).")
DeviceOption = typer.Option("auto", "--device", help="auto, cpu or cuda.")

"""jepa-kit from Python: recipes, training, encoders, evaluation and export in a notebook.

Five calls cover what the command line does, on the same code (``jepa_kit.recipe``,
``jepa_kit.train.trainer``, ``jepa_kit.eval``, ``jepa_kit.interop``)::

    import jepa_kit

    recipe = jepa_kit.load_recipe("quickstart", {"train.max_steps": 20})
    run = jepa_kit.pretrain(recipe, output_dir="runs/try")      # a TrainResult
    encoder = jepa_kit.load_encoder(run.run_dir)                 # an nn.Module: (B, D) features
    scored = jepa_kit.evaluate(run.run_dir, "knn")               # with its random-init baseline
    jepa_kit.export(run.run_dir, "encoder-hf", format="hf")      # weights + README.md card

Wherever a checkpoint is asked for, a run folder (its newest checkpoint that loads), a
``step_N.pt`` file, a sharded ``step_N.dcp`` folder or, for ``load_encoder`` and ``evaluate``,
an export (a timm or transformers folder, a ``.safetensors`` file) will do. These names and
their keyword arguments are the stable Python API. (``pretrain``, not ``train``:
``jepa_kit.train`` is the engine's package.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from jepa_kit.errors import UserError

if TYPE_CHECKING:
    from jepa_kit.eval.evaluate import Evaluation
    from jepa_kit.recipe import RecipeBase

__all__ = ["FeatureEncoder", "TrainResult", "evaluate", "export", "find_checkpoint",
           "load_encoder", "load_recipe", "pretrain"]

#: ``overrides``: ``{"train.max_steps": 20}`` (nested tables too) or ``["train.max_steps=20"]``.
Overrides = Mapping[str, Any] | Iterable[str] | None


def load_recipe(recipe: str | Path | RecipeBase, overrides: Overrides = None) -> RecipeBase:
    """A validated recipe: a file path or the name of a recipe shipped with jepa-kit, or a
    recipe already loaded, with ``overrides`` applied as ``--set`` would apply them.

    ``RecipeError`` (a ``UserError``) names the key, the value given and what was expected.
    """
    from jepa_kit import recipe as recipes

    sets = set_strings(overrides)
    if isinstance(recipe, recipes.RecipeBase):
        data = recipes.apply_overrides(recipes.recipe_to_dict(recipe), sets)
        return recipes.validate_recipe(data, "<recipe>")
    return recipes.load_recipe(recipe, sets)


def set_strings(overrides: Overrides) -> list[str]:
    """``overrides`` as ``dotted.key=value`` strings (values written as TOML, which is how
    ``--set`` reads them back)."""
    if overrides is None:
        return []
    if isinstance(overrides, str):
        raise UserError(f"overrides={overrides!r}: expected a dict or a list of "
                        "'dotted.key=value' strings, got one string")
    if not isinstance(overrides, Mapping):
        return [str(item) for item in overrides]
    import tomli_w

    from jepa_kit.recipe import flatten

    out = []
    # A section's kind first: setting it starts the section afresh (as --set does), which
    # must not drop the keys given beside it.
    flat = sorted(flatten(dict(overrides)).items(), key=lambda kv: not kv[0].endswith(".kind"))
    for key, value in flat:
        if value is None:
            raise UserError(f"overrides[{key!r}] = None: TOML has no null; leave the key out "
                            "to keep the recipe's value")
        literal = tomli_w.dumps({"v": value}).partition("=")[2].strip()
        out.append(f"{key}={literal}")
    return out


@dataclass
class TrainResult:
    """What ``pretrain`` leaves: the run folder, its newest checkpoint and the logged metrics."""

    run_dir: Path
    checkpoint: Path | None
    step: int
    recipe: Any
    #: The last row of ``metrics.jsonl`` (loss, lr, wd, monitors, ...); empty if none.
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def history(self) -> list[dict[str, Any]]:
        """Every row of the run's ``metrics.jsonl``, oldest first (resumed runs included)."""
        from jepa_kit.rundir.metrics import read_metrics

        return read_metrics(self.run_dir / "metrics.jsonl")

    def __repr__(self) -> str:
        loss = self.metrics.get("loss")
        shown = f", loss={loss:.4f}" if isinstance(loss, float) else ""
        return (f"TrainResult(run_dir={str(self.run_dir)!r}, step={self.step}{shown}, "
                f"checkpoint={str(self.checkpoint) if self.checkpoint else None!r})")


def pretrain(recipe: str | Path | RecipeBase, overrides: Overrides = None, *,
             output_dir: str | Path | None = None, resume: bool | Literal["auto"] = False,
             device: str | None = None, progress: bool = True, allow_nonempty: bool = False,
             allow_changes: bool = False) -> TrainResult:
    """Pre-train ``recipe`` (a path, a shipped recipe's name or a loaded recipe) in this
    process, as ``jepa-kit run`` does, and return where it went.

    ``output_dir`` defaults to the recipe's ``run.output_dir``; ``resume`` continues from its
    newest checkpoint, ``resume="auto"`` does so when the folder already holds a run (a
    notebook cell that can run again); ``progress=False`` prints nothing (in a notebook the
    progress lines appear under the cell). A run that stops early (a non-finite loss,
    collapse) raises ``jepa_kit.train.trainer.RunStopped`` with the reason.
    """
    from jepa_kit.checkpoint import latest_valid_checkpoint
    from jepa_kit.rundir.directory import holds_run
    from jepa_kit.rundir.metrics import read_metrics
    from jepa_kit.train.trainer import train as run_trainer

    resolved = load_recipe(recipe, overrides)
    out = resolved.output_dir if output_dir is None else Path(output_dir)
    if resume not in (True, False, "auto"):
        raise UserError(f"resume={resume!r}: expected True, False or 'auto'")
    result = run_trainer(resolved, output_dir=out,
                         resume=holds_run(out) if resume == "auto" else bool(resume),
                         device=device, quiet=not progress,
                         allow_nonempty=allow_nonempty, allow_changes=allow_changes)
    checkpoint = result.checkpoint
    if checkpoint is None:  # a resume with nothing left to train wrote none this time
        found = latest_valid_checkpoint(result.output_dir / "checkpoints")
        checkpoint = None if found is None else found[0]
    rows = read_metrics(result.output_dir / "metrics.jsonl")
    return TrainResult(result.output_dir, checkpoint, result.step, resolved,
                       rows[-1] if rows else {})


def find_checkpoint(source: str | Path) -> Path:
    """The checkpoint ``source`` names: a run folder's newest checkpoint that loads (or of its
    ``checkpoints`` folder); a ``step_N.pt`` file or ``step_N.dcp`` folder as it is.
    ``UserError`` when there is none."""
    from jepa_kit.checkpoint import latest_valid_checkpoint, sharded

    path = Path(source)
    if not path.exists():
        raise UserError(f"{path}: no such checkpoint file or run folder")
    if path.is_file() or sharded.is_sharded(path):
        return path
    folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    found = latest_valid_checkpoint(folder)
    if found is None:
        raise UserError(f"{path}: a folder without checkpoints (expected a run folder with "
                        "checkpoints/step_N.pt, or an export folder with config.json)")
    return found[0]


class FeatureEncoder(nn.Module):
    """A frozen-for-evaluation encoder with its pooling: ``forward(images)`` gives
    ``features``: ``"avg"`` (B, D) mean of the patch tokens, ``"lastK"`` (B, K D) the means
    of the last K blocks, or ``"tokens"`` (B, N, D). Images are (B, C, H, W) at ``img_size``,
    normalised as in training (ImageNet mean and std).

    ``encoder`` is the underlying jepa-kit encoder; ``which``, ``step`` and ``source`` say
    where it came from (``which``: the method's name for it, or the export format).
    """

    def __init__(self, encoder: nn.Module, *, features: str, which: str, step: int,
                 source: Path, img_size: int, recipe: Any = None) -> None:
        from jepa_kit.eval.features import last_blocks

        super().__init__()
        last_blocks(features)  # refuses anything but avg, tokens, lastK
        self.encoder = encoder
        self.features = features
        self.which = which
        self.step = step
        self.source = source
        self.img_size = img_size
        self.recipe = recipe

    @property
    def embed_dim(self) -> int:
        return int(self.encoder.embed_dim)  # type: ignore[arg-type]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        from jepa_kit.eval.features import encode

        return encode(self.encoder, images, self.features)

    def extra_repr(self) -> str:
        return (f"features={self.features!r}, which={self.which!r}, step={self.step}, "
                f"source={str(self.source)!r}")


def load_encoder(source: str | Path, *, which: str | None = None, features: str = "avg",
                 random_init: bool = False, device: str | torch.device = "cpu"
                 ) -> FeatureEncoder:
    """The encoder of a run folder, checkpoint (``.pt`` or sharded ``.dcp``) or export, as an
    ``nn.Module`` in eval mode on ``device``.

    ``which`` picks one of the method's encoders (I-JEPA: ``"target"``, the default and what
    the paper evaluates, or ``"context"``); ``random_init`` gives the run's step-0 twin (the
    baseline every score is compared with); ``features`` the pooling (see ``FeatureEncoder``).
    """
    from jepa_kit.eval.checkpoint_model import load_encoder_from_checkpoint
    from jepa_kit.eval.exported import is_exported, load_exported

    path = Path(source)
    if path.exists() and is_exported(path):
        if random_init:
            raise UserError(f"random_init: {path} is an exported encoder, without the run "
                            "that made its initial weights; load the run's checkpoint")
        exported = load_exported(path)
        if which not in (None, exported.format):
            raise UserError(f"which={which!r}: {path} holds one encoder (a {exported.format} "
                            "export)")
        module = FeatureEncoder(exported.encoder, features=features, which=exported.format,
                                step=0, source=path, img_size=exported.img_size)
    else:
        loaded = load_encoder_from_checkpoint(find_checkpoint(path), which,
                                              random_init=random_init)
        module = FeatureEncoder(loaded.encoder, features=features, which=loaded.which,
                                step=0 if random_init else loaded.step, source=loaded.path,
                                img_size=loaded.recipe.img_size, recipe=loaded.recipe)
    return module.to(device).eval()


def evaluate(checkpoint: str | Path, protocol: Any = "knn", **options: Any) -> Evaluation | None:
    """Score a run folder's, a checkpoint's or an export's frozen encoder with a protocol.

    ``protocol`` is a registered name (``knn``, ``linear``, ``attentive`` or a plug-in's) with
    ``settings={...}`` (its ``Config`` fields), or a config; the options are those of
    ``jepa_kit.eval.evaluate.evaluate`` (``which``, ``data_dir``, ``dataset``, ``features``,
    ``per_class``, ``baseline``, ...). Returns an ``Evaluation``: ``result`` as written to
    JSON (``metrics``, and for a checkpoint its ``baseline`` and ``gain``) and its ``path``.
    """
    from jepa_kit.eval.evaluate import evaluate as run_protocol
    from jepa_kit.eval.exported import is_exported

    path = Path(checkpoint)
    if path.is_dir() and not is_exported(path):  # a run folder: its newest checkpoint
        path = find_checkpoint(path)
    # Anything else goes as it is: the options are checked before any file is read.
    return run_protocol(path, protocol, **options)


def export(checkpoint: str | Path, out: str | Path, *, format: str = "safetensors",
           which: str | None = None, card: bool = True) -> Path:
    """Write a run folder's or checkpoint's encoder as ``format`` (``safetensors``: one file;
    ``timm``: a timm model folder; ``hf``: a transformers ``IJepaModel`` folder) to ``out``,
    with a model card beside it (``README.md`` in a folder, ``NAME.README.md`` beside a file).
    Returns the path of the weights."""
    from jepa_kit.interop.export import EXPORT_FORMATS, export_checkpoint

    if format not in EXPORT_FORMATS:
        raise UserError(f"format={format!r}: expected one of {', '.join(EXPORT_FORMATS)}")
    return export_checkpoint(find_checkpoint(checkpoint), fmt=format,  # type: ignore[arg-type]
                             which=which, out=out, card=card)

"""Typed recipes: TOML files validated against the installed components.

A recipe has the sections ``run``, ``method``, ``data``, ``optim``, ``train`` and ``eval``,
plus the component sections its method declares (``Method.slots``; I-JEPA: ``encoder``,
``predictor``, ``masker``, ``target_updater``, ``loss``, ``views``). ``[method] kind`` picks
the method; a recipe without one is read as I-JEPA's, with a warning (see ``migrate``). A slot
section the recipe leaves out gets the method's
default component; a component section the method does not use is an error. Component
sections are discriminated unions over every installed component of that kind, keyed by
``kind``, so a plugin's options are validated exactly like a built-in's.

Composition: ``extends = "base.toml"`` (relative to the recipe; where no such file is beside it,
a shipped recipe's name such as ``"quickstart"``) deep-merges the recipe onto a base;
``--set dotted.key=value`` overrides one field, the value parsed as TOML (a bare word falls
back to a string). When either changes a section's ``kind``, that section starts afresh
from the new component's defaults instead of inheriting options the new component lacks; when
either changes ``method.kind``, the sections the new method does not use are dropped.

Recipes written before views were a component kept the augmentation settings in ``[data]``;
``migrate`` moves them to ``[views]`` (with a warning) so old files and checkpoints still load.
Recipes written before methods were plug-ins have no ``[method] kind``: they were I-JEPA's, and
``migrate`` reads them so (``LEGACY_METHOD``, with a warning naming the fix, until the next
release).
"""

from __future__ import annotations

import codecs
import copy
import difflib
import functools
import sys
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from jepa_kit.errors import UserError
from jepa_kit.registry import GROUPS, registry
from jepa_kit.shipped_recipes import find_shipped, missing_recipe

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: Recipe section -> component kind, for every section that can name a component. Besides
#: ``method`` and ``data``, a section is named after its kind.
COMPONENT_SECTIONS: dict[str, str] = {kind: kind for kind in GROUPS} | {"data": "dataset"}
COMPONENT_SECTIONS.pop("dataset")
COMPONENT_SECTIONS.pop("regularizer")  # a list, ``[[regularizers]]``, not one section
COMPONENT_SECTIONS.pop("eval_protocol")  # named in eval.protocols, not a section of its own
COMPONENT_SECTIONS.pop("logger")  # a list, ``[[loggers]]``
COMPONENT_SECTIONS.pop("optimizer")  # optim.optimizer, a table inside [optim]
COMPONENT_SECTIONS.pop("schedule")  # optim.lr_schedule and optim.wd_schedule
#: The component the engine's own sections get when they name none.
ENGINE_DEFAULTS: dict[str, str] = {"data": "synthetic"}
#: The method of a recipe without ``[method] kind``: written before methods were plug-ins, it
#: is an I-JEPA recipe. Deprecated: read so with a warning for one release, then an error.
LEGACY_METHOD = "ijepa"
#: Augmentation settings that lived in ``[data]`` before views were a component.
LEGACY_VIEW_KEYS = ("crop_scale", "horizontal_flip", "color_jitter", "gaussian_blur")


class RecipeError(UserError):
    """A recipe is invalid. ``problems`` holds ``(dotted key, message)`` pairs."""

    def __init__(self, source: str, problems: Sequence[tuple[str, str]]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = [f"{key}: {msg}" if key else msg for key, msg in self.problems]
        super().__init__(f"{source}: invalid recipe\n  " + "\n  ".join(lines))


class Section(BaseModel):
    # inf and nan are refused in every float field: an lr of inf validates but trains NaN.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class RunSection(Section):
    name: str = Field(
        "jepa", min_length=1, description="Run name, used in the output path: one plain folder "
        "name (no / or \\, not . or ..)."
    )
    seed: int = Field(0, ge=0, description="Seed of every random stream of the run.")
    output_dir: str = Field(
        "runs/{name}", min_length=1, description="Where logs and checkpoints go; {name} expands "
        "to run.name and stays inside the folder that precedes it (no .. after it)."
    )

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        # The name becomes one folder of the output path: "../../x" would write two folders
        # above runs/, "a/b" a folder no sweep or compare would find under runs/.
        bad = [c for c in ("/", "\\", "\0") if c in name]
        if bad or name.strip() in {"", ".", ".."}:
            why = f"contains {bad[0]!r}" if bad else "is not a folder name"
            raise ValueError(f"{why}; expected a plain folder name such as 'quickstart' "
                             f"(no / or \\, not . or ..)")
        return name

    @field_validator("output_dir")
    @classmethod
    def _output_inside_parent(cls, output_dir: str, info: ValidationInfo) -> str:
        name = info.data.get("name")  # absent when run.name itself was refused
        template = output_dir.replace("\\", "/")
        at = template.find("{name}")
        if name is None or at < 0:
            return output_dir
        # The folder written before the placeholder ("runs/" of "runs/{name}") is where the
        # user said runs go; what follows it, substituted, must name a folder inside it.
        parent = template[: template.rfind("/", 0, at) + 1]
        depth, lowest = 0, 0
        for part in template[len(parent):].replace("{name}", name).split("/"):
            depth += -1 if part == ".." else part not in {"", "."}
            lowest = min(lowest, depth)
        if lowest < 0 or depth < 1:
            where = "outside" if lowest < 0 else "not a folder inside"
            raise ValueError(
                f"with run.name={name!r} it gives {output_dir.replace('{name}', name)!r}, "
                f"{where} {parent or './'!r}; expected a path that stays inside the folder "
                f"before {{name}} (no '..' after it)")
        return output_dir

    def expanded_output_dir(self) -> str:
        """``output_dir`` with ``{name}`` replaced by the run name."""
        return self.output_dir.replace("{name}", self.name)


class OptimSection(Section):
    """The optimizer and its schedules: the values here, the components in three tables.

    ``optimizer`` (default ``adamw``), ``lr_schedule`` and ``wd_schedule`` (default ``cosine``,
    the reference's, I-JEPA Sec. 5) are components, each a table with a ``kind`` or just its
    name: ``lr_schedule = "constant"`` swaps the shape of the lr in one line. ``betas`` and
    ``eps`` written here (recipes before optimizers were components) are AdamW's and move into
    ``optimizer``.
    """

    start_lr: float = Field(2e-4, ge=0, description="Learning rate at the start of warmup.")
    lr: float = Field(1e-3, gt=0, description="Peak learning rate, reached after warmup.")
    final_lr: float = Field(1e-6, ge=0, description="Learning rate at the end of the schedule.")
    warmup_epochs: float = Field(40, ge=0, description="Linear warmup length, in epochs.")
    weight_decay: float = Field(0.04, ge=0, description="Weight decay at the start.")
    final_weight_decay: float = Field(0.4, ge=0, description="Weight decay at the end.")
    ipe_scale: float = Field(
        1.0, ge=1.0, le=10.0,
        description="Stretch schedules past the run (reference ipe_scale); 1.0 ends them on time.",
    )

    @model_validator(mode="before")
    @classmethod
    def _components(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        values = dict(values)
        for slot, (kind, default) in OPTIM_SLOTS.items():
            body = values.get(slot, {})
            body = {"kind": body} if isinstance(body, str) else body
            if isinstance(body, dict):
                body = {"kind": default, **body}
                if slot == "optimizer":  # the pre-component keys, AdamW's
                    body.update({k: values.pop(k) for k in LEGACY_ADAMW_KEYS if k in values})
                reg = registry(kind)
                if not isinstance(body["kind"], str) or body["kind"] not in reg.names():
                    raise ValueError(f"optim.{slot}: {reg.unknown_message(str(body['kind']))}")
            values[slot] = body
        return values

    @property
    def betas(self) -> tuple[float, float] | None:
        """The optimizer's betas (None for one without); ``optim.optimizer.betas``."""
        return getattr(self.optimizer, "betas", None)  # type: ignore[attr-defined]

    @property
    def eps(self) -> float | None:
        """The optimizer's epsilon (None for one without); ``optim.optimizer.eps``."""
        return getattr(self.optimizer, "eps", None)  # type: ignore[attr-defined]


#: ``[optim]`` component tables -> (component kind, default kind).
OPTIM_SLOTS: dict[str, tuple[str, str]] = {
    "optimizer": ("optimizer", "adamw"),
    "lr_schedule": ("schedule", "cosine"),
    "wd_schedule": ("schedule", "cosine"),
}
#: ``[optim]`` keys of recipes written before the optimizer was a component: AdamW's options.
LEGACY_ADAMW_KEYS = ("betas", "eps")


def _optim_section() -> type[OptimSection]:
    """``[optim]`` with its component tables typed over the installed optimizers and schedules."""
    what = {"optimizer": "The optimizer (adamw: AdamW, the reference's).",
            "lr_schedule": "The learning rate's shape: start_lr -> lr over warmup_epochs, "
                           "then to final_lr.",
            "wd_schedule": "The weight decay's shape: weight_decay -> final_weight_decay over "
                           "the run, no warmup."}
    fields: dict[str, Any] = {}
    for slot, (kind, default) in OPTIM_SLOTS.items():
        factory = functools.partial(lambda k, d: registry(k).load(d).Config(), kind, default)
        fields[slot] = (_component_union(kind), Field(default_factory=factory,
                                                      description=what[slot]))
    return create_model("OptimSection", __base__=OptimSection, __doc__=OptimSection.__doc__,
                        **fields)


class TrainSection(Section):
    epochs: int = Field(300, ge=1, description="Epochs; schedules span epochs x iterations.")
    batch_size: int = Field(128, ge=1, description="Images per optimizer step per process.")
    max_steps: int | None = Field(
        None, ge=1, description="Stop after this many optimizer steps; schedules unchanged."
    )
    precision: Literal["fp32", "bf16"] = Field(
        "fp32", description="bf16 runs the forward passes under autocast (CPU and CUDA)."
    )
    compile: bool = Field(False, description="torch.compile the encoder and the predictor.")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: CUDA when available, else CPU."
    )
    checkpoint_every: int = Field(
        500, ge=1, description="Write a checkpoint every N optimizer steps (and at the end)."
    )
    keep_last: int = Field(3, ge=1, description="Checkpoints kept in the run directory.")
    log_every: int = Field(10, ge=1, description="Log metrics every N steps (host sync cost).")
    max_bad_steps: int = Field(
        0, ge=0, description="Non-finite losses skipped before the run stops (0: stop at once)."
    )
    stop_on_collapse: int = Field(
        0, ge=0, le=1_000_000, description="Stop the run when the collapse monitors (eval."
        "monitors) report collapse at this many log steps in a row, exit 1 with the reason; "
        "no checkpoint is written while they do, so the last one is from before the collapse. "
        "0 (default): only warn."
    )
    init_from: str | None = Field(
        None, description="jepa-kit checkpoint whose weights start the run (e.g. an import)."
    )
    accumulate_steps: int = Field(
        1, ge=1, le=1024, description="Micro-batches of train.batch_size per optimizer step: "
        "the global batch is batch_size x accumulate_steps x processes; schedules count "
        "optimizer steps."
    )
    grad_clip: float | None = Field(
        None, gt=0, description="Clip the global gradient norm of the trainable networks to "
        "this value before each optimizer step (logged as grad_norm); None: no clipping."
    )
    activation_checkpointing: bool = Field(
        False, description="Recompute each transformer block's activations in the backward "
        "pass instead of storing them: less memory, about a third more compute."
    )
    tf32: bool = Field(
        True, description="On CUDA, let fp32 matmuls and convolutions use TF32 tensor cores "
        "(about 10 bits of mantissa in the products; bf16 autocast is unaffected)."
    )
    checkpoint_format: Literal["auto", "file", "sharded"] = Field(
        "auto", description="file: one step_N.pt that rank 0 writes (full weights); sharded: "
        "a step_N.dcp folder that every rank writes its shard into (torch.distributed."
        "checkpoint); auto: sharded under distributed.strategy=fsdp, else file."
    )
    async_checkpoint: bool = Field(
        False, description="Write checkpoints in the background: the step waits only for a "
        "copy of the state to host memory, training goes on while the files are written."
    )


class DistributedSection(Section):
    strategy: Literal["ddp", "fsdp"] = Field(
        "ddp", description="ddp: every process holds all weights (DistributedDataParallel); "
        "fsdp: weights, gradients and optimizer state sharded over processes (FSDP2, "
        "torch.distributed.fsdp.fully_shard). One process ignores it."
    )
    reshard_after_forward: bool = Field(
        True, description="fsdp: free the gathered weights after each forward pass and gather "
        "them again for backward (less memory); false keeps them (less communication)."
    )


class ExpectSection(Section):
    """A recipe card: what a run of this recipe should show, checked by
    ``benchmarks/bench_quality.py`` (the mean over seeds of the default encoder's gain over
    the random init of the same architecture)."""

    metric: Literal["knn", "linear"] = Field("knn", description="The probe scored.")
    which: str | None = Field(
        None, description="The encoder scored, by the method's names; None: the method's "
        "default (what `jepa-kit eval` scores).")
    min_gain: float = Field(..., ge=0, le=100, description="Minimum mean gain over the random "
                            "init, in accuracy points.")
    seeds: int = Field(3, ge=1, le=100, description="Run seeds the mean is taken over (0..N-1).")
    val_size: int = Field(1024, ge=1, le=10_000_000,
                          description="Validation images the probe is scored on.")


class EvalSection(Section):
    every_epochs: int = Field(0, ge=0, description="Run the eval protocols every N epochs; "
                              "0: off.")
    protocols: list[str] = Field(
        ["knn"], min_length=1, description="Evaluation protocols run every every_epochs "
        "(registered names: knn, linear, attentive or a plug-in's; `jepa-kit plugins`); knn "
        "uses knn_k and knn_temperature, the others their defaults."
    )
    knn_k: int = Field(20, ge=1, description="Neighbours in the kNN vote.")
    knn_temperature: float = Field(0.07, gt=0, description="Temperature of the kNN vote.")
    which: str | None = Field(
        None, description="Encoder evaluated, by the method's names (I-JEPA: target, as the "
        "paper, or context); None: the method's default."
    )
    monitors: bool = Field(True, description="Log collapse monitors (RankMe, feature std).")
    rankme_batches: int = Field(8, ge=1, description="Batches of target features RankMe sees.")
    min_feature_std: float = Field(
        1e-3, ge=0, description="Warn when the target features' mean per-dim std falls below."
    )
    min_rankme: float = Field(
        1.5, ge=0, description="Warn when RankMe (effective rank, 1 = collapsed) falls below."
    )

    @field_validator("protocols")
    @classmethod
    def _registered(cls, names: list[str]) -> list[str]:
        reg = registry("eval_protocol")
        for name in names:
            if name not in reg.names():
                raise ValueError(reg.unknown_message(name))
        return names


def _component_union(kind: str) -> Any:
    configs = [cls.Config for cls in registry(kind).load_all().values()]
    if not configs:
        raise RecipeError("<registry>", [("", f"no {kind} component is installed")])
    union = configs[0] if len(configs) == 1 else Union[tuple(configs)]  # noqa: UP007
    return Annotated[union, Field(discriminator="kind")]


def method_slots(name: str) -> dict[str, str | None]:
    """The sections method ``name`` reads -> their default kinds (``RegistryError`` if unknown)."""
    return dict(registry("method").load(name).slots)


def sections_of(data: dict[str, Any]) -> dict[str, str | None]:
    """Component sections of a raw recipe -> default kind: the engine's and its method's.

    An unknown method contributes no slots (its own error is reported by validation)."""
    method = data.get("method", {})
    name = method.get("kind", LEGACY_METHOD) if isinstance(method, dict) else None
    try:
        slots = method_slots(name) if isinstance(name, str) else {}
    except UserError:
        slots = {}
    return {"method": LEGACY_METHOD, **ENGINE_DEFAULTS, **slots}


@functools.cache
def _recipe_model(method: str, signature: tuple[tuple[int, tuple[str, ...]], ...]
                  ) -> type[BaseModel]:
    fields: dict[str, Any] = {
        "run": (RunSection, Field(default_factory=RunSection)),
        "optim": (optim := _optim_section(), Field(default_factory=optim)),
        "train": (TrainSection, Field(default_factory=TrainSection)),
        "eval": (EvalSection, Field(default_factory=EvalSection)),
        "distributed": (DistributedSection, Field(default_factory=DistributedSection)),
        "expect": (ExpectSection | None, Field(None, description="The recipe card: the gain "
                                               "over random init a run should show.")),
        "method": (registry("method").load(method).Config,
                   Field(description="The method: the algorithm a run trains.")),
    }
    for section in ("data", *method_slots(method)):
        kind = COMPONENT_SECTIONS[section]
        fields[section] = (_component_union(kind), Field(description=f"The {kind} component."))
    fields["regularizers"] = (
        list[_component_union("regularizer")],  # type: ignore[misc]
        Field(default_factory=list, description="Terms added to the method's loss, each "
              "reading one of the method's embeddings (`on`); none by default."))
    fields["loggers"] = (
        list[_component_union("logger")],  # type: ignore[misc]
        Field(default_factory=list, description="Where the run's records go besides "
              "metrics.jsonl (always written): trackers and files, one of each kind; none "
              "by default."))
    return create_model("Recipe", __base__=RecipeBase, **fields)


class RecipeBase(Section):
    """Cross-section checks shared by every recipe model."""

    @property
    def img_size(self) -> int:
        return self.data.img_size  # type: ignore[attr-defined, no-any-return]

    @property
    def patch_size(self) -> int:
        return self.encoder.resolved_patch_size()  # type: ignore[attr-defined, no-any-return]

    @property
    def grid(self) -> tuple[int, ...]:
        """The encoder's patch grid: (H, W), or (T, H, W) for a video encoder (whose config
        has ``temporal_patches()``)."""
        side = self.img_size // self.patch_size
        temporal = getattr(self.encoder, "temporal_patches", None)  # type: ignore[attr-defined]
        frames = temporal() if temporal is not None else None
        return (side, side) if frames is None else (frames, side, side)

    @property
    def output_dir(self) -> Path:
        return Path(self.run.expanded_output_dir())  # type: ignore[attr-defined]

    @model_validator(mode="after")
    def _cross_checks(self) -> RecipeBase:
        fields = type(self).model_fields
        if "encoder" in fields:
            patch = self.patch_size
            if self.img_size % patch:
                raise ValueError(
                    f"data.img_size={self.img_size} is not divisible by the encoder's patch "
                    f"size {patch} (encoder.patch_size)"
                )
        if "masker" in fields:
            self.masker.check_grid(self.grid)  # type: ignore[attr-defined]
        clip = getattr(self.data, "num_frames", None)  # type: ignore[attr-defined]
        built = getattr(getattr(self, "encoder", None), "num_frames", None)
        if clip is not None and built is not None and built > 1 and clip != built:
            raise ValueError(f"data.num_frames={clip} but the encoder is built for clips of "
                             f"encoder.num_frames={built}; set them equal")
        method = registry("method").load(self.method.kind)  # type: ignore[attr-defined]
        # The method's own options against its sections (check_recipe calls check_sections).
        method.check_recipe(self.method,  # type: ignore[attr-defined]
                            {slot: getattr(self, slot) for slot in method.slots})
        for i, term in enumerate(self.regularizers):  # type: ignore[attr-defined]
            if term.on not in method.embeddings:
                offered = ", ".join(repr(e) for e in method.embeddings) or "none"
                raise ValueError(f"regularizers[{i}].on={term.on!r}: method "
                                 f"{self.method.kind!r} exposes the embeddings {offered}")  # type: ignore[attr-defined]
        card = self.expect  # type: ignore[attr-defined]
        if card is not None and card.which is not None and card.which not in method.eval_encoders:
            raise ValueError(f"expect.which={card.which!r}: method {self.method.kind!r} "  # type: ignore[attr-defined]
                             f"evaluates {', '.join(repr(c) for c in method.eval_encoders)}")
        which, choices = self.eval.which, method.eval_encoders  # type: ignore[attr-defined]
        if which is not None and which not in choices:
            raise ValueError(f"eval.which={which!r}: method {self.method.kind!r} "  # type: ignore[attr-defined]
                             f"evaluates {', '.join(repr(c) for c in choices)}")
        return self


def recipe_model(method: str = LEGACY_METHOD) -> type[BaseModel]:
    """The recipe model of ``method`` over the components installed now."""
    signature = tuple(
        (registry(k).generation, tuple(registry(k).names())) for k in GROUPS
    )
    return _recipe_model(method, signature)


def recipe_schema(method: str = LEGACY_METHOD) -> dict[str, Any]:
    """JSON Schema of a ``method`` recipe over the installed components (editor completion)."""
    return recipe_model(method).model_json_schema()


# -- reading and composing ---------------------------------------------------------------------
def read_toml(path: Path) -> dict[str, Any]:
    """A recipe file as a dict: UTF-8 TOML, a leading byte-order mark allowed (Windows editors
    write one; TOML itself does not)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RecipeError(str(path), [("", "no such recipe file")]) from None
    except OSError as exc:
        raise RecipeError(str(path), [("", f"cannot read: {exc}")]) from None
    try:
        return tomllib.loads(_decode(raw))
    except UnicodeDecodeError as exc:
        raise RecipeError(str(path), [("", _not_utf8(raw, exc))]) from None
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(str(path), [("", f"not valid TOML: {exc}")]) from None


def _decode(raw: bytes) -> str:
    return raw.removeprefix(codecs.BOM_UTF8).decode("utf-8")


def _not_utf8(raw: bytes, exc: UnicodeDecodeError) -> str:
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "not UTF-8 text: the file is UTF-16 (its byte-order mark); save it as UTF-8"
    offset = exc.start + (len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0)
    line = raw[:offset].count(b"\n") + 1
    return (f"not UTF-8 text: byte 0x{raw[offset]:02x} at offset {offset} (line {line}); "
            f"save the file as UTF-8")


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``update`` onto ``base``; a section whose ``kind`` changes is replaced, and
    a change of ``method.kind`` drops the base's sections the new method does not use."""
    return _merge(base, update, top=True)


def _merge(base: dict[str, Any], update: dict[str, Any], *, top: bool = False
           ) -> dict[str, Any]:
    out = copy.deepcopy(base)
    defaults = sections_of(base) if top else {}
    for key, value in update.items():
        old = out.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            if "kind" in value and old.get("kind", defaults.get(key)) != value["kind"]:
                out[key] = copy.deepcopy(value)
            else:
                out[key] = _merge(old, value)
        else:
            out[key] = copy.deepcopy(value)
    if top:
        _drop_unused_sections(base, out, keep=set(update))
    return out


def _drop_unused_sections(before: dict[str, Any], after: dict[str, Any], keep: set[str]) -> None:
    """After ``method.kind`` changed, drop inherited sections the new method does not read."""
    old, new = sections_of(before), sections_of(after)
    if old == new:
        return
    for section in set(old) - set(new) - keep:
        after.pop(section, None)


def load_raw(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a recipe file and resolve its ``extends`` chain into one plain dict.

    ``path`` (and an ``extends``) that names no file may name a shipped recipe
    (``quickstart``; ``jepa_kit.shipped_recipes``); a file that exists wins.
    """
    path = Path(path)
    if not _seen and not path.is_file():
        shipped = find_shipped(path)
        if shipped is None and not path.exists():
            raise RecipeError(str(path), [("", missing_recipe(path))])
        path = shipped or path
    resolved = path.resolve()
    if resolved in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, resolved))
        raise RecipeError(str(path), [("extends", f"circular extends: {chain}")])
    data = read_toml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise RecipeError(str(path), [("extends", f"expected a file path, got {parent!r}")])
    base_path = path.parent / parent
    if not base_path.exists():  # no file of that name beside the recipe: a shipped one?
        base_path = find_shipped(parent) or base_path
    if not base_path.is_file():
        # A device or a fifo (``/dev/zero``) exists but would read forever or block; a folder
        # cannot be read at all: say which it is rather than "does not exist".
        what = ("is a folder, not a recipe file" if base_path.is_dir() else
                "is not a regular file (a device, fifo or socket); expected a recipe file"
                if base_path.exists() else "does not exist")
        raise RecipeError(str(path), [("extends", f"base recipe {base_path} {what} "
                                                  f"(given: {parent!r})")])
    return merge(load_raw(base_path, (*_seen, resolved)), data)


def flatten(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested recipe (or override) table as ``{"dotted.key": value}``."""
    out: dict[str, Any] = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def parse_value(raw: str) -> Any:
    """A ``--set`` value: TOML (``1``, ``1e-3``, ``true``, ``[1, 2]``, ``"x"``) or a string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def apply_overrides(data: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Apply ``dotted.key=value`` strings to a raw recipe dict."""
    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise RecipeError("--set", [(item, "expected dotted.key=value, e.g. train.epochs=10")])
        *parents, leaf = key.split(".")
        node = data
        for i, part in enumerate(parents):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                where = ".".join(parents[: i + 1])
                raise RecipeError("--set", [(key, f"{where} is a value, not a section")])
            node = child
        value = parse_value(raw.strip())
        if leaf == "kind" and len(parents) == 1 and node.get("kind", sections_of(data).get(
                parents[0])) != value:
            before = copy.deepcopy(data)
            node.clear()
            node[leaf] = value
            if parents[0] == "method":
                _drop_unused_sections(before, data, keep=set())
            continue
        node[leaf] = value
    return data


# -- validation --------------------------------------------------------------------------------
def migrate(data: dict[str, Any], source: str) -> None:
    """Read an older recipe as today's, in place, with a warning naming the fix: a recipe
    without ``[method] kind`` is I-JEPA's; pre-views augmentation keys move from ``[data]``
    to ``[views]``."""
    method = data.setdefault("method", {})
    if isinstance(method, dict) and "kind" not in method:
        method["kind"] = LEGACY_METHOD
        warnings.warn(f"{source}: no [method] kind; read as {LEGACY_METHOD!r} (recipes "
                      f"without one are deprecated and will be refused in the next release); "
                      f"add [method] kind = \"{LEGACY_METHOD}\"", FutureWarning, stacklevel=3)
    body = data.get("data")
    if not isinstance(body, dict):
        return
    moved = [key for key in LEGACY_VIEW_KEYS if key in body]
    if not moved or (isinstance(data.get("views"), dict) and data["views"]):
        return
    data["views"] = {key: body.pop(key) for key in moved}
    warnings.warn(f"{source}: data.{', data.'.join(moved)} moved to [views] (the views "
                  f"component owns augmentation); update the recipe", FutureWarning,
                  stacklevel=3)


def _check_kinds(data: dict[str, Any]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    method = data.setdefault("method", {})
    if not isinstance(method, dict):
        return [("method", f"expected a [method] table, got {method!r}")]
    name = method.get("kind")
    if not isinstance(name, str) or name not in registry("method").names():
        return [("method.kind", registry("method").unknown_message(str(name)))]
    sections = sections_of(data)
    for section in COMPONENT_SECTIONS:
        if section in data and section not in sections:
            method_name = data["method"].get("kind")
            problems.append((section, f"method {method_name!r} does not use a [{section}] "
                             f"section (its sections: {', '.join(sections)}); remove it"))
    for section, default in sections.items():
        kind = COMPONENT_SECTIONS[section]
        body = data.get(section)
        if body is None:
            if default is None:
                problems.append((section, f"method {data['method'].get('kind')!r} needs a "
                                 f"[{section}] section naming a {kind} kind"))
                continue
            data[section] = body = {}
        if not isinstance(body, dict):
            problems.append((section, f"expected a [{section}] table, got {body!r}"))
            continue
        name = body.setdefault("kind", default)
        if name is None:
            problems.append((f"{section}.kind", f"missing; {registry(kind).unknown_message('')}"))
            continue
        reg = registry(kind)
        if not isinstance(name, str) or name not in reg.names():
            problems.append((f"{section}.kind", reg.unknown_message(str(name))))
            continue
        try:
            reg.load(name)
        except ValueError as exc:
            problems.append((f"{section}.kind", str(exc)))
    return problems + _check_regularizer_kinds(data.get("regularizers", [])) + \
        _check_regularizer_kinds(data.get("loggers", []), "loggers", "logger")


def _check_regularizer_kinds(entries: Any, section: str = "regularizers",
                             kind: str = "regularizer") -> list[tuple[str, str]]:
    if not isinstance(entries, list):
        return [(section, f"expected a list of [[{section}]] tables, got {entries!r}")]
    problems: list[tuple[str, str]] = []
    reg = registry(kind)
    for i, body in enumerate(entries):
        if not isinstance(body, dict):
            problems.append((f"{section}[{i}]", f"expected a table, got {body!r}"))
        elif not isinstance(body.get("kind"), str) or body["kind"] not in reg.names():
            problems.append((f"{section}[{i}].kind", reg.unknown_message(str(body.get("kind")))))
    return problems


def _dotted(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    parts = [str(p) for p in loc]
    # A discriminated union inserts the tag after the section name; users never write it.
    if len(parts) >= 2 and parts[0] in COMPONENT_SECTIONS:
        section = data.get(parts[0])
        if isinstance(section, dict) and section.get("kind") == parts[1]:
            parts.pop(1)
    if len(parts) >= 3 and parts[0] == "optim" and parts[1] in OPTIM_SLOTS:
        given = data.get("optim", {})
        body = given.get(parts[1]) if isinstance(given, dict) else None
        kind = body if isinstance(body, str) else (body or {}).get("kind")
        if parts[2] == (kind or OPTIM_SLOTS[parts[1]][1]):
            parts.pop(2)
        if parts[1] == "optimizer" and len(parts) >= 3 and parts[2] in LEGACY_ADAMW_KEYS and \
                isinstance(given, dict) and parts[2] in given:
            parts.pop(1)  # written as optim.betas: reported there
    if len(parts) >= 2 and parts[0] in ("regularizers", "loggers") and parts[1].isdigit():
        # regularizers[i], as a TOML reader counts [[regularizers]] tables, without the tag.
        entries = data.get(parts[0])
        i = int(parts[1])
        tagged = isinstance(entries, list) and i < len(entries) and len(parts) >= 3 and \
            isinstance(entries[i], dict) and entries[i].get("kind") == parts[2]
        head = f"{parts[0]}[{i}]"
        return ".".join([head, *parts[3 if tagged else 2:]])
    return ".".join(parts)


def _describe(error: dict[str, Any], data: dict[str, Any]) -> tuple[str, str]:
    key = _dotted(tuple(error["loc"]), data)
    msg = error["msg"]
    if error["type"] == "extra_forbidden":
        msg = "unknown key"
        section = key.split(".")[0]
        fields = recipe_model(data["method"]["kind"]).model_fields
        model = fields.get(section)
        if key.count(".") == 0:
            known = [*fields]
            msg = f"unknown section; sections: {', '.join(known)}"
            close = difflib.get_close_matches(key, known, n=1)
            if close:
                msg += f". Did you mean {close[0]!r}?"
        elif model is not None:
            msg += _closest_field(key, data)
    elif error["type"] == "value_error":
        msg = msg.removeprefix("Value error, ")
    if "input" in error and error["type"] not in {"missing", "extra_forbidden"}:
        given = error["input"]
        if not isinstance(given, dict):
            msg += f" (given: {given!r})"
    return key, msg


def _closest_field(key: str, data: dict[str, Any]) -> str:
    section, *rest = key.split(".")
    fields: list[str] = []
    if section in COMPONENT_SECTIONS:
        name = data.get(section, {}).get("kind")
        try:
            cls = registry(COMPONENT_SECTIONS[section]).load(name)
            fields = list(cls.Config.model_fields)
        except ValueError:
            return ""
    elif section == "optim" and len(rest) >= 2 and rest[0] in OPTIM_SLOTS:
        kind, default = OPTIM_SLOTS[rest[0]]
        body = data.get("optim", {}).get(rest[0])
        name = body if isinstance(body, str) else (body or {}).get("kind", default)
        try:
            fields = list(registry(kind).load(name).Config.model_fields)
        except ValueError:
            return ""
        section = f"optim.{rest[0]}"
    else:
        annotation = recipe_model(data["method"]["kind"]).model_fields[section].annotation
        fields = list(getattr(annotation, "model_fields", {}))
    close = difflib.get_close_matches(rest[-1] if rest else "", fields, n=1)
    hint = f"; valid keys: {', '.join(f for f in fields if f != 'kind') or '(none but kind)'}"
    return hint + (f". Did you mean {section}.{close[0]!r}?" if close else "")


def validate_recipe(data: dict[str, Any], source: str = "<recipe>") -> Any:
    """Validate a raw recipe dict; ``RecipeError`` lists every problem with its dotted key."""
    data = copy.deepcopy(data)
    migrate(data, source)
    problems = _check_kinds(data)
    if problems:
        raise RecipeError(source, problems)
    try:
        recipe = recipe_model(data["method"]["kind"]).model_validate(data)
    except ValidationError as exc:
        raise RecipeError(source, [_describe(e, data) for e in exc.errors()]) from None
    except ValueError as exc:  # raised by a component's own hook outside pydantic's wrapping
        raise RecipeError(source, [("", str(exc))]) from None
    from jepa_kit.sizing import check_model_fits  # imports torch: only once a recipe is valid

    too_big = check_model_fits(recipe)
    if too_big is not None:
        raise RecipeError(source, [too_big])
    return recipe


def load_recipe(path: str | Path, overrides: Iterable[str] = ()) -> Any:
    """Read, compose (``extends``), override (``--set``) and validate a recipe file."""
    data = apply_overrides(load_raw(path), overrides)
    return validate_recipe(data, str(path))


def recipe_to_dict(recipe: BaseModel) -> dict[str, Any]:
    """The resolved recipe as plain, TOML- and JSON-compatible data."""
    return recipe.model_dump(mode="json", exclude_none=True)


def recipe_to_toml(recipe: BaseModel) -> str:
    import tomli_w

    return tomli_w.dumps(recipe_to_dict(recipe))


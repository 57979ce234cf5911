"""The engine's own recipe sections: ``[run]``, ``[optim]``, ``[train]``, ``[distributed]``,
``[expect]`` and ``[eval]``; each field carries its description and bounds.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Literal

from pydantic import (
    Field,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from jepa_kit.recipe.base import Section, component_union
from jepa_kit.registry import registry

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover
    pass


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


def optim_section() -> type[OptimSection]:
    """``[optim]`` with its component tables typed over the installed optimizers and schedules."""
    what = {"optimizer": "The optimizer (adamw: AdamW, the reference's).",
            "lr_schedule": "The learning rate's shape: start_lr -> lr over warmup_epochs, "
                           "then to final_lr.",
            "wd_schedule": "The weight decay's shape: weight_decay -> final_weight_decay over "
                           "the run, no warmup."}
    fields: dict[str, Any] = {}
    for slot, (kind, default) in OPTIM_SLOTS.items():
        factory = functools.partial(lambda k, d: registry(k).load(d).Config(), kind, default)
        fields[slot] = (component_union(kind), Field(default_factory=factory,
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



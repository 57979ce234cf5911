"""The ``linear`` protocol: a linear probe on pooled features (``jepa_kit.eval.linear``).

Its variants are settings, not entries: ``--features lastK`` (I-JEPA's concatenated last-K
pools) and ``--augment`` (I-JEPA's on-the-fly augmented views), plus the low-shot subsets.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from jepa_kit.eval.protocols.base import Inputs, Protocol, ProtocolConfig, Result

#: A learning rate or weight decay of a grid.
Rate = Annotated[float, Field(ge=0, le=1e3)]


class Linear(Protocol):
    """Linear probe (I-JEPA's protocols); lr x weight-decay chosen on a train hold-out."""

    class Config(ProtocolConfig):
        kind: Literal["linear"] = "linear"
        epochs: int = Field(100, ge=1, le=100_000, description="Epochs per grid point.")
        batch_size: int | None = Field(
            None, ge=1, le=1_000_000, json_schema_extra={"flag": "--probe-batch-size"},
            description="Mini-batch of the probe (default: full batch on cached features, "
            "256 with --augment).")
        lrs: tuple[Rate, ...] = Field((1e-3, 1e-2, 1e-1), min_length=1,
                                      json_schema_extra={"flag": "--lr"},
                                      description="Learning rates of the grid (repeat).")
        weight_decays: tuple[Rate, ...] = Field((0.0, 1e-4, 1e-2), min_length=1,
                                                json_schema_extra={"flag": "--wd"},
                                                description="Weight decays of the grid (repeat).")

    reads: ClassVar[Literal["pooled"]] = "pooled"
    title: ClassVar[str] = "linear"

    def run(self, inputs: Inputs) -> Result:
        from jepa_kit.eval.linear import augmented_linear_probe, linear_probe

        assert inputs.train is not None and inputs.val is not None
        c = self.config
        grid = dict(epochs=c.epochs, lrs=c.lrs, weight_decays=c.weight_decays,
                    num_classes=inputs.num_classes, seed=inputs.seed)
        batches = inputs.augmented(inputs.features, c.batch_size or 256)
        if batches is None:
            x, y = inputs.train_subset()
            metrics = linear_probe(x, y, *inputs.val, batch_size=c.batch_size, **grid)
        else:
            metrics = augmented_linear_probe(batches, *inputs.train, *inputs.val,
                                             batch_size=c.batch_size or 256,
                                             train_indices=inputs.subset, **grid)
        return Result.from_metrics(metrics)

    def describe(self, metrics: dict[str, Any], features: str) -> str:
        return f"linear probe ({features}, {metrics['epochs']} epochs)"

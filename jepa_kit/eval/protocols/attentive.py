"""The ``attentive`` protocol: V-JEPA's attentive probe on the last layer's tokens
(``jepa_kit.eval.attentive``); defaults are the paper's ImageNet settings."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field

from jepa_kit.eval.protocols.base import Inputs, Protocol, ProtocolConfig, Result

Rate = Annotated[float, Field(ge=0, le=1e3)]


class Attentive(Protocol):
    """Attentive probe (V-JEPA): learnable queries cross-attend to the frozen tokens."""

    class Config(ProtocolConfig):
        kind: Literal["attentive"] = "attentive"
        epochs: int = Field(20, ge=1, le=100_000, description="Training epochs (paper: 20).")
        batch_size: int = Field(1024, ge=1, le=1_000_000,
                                json_schema_extra={"flag": "--probe-batch-size"},
                                description="Mini-batch of the probe (paper: 16 x 64 GPUs).")
        lrs: tuple[Rate, ...] = Field((1e-3,), min_length=1, json_schema_extra={"flag": "--lr"},
                                      description="Learning rate (paper: 1e-3); repeat for a "
                                      "grid chosen on a train hold-out.")
        weight_decays: tuple[Rate, ...] = Field(
            (1e-3,), min_length=1, json_schema_extra={"flag": "--wd"},
            description="Weight decay, cosine-decayed to --final-wd (paper: 1e-3); repeat for "
            "a grid.")
        warmup_epochs: float = Field(0.0, ge=0, le=100_000,
                                     description="Linear lr warm-up (paper: none).")
        final_weight_decay: float = Field(1e-6, ge=0, le=1e3,
                                          json_schema_extra={"flag": "--final-wd"},
                                          description="Weight decay at the end.")
        grad_clip: float = Field(1.0, ge=0, le=1e6,
                                 description="Gradient-norm clip (paper: 1.0; 0: none).")
        num_queries: int = Field(1, ge=1, le=1024, json_schema_extra={"flag": "--queries"},
                                 description="Learnable query tokens.")
        depth: int = Field(1, ge=1, le=64, description="Pooler blocks: 1 cross-attention "
                           "block, plus depth-1 self-attention blocks over the queries.")
        num_heads: int | None = Field(None, ge=1, le=1024, json_schema_extra={"flag": "--heads"},
                                      description="Attention heads (default: the encoder's).")

    reads: ClassVar[Literal["tokens"]] = "tokens"
    title: ClassVar[str] = "attentive"

    def run(self, inputs: Inputs) -> Result:
        from jepa_kit.eval.attentive import attentive_probe
        from jepa_kit.eval.probe import ProbeOptim

        assert inputs.train is not None and inputs.val is not None
        c = self.config
        optim = ProbeOptim(epochs=c.epochs, batch_size=c.batch_size,
                           warmup_epochs=c.warmup_epochs,
                           final_weight_decay=c.final_weight_decay, grad_clip=c.grad_clip or None)
        metrics = attentive_probe(
            *inputs.train, *inputs.val, num_heads=c.num_heads or inputs.encoder.num_heads,
            num_classes=inputs.num_classes, optim=optim, lrs=c.lrs, weight_decays=c.weight_decays,
            num_queries=c.num_queries, depth=c.depth, train_indices=inputs.subset,
            seed=inputs.seed, batches=inputs.augmented("tokens", c.batch_size))
        return Result.from_metrics(metrics)

    def describe(self, metrics: dict[str, Any], features: str) -> str:
        return (f"attentive probe ({metrics['num_queries']} query, "
                f"{metrics['optim']['epochs']} epochs, batch {metrics['optim']['batch_size']})")

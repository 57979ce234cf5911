"""The ``knn`` protocol: weighted kNN on pooled features (``jepa_kit.eval.knn``, DINO's)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from jepa_kit.eval.protocols.base import Inputs, Protocol, ProtocolConfig, Result


class KNN(Protocol):
    """Weighted kNN accuracy (cosine similarity, votes exp(s/T)) on average-pooled tokens."""

    class Config(ProtocolConfig):
        kind: Literal["knn"] = "knn"
        k: int = Field(20, ge=1, le=100_000, description="Neighbours in the vote.")
        temperature: float = Field(0.07, ge=1e-6, le=1e3,
                                   description="Vote weight exp(similarity / T).")

    reads: ClassVar[Literal["pooled"]] = "pooled"
    fits: ClassVar[bool] = False  # nothing is trained: no seed beyond the low-shot draw
    title: ClassVar[str] = "kNN"

    def run(self, inputs: Inputs) -> Result:
        from jepa_kit.eval.knn import knn_eval

        assert inputs.val is not None
        x, y = inputs.train_subset()
        return Result.from_metrics(knn_eval(x, y, *inputs.val, num_classes=inputs.num_classes,
                                            k=self.config.k,
                                            temperature=self.config.temperature))

    def describe(self, metrics: dict[str, Any], features: str) -> str:
        return f"kNN (k={metrics['k']}, T={metrics['temperature']})"

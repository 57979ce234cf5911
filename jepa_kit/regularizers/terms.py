"""The regularizers of a run, applied by the engine after each ``Method.forward``."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from jepa_kit.errors import UserError
from jepa_kit.methods.base import StepOutput
from jepa_kit.regularizers.base import Regularizer


def metric_name(regularizer: Regularizer) -> str:
    """The ``metrics.jsonl`` key of a term: ``reg_<kind>_<on>``."""
    return f"reg_{regularizer.config.kind}_{regularizer.config.on}"


class Regularizers(nn.Module):
    """Adds ``weight * term(embedding)`` of each regularizer to a step's loss."""

    def __init__(self, regularizers: Sequence[Regularizer]) -> None:
        super().__init__()
        self.terms = nn.ModuleList(regularizers)
        names = [metric_name(r) for r in regularizers]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise UserError(f"regularizers: the same kind on the same embedding twice "
                            f"({', '.join(twice)}); give one entry per kind and `on`")

    def __len__(self) -> int:
        return len(self.terms)

    def forward(self, out: StepOutput, *, step: int) -> StepOutput:
        if not len(self.terms):
            return out
        loss = out.loss
        for term in self.terms:
            on = term.config.on  # type: ignore[union-attr]
            embedding = out.embeddings.get(on)
            if embedding is None:
                gave = ", ".join(sorted(out.embeddings)) or "none"
                raise UserError(f"regularizers: on = {on!r}, but the method gave no such "
                                f"embedding (it gave {gave})")
            value = term(embedding, step=step)
            loss = loss + term.config.weight * value  # type: ignore[union-attr]
            out.metrics[metric_name(term)] = value.detach()  # type: ignore[arg-type]
        out.loss = loss
        return out


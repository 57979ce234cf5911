"""jepa-kit: a modular plug-in framework for joint-embedding predictive architectures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__version__ = "0.1.0"


def evaluate(checkpoint: str | Path, protocol: str | Any = "knn", **options: Any) -> Any:
    """Score a checkpoint's (or an export's) frozen encoder with an evaluation protocol.

    ``protocol`` is a registered name (``knn``, ``linear``, ``attentive`` or a plug-in's) with
    ``settings={...}`` (its ``Config`` fields), or a config; see
    ``jepa_kit.eval.evaluate.evaluate`` for the options. Returns an ``Evaluation`` (the result
    as written to JSON, and its path).
    """
    from jepa_kit.eval.evaluate import evaluate as _evaluate

    return _evaluate(checkpoint, protocol, **options)

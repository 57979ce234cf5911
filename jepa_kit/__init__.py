"""jepa-kit: a modular plug-in framework for joint-embedding predictive architectures."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


#: The Python API (``jepa_kit.api``), imported on first use so that ``import jepa_kit`` stays
#: light (no torch) for the command line's start-up and for plug-ins reading ``__version__``.
_API = ("FeatureEncoder", "TrainResult", "evaluate", "export", "find_checkpoint",
        "load_encoder", "load_recipe", "pretrain")

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        from jepa_kit import api

        return getattr(api, name)
    raise AttributeError(f"module 'jepa_kit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})

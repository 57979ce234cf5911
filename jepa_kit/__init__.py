"""jepa-kit: a modular plug-in framework for joint-embedding predictive architectures."""

from __future__ import annotations

__version__ = "0.1.0"

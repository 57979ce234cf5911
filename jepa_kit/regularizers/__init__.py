"""Regularizers: terms added to any method's loss, read from an embedding the method exposes."""

from jepa_kit.regularizers.base import Regularizer, RegularizerConfig

__all__ = ["Regularizer", "RegularizerConfig"]

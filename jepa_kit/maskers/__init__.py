"""Maskers: sample context and target patch indices."""

from jepa_kit.maskers.base import Masker, MaskerConfig, Masks

__all__ = ["Masker", "MaskerConfig", "Masks"]

"""Encoders: images -> patch tokens."""

from jepa_kit.encoders.base import Encoder, EncoderConfig

__all__ = ["Encoder", "EncoderConfig"]

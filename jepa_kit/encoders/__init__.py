"""Encoders: images -> patch tokens; ``block_outputs`` reads the tokens between their blocks."""

from jepa_kit.encoders.base import Encoder, EncoderConfig
from jepa_kit.encoders.blocks import block_outputs, tap_blocks

__all__ = ["Encoder", "EncoderConfig", "block_outputs", "tap_blocks"]

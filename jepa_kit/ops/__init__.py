"""Pure tensor helpers."""

from jepa_kit.ops.masks import apply_masks, gather_tokens, repeat_batch

__all__ = ["apply_masks", "gather_tokens", "repeat_batch"]

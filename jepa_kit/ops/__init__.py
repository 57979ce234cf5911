"""Pure tensor helpers."""

from jepa_kit.ops.masks import (
    apply_masks,
    gather_tokens,
    isolated_blocks_mask,
    join_blocks,
    repeat_batch,
    split_blocks,
)

__all__ = ["apply_masks", "gather_tokens", "isolated_blocks_mask", "join_blocks", "repeat_batch",
           "split_blocks"]

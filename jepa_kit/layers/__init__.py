"""Building blocks shared by the built-in encoder and predictor (timm's, configured as I-JEPA's)."""

from jepa_kit.layers.pos_embed import sincos_1d, sincos_2d
from jepa_kit.layers.transformer import (
    INIT_STD,
    make_blocks,
    make_patch_embed,
    norm_layer,
    reference_init_,
    run_blocks,
    use_fused_attention,
)

__all__ = [
    "INIT_STD",
    "make_blocks",
    "make_patch_embed",
    "norm_layer",
    "reference_init_",
    "run_blocks",
    "sincos_1d",
    "sincos_2d",
    "use_fused_attention",
]

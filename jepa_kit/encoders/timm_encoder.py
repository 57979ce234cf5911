"""Any timm ViT-family model as a JEPA encoder, chosen by name.

I-JEPA needs two things from an encoder ([0], Sec. 3): one token per patch, and the ability to
run the transformer on a subset of patches whose positions were added *before* the others were
dropped. timm's ``VisionTransformer`` family gives the first; this wrapper gives the second by
splitting timm's own forward: patch embed -> timm's position step (class token, register tokens,
``no_embed_class`` and gap variants all handled by the model itself) -> keep patch tokens ->
[prefix | kept] -> blocks -> norm -> patch tokens only.

Weights: ``pretrained=true`` downloads through timm from the Hugging Face hub; that needs network
access (offline machines must leave it false or pre-populate the hub cache).

- [0]: I-JEPA, Assran et al. 2023, arXiv:2301.08243
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Literal

import timm
import torch
from pydantic import Field
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from jepa_kit.encoders.base import Encoder, EncoderConfig
from jepa_kit.layers import run_blocks
from jepa_kit.ops.masks import gather_tokens, key_padding_mask

_PATCH = re.compile(r"patch(\d+)")


class TimmEncoder(Encoder):
    """A timm ``VisionTransformer`` (or subclass) returning patch tokens only."""

    accepts_padding = True

    class Config(EncoderConfig):
        kind: Literal["timm"] = "timm"
        model_name: str = Field(
            "vit_small_patch16_224",
            description="timm model name (`timm.list_models('vit_*')`); must be a "
            "VisionTransformer-family model (vit_*, deit3_*, *_reg4_*, *_gap_*).",
        )
        patch_size: int | None = Field(
            None, ge=1, le=1024, description="Patch side in pixels; None reads `patch<N>` from "
            "the model name. When set it is passed to timm, overriding the model's patch size."
        )
        drop_path_rate: float = Field(
            0.0, ge=0, lt=1, description="timm stochastic-depth rate (linear ramp over blocks)."
        )
        pretrained: bool = Field(
            False, description="Load timm's pretrained weights from the Hugging Face hub "
            "(needs network access or a populated hub cache)."
        )
        model_kwargs: dict[str, int | float | bool | str] = Field(
            default_factory=dict, description="Extra keyword arguments for timm.create_model "
            "(e.g. depth, embed_dim, reg_tokens)."
        )

        def resolved_patch_size(self) -> int:
            if self.patch_size is not None:
                return self.patch_size
            found = _PATCH.search(self.model_name)
            if found is None:
                raise ValueError(
                    f"encoder.model_name={self.model_name!r} does not say its patch size "
                    f"(no 'patch<N>' in the name); set encoder.patch_size"
                )
            return int(found.group(1))

    def __init__(self, config: Config, *, img_size: int, in_chans: int = 3) -> None:
        super().__init__()
        self.config = config
        _check_known(config.model_name)
        patch = config.resolved_patch_size()
        if img_size % patch:
            raise ValueError(
                f"data.img_size={img_size} is not a multiple of the patch size {patch} "
                f"(encoder.model_name={config.model_name!r})"
            )
        kwargs: dict[str, Any] = dict(config.model_kwargs)
        if config.patch_size is not None:
            kwargs["patch_size"] = config.patch_size
        try:
            model = timm.create_model(
                config.model_name,
                pretrained=config.pretrained,
                num_classes=0,
                img_size=img_size,
                in_chans=in_chans,
                dynamic_img_size=False,
                drop_path_rate=config.drop_path_rate,
                **kwargs,
            )
        except RuntimeError as exc:
            if "Unknown model" in str(exc):
                raise ValueError(f"encoder.model_name={config.model_name!r}: {exc}") from exc
            if config.pretrained:
                raise RuntimeError(
                    f"encoder.model_name={config.model_name!r}: could not fetch pretrained "
                    f"weights (Hugging Face hub unreachable and not cached?): {exc}"
                ) from exc
            raise
        except TypeError as exc:  # e.g. a CNN that takes no img_size / dynamic_img_size
            raise ValueError(
                f"encoder.model_name={config.model_name!r} is not a timm ViT-family model: {exc}"
            ) from exc
        _check_family(model, config.model_name)
        if tuple(model.patch_embed.patch_size) != (patch, patch):
            raise ValueError(
                f"encoder.model_name={config.model_name!r} has patch size "
                f"{tuple(model.patch_embed.patch_size)}, but the recipe uses {patch}"
            )
        self.model = model
        self.embed_dim = int(model.embed_dim)
        self.num_heads = int(model.blocks[0].attn.num_heads)
        self.grid = (int(model.patch_embed.grid_size[0]), int(model.patch_embed.grid_size[1]))
        self.num_prefix_tokens = int(model.num_prefix_tokens)
        # Models pooled by average (`*_gap_*` with fc_norm) end their token stream without a norm
        # and normalise after pooling; JEPA consumes tokens, so that norm is applied per token.
        self.norm = model.fc_norm if isinstance(model.norm, nn.Identity) else model.norm
        self.grad_checkpointing = False

    def block_modules(self) -> list[nn.Module]:
        return list(self.model.blocks)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute block activations in the backward pass (``train.activation_checkpointing``)."""
        self.grad_checkpointing = enable

    def forward(self, images: torch.Tensor, keep: torch.Tensor | None = None,
                keep_valid: torch.Tensor | None = None) -> torch.Tensor:
        m = self.model
        x = m.patch_embed(images)  # (B, N, D)
        # timm's own position step knows where prefix tokens go and whether they get positions.
        x = m._pos_embed(x)  # (B, P + N, D)
        p = self.num_prefix_tokens
        if keep is not None:
            x = torch.cat([x[:, :p], gather_tokens(x[:, p:], keep)], dim=1)  # (B, P + K, D)
        x = m.norm_pre(x)
        mask = None
        if keep_valid is not None:  # prefix tokens are always real
            mask = key_padding_mask(torch.cat([keep_valid.new_ones(p), keep_valid]))
        x = run_blocks(m.blocks, x, checkpointed=self.grad_checkpointing, attn_mask=mask)
        return self.norm(x)[:, p:]  # (B, K or N, D)


def _check_family(model: nn.Module, name: str) -> None:
    """Raise ``ValueError`` unless ``model`` is a timm ViT this wrapper can split open."""
    needed = ("patch_embed", "blocks", "norm", "num_prefix_tokens", "_pos_embed", "norm_pre")
    missing = [a for a in needed if not hasattr(model, a)]
    if not isinstance(model, VisionTransformer) or missing:
        raise ValueError(
            f"encoder.model_name={name!r} builds a {type(model).__name__}, not a timm "
            f"VisionTransformer-family model (needs {', '.join(needed)}); pick e.g. "
            f"'vit_small_patch16_224', 'deit3_small_patch16_224' or 'vit_base_patch16_gap_224'"
        )


def _check_known(name: str) -> None:
    """Raise ``ValueError`` naming the closest timm model when ``name`` is not registered."""
    if ":" in name or timm.is_model(name):  # "hf-hub:..." / "local-dir:..." are resolved by timm
        return
    close = difflib.get_close_matches(name, timm.list_models(), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else "; see timm.list_models('vit_*')"
    raise ValueError(f"encoder.model_name={name!r} is not a timm model{hint}")

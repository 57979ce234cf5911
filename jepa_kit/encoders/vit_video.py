"""V-JEPA's video ViT: tubelet patches on a (T, H, W) grid with a fixed 3-D sin-cos table.

"We use a standard ViT ... The video clip is patchified with tubelets of 2 x 16 x 16"
([0], Sec. 3.3 and App. B). The network is I-JEPA's ViT (``ViTEncoder``) with two parts
injected, as the official ``VisionTransformer`` builds them for ``num_frames > 1``:

* ``TubeletEmbed``: a ``Conv3d`` with kernel = stride = (tubelet, patch, patch), its tokens
  flattened row-major over (t, r, c) (token ``(f * H + r) * W + c``), module path
  ``patch_embed.proj`` as in the official state dicts;
* ``sincos_video``: the official ``get_3d_sincos_pos_embed``: channels ``[time | row | col]``,
  each a 1-D ``[sin | cos]`` table; widths D/2, D/4, D/4, or with ``uniform_power`` (the
  official ViT-L/H configs) ``2 * ceil(D / 6)`` each, the concatenation cut to D. Computed in
  float64 and cast once, as the official NumPy helper.

With ``num_frames = 1`` the encoder is the official image mode: a ``Conv2d`` patchifier and the
2-D table ``[row | col]`` (D/2 each; note I-JEPA's 2-D table is ``[col | row]``).

- [0]: V-JEPA, Bardes et al. 2024, arXiv:2404.08471
"""

from __future__ import annotations

import math
from functools import partial
from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import nn

from jepa_kit.encoders.vit import ViTEncoder
from jepa_kit.layers import INIT_STD, reference_init_, sincos_1d


def table_widths(dim: int, axes: int, uniform_power: bool) -> list[int]:
    """Channels of each axis' 1-D table (before the cut to ``dim``), as the official helper."""
    if axes == 2:
        return [dim // 2, dim // 2]
    if uniform_power:
        return [int(math.ceil(dim / 6) * 2)] * 3
    return [dim // 2, dim // 4, dim // 4]


def sincos_video(dim: int, grid: tuple[int, ...], device: torch.device | str | None = None,
                 *, uniform_power: bool = False) -> torch.Tensor:
    """Float32 table (prod(grid), dim) for a (T, H, W) or (H, W) grid, row-major."""
    widths = table_widths(dim, len(grid), uniform_power)
    if any(w % 2 for w in widths) or sum(widths) < dim:
        raise ValueError(f"a {len(grid)}-D sin-cos table cannot have width {dim} "
                         f"(uniform_power={uniform_power}); use a multiple of 8")
    axes = torch.meshgrid(*(torch.arange(g, dtype=torch.float64, device=device) for g in grid),
                          indexing="ij")
    parts = [sincos_1d(w, a.reshape(-1)) for w, a in zip(widths, axes, strict=True)]
    return torch.cat(parts, dim=1)[:, :dim].float()


class TubeletEmbed(nn.Module):
    """(B, C, T, H, W) -> (B, T/t * H/p * W/p, D) with a Conv3d of kernel = stride = (t, p, p);
    with ``num_frames == 1``, images (B, C, H, W) through a Conv2d."""

    def __init__(self, img_size: int, patch_size: int, in_chans: int, dim: int, *,
                 num_frames: int, tubelet_size: int) -> None:
        super().__init__()
        side = img_size // patch_size
        self.in_chans = in_chans
        self.num_frames = num_frames
        if num_frames == 1:
            self.grid_size: tuple[int, ...] = (side, side)
            self.proj: nn.Module = nn.Conv2d(in_chans, dim, patch_size, stride=patch_size)
        else:
            self.grid_size = (num_frames // tubelet_size, side, side)
            kernel = (tubelet_size, patch_size, patch_size)
            self.proj = nn.Conv3d(in_chans, dim, kernel, stride=kernel)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        # The official ViT inits Conv2d and Conv3d like its Linears (std 0.02, bias 0);
        # reference_init_ knows only Conv2d.
        nn.init.trunc_normal_(self.proj.weight, std=INIT_STD, a=-2.0, b=2.0)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = 4 if self.num_frames == 1 else 5
        if x.dim() != dims or x.shape[1] != self.in_chans:
            want = "(B, C, H, W) images" if dims == 4 else "(B, C, T, H, W) clips"
            raise ValueError(f"encoder.kind='vit_video' (num_frames={self.num_frames}) takes "
                             f"{want} with C={self.in_chans}, got shape {tuple(x.shape)}")
        return self.proj(x).flatten(2).transpose(1, 2)


class VideoViTEncoder(ViTEncoder):
    """V-JEPA's ViT on clips; ``forward(clips, keep)`` -> (B, K or N, D) tubelet tokens."""

    class Config(ViTEncoder.Config):
        kind: Literal["vit_video"] = "vit_video"  # type: ignore[assignment]
        size: Literal["tiny", "small", "base", "large", "huge", "giant"] = Field(
            "large", description="Named size; the paper's models are large and huge "
            "(patch 16)."
        )
        num_frames: int = Field(
            16, ge=1, le=1024, description="Frames per clip the encoder is built for (official "
            "data.num_frames: 16); 1 builds the image mode (Conv2d, 2-D table)."
        )
        tubelet_size: int = Field(
            2, ge=1, le=64, description="Frames per tubelet (official: 2)."
        )
        uniform_power: bool = Field(
            True, description="Give time, rows and columns equal shares of the sin-cos table "
            "(official ViT-L/H configs: true); false: D/2 time, D/4 rows, D/4 columns."
        )

        @model_validator(mode="after")
        def _frames(self) -> VideoViTEncoder.Config:
            if self.num_frames > 1 and self.num_frames % self.tubelet_size:
                raise ValueError(f"encoder.num_frames={self.num_frames} is not a multiple of "
                                 f"encoder.tubelet_size={self.tubelet_size}")
            d = self.dims().embed_dim
            if self.num_frames > 1 and not self.uniform_power and d % 8:
                raise ValueError(f"encoder.embed_dim={d} must be a multiple of 8 for the 3-D "
                                 "sin-cos table with encoder.uniform_power=false")
            return self

        def temporal_patches(self) -> int | None:
            """Tubelets along time (the grid's first axis), None in image mode."""
            return self.num_frames // self.tubelet_size if self.num_frames > 1 else None

    def __init__(self, config: Config, *, img_size: int, in_chans: int = 3) -> None:
        embed = partial(TubeletEmbed, num_frames=config.num_frames,
                        tubelet_size=config.tubelet_size)
        table = partial(sincos_video, uniform_power=config.uniform_power)
        super().__init__(config, img_size=img_size, in_chans=in_chans, embed_layer=embed,
                         pos_table=table)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        reference_init_(self)
        self.patch_embed.reset_parameters()  # type: ignore[operator]
        self.pos_embed.copy_(
            self._pos_table(self.embed_dim, self.grid, device=self.pos_embed.device).unsqueeze(0)
        )

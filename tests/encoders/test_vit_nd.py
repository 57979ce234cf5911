"""The ViT takes its patchifier and position table as arguments: a 3-D grid is configuration."""

from __future__ import annotations

import torch
from torch import nn

from jepa_kit.encoders.vit import ViTEncoder
from jepa_kit.layers import sincos_1d
from jepa_kit.predictors.vit_predictor import ViTPredictor

CONFIG = ViTEncoder.Config(size="tiny", embed_dim=48, depth=1, num_heads=2, patch_size=8)


class Tubelets(nn.Module):
    """(B, C, T, H, W) -> (B, T/2 * H/p * W/p, D): 2-frame tubelets, row-major (t, r, c)."""

    def __init__(self, img_size: int, patch_size: int, in_chans: int, dim: int,
                 frames: int = 4) -> None:
        super().__init__()
        self.grid_size = (frames // 2, img_size // patch_size, img_size // patch_size)
        self.proj = nn.Conv3d(in_chans, dim, (2, patch_size, patch_size),
                              stride=(2, patch_size, patch_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


def sincos_3d(dim: int, grid: tuple[int, ...], device: object = None) -> torch.Tensor:
    axes = torch.meshgrid(*(torch.arange(g, dtype=torch.float64) for g in grid), indexing="ij")
    parts = [sincos_1d(dim // 3, a.reshape(-1)) for a in axes]
    return torch.cat(parts, dim=1).float()


def test_video_encoder_by_injection() -> None:
    torch.manual_seed(0)
    enc = ViTEncoder(CONFIG, img_size=32, embed_layer=Tubelets, pos_table=sincos_3d)
    assert enc.grid == (2, 4, 4) and enc.num_patches == 32
    clips = torch.randn(2, 3, 4, 32, 32)
    full = enc(clips)
    assert full.shape == (2, 32, 48)
    keep = torch.tensor([[0, 5, 31], [1, 2, 3]])
    kept = enc(clips, keep)
    assert kept.shape == (2, 3, 48) and torch.isfinite(kept).all()
    pred = ViTPredictor(ViTPredictor.Config(embed_dim=48, depth=1), grid=enc.grid,
                        embed_dim=48, encoder_heads=2, pos_table=sincos_3d)
    out = pred(kept, keep, torch.tensor([[[6, 7], [8, 9]]]))
    assert out.shape == (2, 2, 48)


def test_other_image_sizes_use_a_resampled_table() -> None:
    torch.manual_seed(0)
    enc = ViTEncoder(CONFIG, img_size=32)
    x = torch.randn(1, 3, 32, 32)
    assert torch.equal(enc.positions(16, x), enc.pos_embed)  # the built size: the table itself
    small = torch.randn(2, 3, 16, 16)
    table = enc.positions(4, small)
    assert table.shape == (1, 4, 48) and not torch.equal(table, enc.pos_embed[:, :4])
    assert enc(small).shape == (2, 4, 48)

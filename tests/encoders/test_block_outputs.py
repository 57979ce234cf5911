"""``jepa_kit.encoders.block_outputs``: the tokens between an encoder's blocks, by value."""

from __future__ import annotations

import warnings
from typing import Literal

import pytest
import torch
from torch import nn

from jepa_kit.encoders import Encoder, EncoderConfig, block_outputs, tap_blocks
from jepa_kit.encoders.timm_encoder import TimmEncoder
from jepa_kit.encoders.vit import ViTEncoder
from jepa_kit.encoders.vit_video import VideoViTEncoder
from jepa_kit.errors import UserError
from jepa_kit.eval import features


def _vit(depth: int = 3) -> ViTEncoder:
    torch.manual_seed(0)
    config = ViTEncoder.Config(size="tiny", embed_dim=32, depth=depth, num_heads=2, patch_size=8)
    return ViTEncoder(config, img_size=32).eval()


def _manual_vit(encoder: ViTEncoder, images: torch.Tensor,
                keep: torch.Tensor | None = None) -> list[torch.Tensor]:
    """Every block's output, written out: patchify, add positions, keep, run block by block."""
    x = encoder.patch_embed(images) + encoder.pos_embed
    if keep is not None:
        x = torch.gather(x, 1, keep[..., None].expand(-1, -1, x.shape[-1]))
    outs = []
    for block in encoder.blocks:
        x = block(x)
        outs.append(x)
    return outs


def test_vit_every_block_and_the_last_one_normed_is_the_encoder_output() -> None:
    encoder, images = _vit(3), torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        outs = block_outputs(encoder, images)
        expected = _manual_vit(encoder, images)
        assert len(outs) == 3 and all(o.shape == (2, 16, 32) for o in outs)
        for got, want in zip(outs, expected, strict=True):
            torch.testing.assert_close(got, want)
        # The outputs are before the final norm; the last one through it is forward's output.
        assert torch.equal(encoder.norm(outs[-1]), encoder(images))
        assert not torch.allclose(outs[-1], encoder(images))


def test_layers_pick_blocks_and_keep_selects_tokens() -> None:
    encoder, images = _vit(4), torch.randn(2, 3, 32, 32)
    keep = torch.tensor([[0, 3, 5, 9], [1, 2, 14, 15]])
    with torch.no_grad():
        every = block_outputs(encoder, images)
        assert [torch.equal(a, b) for a, b in zip(block_outputs(encoder, images, 2),
                                                   every[2:], strict=True)] == [True, True]
        picked = block_outputs(encoder, images, [0, -1])
        assert torch.equal(picked[0], every[0]) and torch.equal(picked[1], every[3])
        kept = block_outputs(encoder, images, [1], keep=keep)
        torch.testing.assert_close(kept[0], _manual_vit(encoder, images, keep)[1])
        assert kept[0].shape == (2, 4, 32)
    assert all(not b._forward_hooks for b in encoder.blocks)


def test_gradients_flow_as_through_forward() -> None:
    encoder = _vit(2).train()
    outs = block_outputs(encoder, torch.randn(1, 3, 32, 32), 1)
    outs[0].sum().backward()
    assert encoder.blocks[1].mlp.fc2.weight.grad is not None


def test_vit_video_clips() -> None:
    torch.manual_seed(0)
    config = VideoViTEncoder.Config(size="tiny", embed_dim=48, depth=2, num_heads=2,
                                    patch_size=8, num_frames=4)
    encoder = VideoViTEncoder(config, img_size=16).eval()
    clips = torch.randn(2, 3, 4, 16, 16)
    with torch.no_grad():
        outs = block_outputs(encoder, clips)
        assert [o.shape for o in outs] == [(2, 8, 48)] * 2  # grid (2, 2, 2)
        assert torch.equal(encoder.norm(outs[-1]), encoder(clips))


@pytest.mark.parametrize(("name", "kwargs", "prefix"), [
    ("vit_tiny_patch16_224", {"depth": 2}, 1),
    ("vit_small_patch14_reg4_dinov2", {"depth": 2}, 5),
])
def test_timm_drops_prefix_tokens(name: str, kwargs: dict[str, int], prefix: int) -> None:
    torch.manual_seed(0)
    img = 56 if "patch14" in name else 64
    encoder = TimmEncoder(TimmEncoder.Config(model_name=name, model_kwargs=kwargs),
                          img_size=img).eval()
    images = torch.randn(2, 3, img, img)
    with torch.no_grad():
        with tap_blocks(encoder, 1) as raw:  # as the block returned them: prefix first
            encoder(images)
        outs = block_outputs(encoder, images, 2)
        assert raw[0].shape[1] == prefix + 16 and outs[-1].shape == (2, 16, encoder.embed_dim)
        assert torch.equal(outs[-1], raw[0][:, prefix:])
        torch.testing.assert_close(encoder.norm(outs[-1]), encoder(images))


class _NoBlocks(Encoder):
    class Config(EncoderConfig):
        kind: Literal["flat_patches"] = "flat_patches"

        def resolved_patch_size(self) -> int:
            return 4

    def __init__(self) -> None:
        super().__init__()
        self.config = self.Config()
        self.proj = nn.Linear(48, 8)
        self.embed_dim, self.num_heads, self.grid = 8, 1, (2, 2)

    def forward(self, images: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        return self.proj(images.unfold(2, 4, 4).unfold(3, 4, 4).flatten(2, 3)
                         .permute(0, 2, 1, 3, 4).flatten(2))


def test_encoder_without_blocks_is_named_by_kind() -> None:
    with pytest.raises(UserError, match=r"encoder.kind='flat_patches' \(_NoBlocks\) has no "
                       r"`blocks`.*overriding Encoder.block_modules\(\)"):
        block_outputs(_NoBlocks(), torch.randn(1, 3, 8, 8))


def test_bad_layers_name_the_block_count() -> None:
    encoder, images = _vit(2), torch.randn(1, 3, 32, 32)
    with pytest.raises(UserError, match=r"layers=3: the encoder.kind='vit' \(ViTEncoder\) has "
                       r"2 blocks"):
        block_outputs(encoder, images, 3)
    with pytest.raises(UserError, match=r"layers=\[0, 2\]: block 2 does not exist"):
        block_outputs(encoder, images, [0, 2])
    with pytest.raises(UserError, match="distinct"):
        block_outputs(encoder, images, [1, -1])


def test_the_eval_alias_still_works_and_says_where_to_go() -> None:
    encoder, images = _vit(3), torch.randn(1, 3, 32, 32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with torch.no_grad(), features.tap_blocks(encoder, 2) as outs:
            encoder(images)
    assert any(issubclass(w.category, DeprecationWarning)
               and "jepa_kit.encoders.block_outputs" in str(w.message) for w in caught)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(outs, block_outputs(encoder, images, 2),
                                                     strict=True))

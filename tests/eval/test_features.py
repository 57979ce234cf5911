"""Probe features: the last-K-blocks concatenation on any encoder with blocks, and shards."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from jepa_kit.encoders.timm_encoder import TimmEncoder
from jepa_kit.encoders.vit import ViTEncoder
from jepa_kit.errors import UserError
from jepa_kit.eval import features as F
from jepa_kit.eval.features import encode, gather_shares, last_blocks


def _vit(depth: int) -> ViTEncoder:
    torch.manual_seed(0)
    config = ViTEncoder.Config(size="tiny", embed_dim=32, depth=depth, num_heads=2, patch_size=8)
    return ViTEncoder(config, img_size=32).eval()


def test_last4_concatenates_the_normed_average_pools_of_the_last_4_blocks() -> None:
    encoder = _vit(5)
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        feats = encode(encoder, images, "last4")
        assert feats.shape == (3, 4 * 32)
        # The last block's part is the usual average-pooled feature.
        torch.testing.assert_close(feats[:, -32:], encode(encoder, images, "avg"))
        # Block 2 of 5 (the first of the last 4), through the final norm, average-pooled.
        x = encoder.patch_embed(images) + encoder.pos_embed
        for block in encoder.blocks[:2]:
            x = block(x)
        torch.testing.assert_close(feats[:, :32], encoder.norm(x).mean(1))
        assert encode(encoder, images, "tokens").shape == (3, 16, 32)
    # The hooks are gone afterwards.
    assert all(not b._forward_hooks for b in encoder.blocks)


def test_timm_encoders_drop_their_prefix_tokens() -> None:
    torch.manual_seed(0)
    config = TimmEncoder.Config(model_name="vit_tiny_patch16_224", patch_size=8,
                                model_kwargs={"depth": 3, "embed_dim": 32, "num_heads": 2,
                                              "reg_tokens": 2})
    encoder = TimmEncoder(config, img_size=32).eval()
    assert encoder.num_prefix_tokens == 3  # class token and two registers
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        feats = encode(encoder, images, "last2")
        torch.testing.assert_close(feats[:, 32:], encode(encoder, images, "avg"))
        m = encoder.model
        x = m.norm_pre(m._pos_embed(m.patch_embed(images)))
        for block in m.blocks[:2]:
            x = block(x)
        torch.testing.assert_close(feats[:, :32], encoder.norm(x)[:, 3:].mean(1))


def test_bad_feature_requests_are_user_errors() -> None:
    assert (last_blocks("avg"), last_blocks("tokens"), last_blocks("last4")) == (0, 0, 4)
    for bad in ("last0", "cls", "last"):
        with pytest.raises(UserError, match="expected avg, tokens or lastK"):
            last_blocks(bad)
    with pytest.raises(UserError, match="the encoder has only 2 blocks"):
        encode(_vit(2), torch.randn(1, 3, 32, 32), "last4")

    class NoBlocks(nn.Module):
        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return images.flatten(2).transpose(1, 2)

    with pytest.raises(UserError, match="NoBlocks has no `blocks`"):
        encode(NoBlocks(), torch.randn(1, 3, 4, 4), "last4")


def test_gathered_shares_come_back_in_dataset_order(monkeypatch: pytest.MonkeyPatch) -> None:
    # Rank r of 3 encoded images r, r + 3, ... (build_eval_loader); 7 images in all.
    shares = [(torch.tensor([[float(i)] for i in range(r, 7, 3)]),
               torch.tensor(list(range(r, 7, 3)))) for r in range(3)]

    def all_gather_object(out: list, _obj: object) -> None:
        out[:] = shares

    monkeypatch.setattr(torch.distributed, "all_gather_object", all_gather_object)
    feats, labels = gather_shares(*shares[1], world_size=3)
    assert labels.tolist() == list(range(7)) and feats.flatten().tolist() == list(range(7))
    assert F.gather_shares(*shares[0], world_size=1)[1].tolist() == [0, 3, 6]

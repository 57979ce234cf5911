"""The I-JEPA ViT encoder: size table, config checks, sin-cos table, init, keep semantics."""

from __future__ import annotations

import pytest
import timm.layers
import torch
import torch.nn.functional as F
from pydantic import ValidationError

from jepa_kit.encoders.vit import VIT_SIZES, ViTEncoder
from jepa_kit.layers import sincos_2d
from jepa_kit.ops.masks import gather_tokens
from jepa_kit.registry import registry
from tests.conftest import FIXTURES

REFERENCE_SIZES = {  # width, depth, heads, MLP hidden: the reference's vit_* functions
    "tiny": (192, 12, 3, 768),
    "small": (384, 12, 6, 1536),
    "base": (768, 12, 12, 3072),
    "large": (1024, 24, 16, 4096),
    "huge": (1280, 32, 16, 5120),
    "giant": (1408, 40, 16, 6144),
}


def _tiny(**overrides: object) -> ViTEncoder:
    cfg = ViTEncoder.Config(**{"embed_dim": 64, "depth": 2, "num_heads": 4, "patch_size": 4,
                               **overrides})
    return ViTEncoder(cfg, img_size=32).eval()


def _param_count(width: int, depth: int, hidden: int, patch: int, chans: int = 3) -> int:
    per_block = 4 * width * width + 2 * width * hidden + 9 * width + hidden
    return width * chans * patch * patch + width + depth * per_block + 2 * width


@pytest.mark.parametrize("size", list(REFERENCE_SIZES))
def test_named_sizes_match_the_reference(size: str) -> None:
    width, depth, heads, hidden = REFERENCE_SIZES[size]
    with torch.device("meta"):  # shapes only: giant would take seconds and GBs on the CPU
        enc = ViTEncoder(ViTEncoder.Config(size=size, patch_size=14), img_size=224)
    assert (enc.embed_dim, enc.num_heads, len(enc.blocks)) == (width, heads, depth)
    assert enc.grid == (16, 16)
    assert enc.blocks[0].mlp.fc1.out_features == hidden
    assert enc.blocks[0].attn.num_heads == heads
    assert enc.pos_embed.shape == (1, 256, width)
    assert sum(p.numel() for p in enc.parameters()) == _param_count(width, depth, hidden, 14)


def test_config_resolves_dims_from_size_then_overrides() -> None:
    cfg = ViTEncoder.Config(size="small", depth=3)
    assert cfg.dims() == (384, 3, 6, 4.0)
    assert ViTEncoder.Config().dims() == VIT_SIZES["base"]
    assert cfg.resolved_patch_size() == 16
    assert ViTEncoder.Config(patch_size=14).resolved_patch_size() == 14


def test_config_rejects_bad_combinations() -> None:
    with pytest.raises(ValidationError, match="encoder.num_heads=5"):
        ViTEncoder.Config(embed_dim=96, num_heads=5)
    with pytest.raises(ValidationError, match="multiple of 4"):
        ViTEncoder.Config(embed_dim=90, num_heads=3)
    with pytest.raises(ValidationError):
        ViTEncoder.Config(patch_sz=16)  # extra keys are errors
    with pytest.raises(ValueError, match="data.img_size=30"):
        ViTEncoder(ViTEncoder.Config(embed_dim=64, depth=1, num_heads=4, patch_size=4), img_size=30)


def test_registered_under_its_kind() -> None:
    assert registry("encoder").load("vit") is ViTEncoder


def test_pos_embed_is_the_reference_table_bit_for_bit() -> None:
    expected = torch.load(FIXTURES / "tiny_expected.pt", weights_only=True)
    enc = ViTEncoder(ViTEncoder.Config(embed_dim=96, depth=1, num_heads=3, patch_size=4),
                     img_size=32)
    assert torch.equal(enc.pos_embed, expected["pos_embed"])
    assert torch.equal(sincos_2d(48, (8, 8)), expected["predictor_pos_embed"][0])


def test_pos_embed_layout_first_half_is_the_column() -> None:
    table = sincos_2d(8, (2, 3))  # row-major: t = r * 3 + c
    # channel 0 is sin(column * w_0) with w_0 = 1; channel 4 is sin(row * w_0)
    cols = torch.tensor([0, 1, 2, 0, 1, 2], dtype=torch.float64)
    rows = torch.tensor([0, 0, 0, 1, 1, 1], dtype=torch.float64)
    assert torch.equal(table[:, 0], torch.sin(cols).float())
    assert torch.equal(table[:, 4], torch.sin(rows).float())
    assert torch.equal(table[:, 2], torch.cos(cols).float())


def test_pos_embed_is_a_fixed_persistent_buffer() -> None:
    enc = _tiny()
    assert "pos_embed" in enc.state_dict()
    assert "pos_embed" not in dict(enc.named_parameters())
    keys = {k.split(".")[0] for k in enc.state_dict()}
    assert keys == {"pos_embed", "patch_embed", "blocks", "norm"}


def test_reference_init_statistics() -> None:
    torch.manual_seed(0)
    enc = ViTEncoder(ViTEncoder.Config(size="small", depth=6), img_size=64)
    for name, p in enc.named_parameters():
        if name.endswith("bias"):
            assert torch.all(p == 0), name
        elif "norm" in name:
            assert torch.all(p == 1), name
        else:  # Linear and patch conv weights
            assert abs(p.std().item() - 0.02) < 0.002, name
            assert abs(p.mean().item()) < 0.002, name
    # no depth-dependent rescale: the last block's output projections look like the first's
    for leaf in ("attn.proj", "mlp.fc2"):
        first = enc.get_submodule(f"blocks.0.{leaf}").weight.std()
        last = enc.get_submodule(f"blocks.5.{leaf}").weight.std()
        assert abs(last / first - 1) < 0.05, leaf


def test_attention_goes_through_sdpa(monkeypatch: pytest.MonkeyPatch) -> None:
    timm.layers.set_fused_attn(False)  # even when timm is told otherwise
    try:
        enc = _tiny(depth=3)
    finally:
        timm.layers.set_fused_attn(True)
    assert all(block.attn.fused_attn for block in enc.blocks)
    calls = []
    real = F.scaled_dot_product_attention

    def counting(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", counting)
    enc(torch.randn(1, 3, 32, 32))
    assert len(calls) == 3


def test_forward_shapes_and_keep_all_equals_full() -> None:
    enc = _tiny()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        full = enc(images)
        kept = enc(images, torch.arange(64).expand(2, -1))
    assert full.shape == (2, 64, 64)
    torch.testing.assert_close(kept, full, atol=1e-6, rtol=0)


def test_keep_runs_the_blocks_on_gathered_pos_added_tokens() -> None:
    # encoder(x, keep) is NOT a gather of encoder(x): attention only sees the kept tokens.
    enc = _tiny()
    images = torch.randn(2, 3, 32, 32)
    keep = torch.tensor([[0, 5, 9, 63, 30], [1, 2, 3, 4, 40]])
    with torch.no_grad():
        out = enc(images, keep)
        x = gather_tokens(enc.patch_embed(images) + enc.pos_embed, keep)
        for block in enc.blocks:
            x = block(x)
        expected = enc.norm(x)
        gathered_full = gather_tokens(enc(images), keep)
    assert out.shape == (2, 5, 64)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
    assert not torch.allclose(out, gathered_full, atol=1e-3)


def test_gradients_reach_weights_but_not_the_table() -> None:
    enc = _tiny().train()
    enc(torch.randn(2, 3, 32, 32), torch.tensor([[0, 1, 2], [3, 4, 5]])).sum().backward()
    assert all(p.grad is not None for p in enc.parameters())
    assert not enc.pos_embed.requires_grad


def test_meta_build_then_reset_parameters() -> None:
    with torch.device("meta"):
        enc = _tiny()
    enc = enc.to_empty(device="cpu")
    enc.reset_parameters()
    assert torch.equal(enc.pos_embed[0], sincos_2d(64, (8, 8)))
    assert torch.isfinite(enc(torch.randn(1, 3, 32, 32))).all()


def test_drop_path_ramps_linearly() -> None:
    enc = _tiny(depth=3, drop_path_rate=0.2)
    rates = [getattr(b.drop_path1, "drop_prob", 0.0) for b in enc.blocks]
    assert rates == pytest.approx([0.0, 0.1, 0.2])

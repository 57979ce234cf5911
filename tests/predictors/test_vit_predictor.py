"""The I-JEPA predictor: reference module names, row layout, head defaults, init."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from jepa_kit.layers import sincos_2d
from jepa_kit.predictors.vit_predictor import ViTPredictor
from jepa_kit.registry import registry
from tests.conftest import FIXTURES

GRID = (8, 8)


def _predictor(**cfg: object) -> ViTPredictor:
    torch.manual_seed(0)
    config = ViTPredictor.Config(**{"embed_dim": 48, "depth": 2, **cfg})
    return ViTPredictor(config, grid=GRID, embed_dim=96, encoder_heads=3).eval()


def _indices(m: int, b: int, k: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.stack([torch.randperm(64, generator=g)[:k].sort().values
                                     for _ in range(b)]) for _ in range(m)])


def test_registered_under_its_kind() -> None:
    assert registry("predictor").load("vit_predictor") is ViTPredictor


def test_state_dict_keys_and_shapes_equal_the_reference() -> None:
    ckpt = torch.load(FIXTURES / "tiny_checkpoint.pth.tar", weights_only=True)
    reference = {k.removeprefix("module."): tuple(v.shape) for k, v in ckpt["predictor"].items()}
    ours = {k: tuple(v.shape) for k, v in _predictor().state_dict().items()}
    assert ours == reference


def test_table_is_the_reference_table() -> None:
    expected = torch.load(FIXTURES / "tiny_expected.pt", weights_only=True)
    assert torch.equal(_predictor().predictor_pos_embed, expected["predictor_pos_embed"])
    assert "predictor_pos_embed" not in dict(_predictor().named_parameters())


def test_output_shape_and_block_major_rows() -> None:
    pred = _predictor()
    b, m, kc, kt = 3, 4, 10, 6
    context = torch.randn(b, kc, 96)
    context_idx = _indices(1, b, kc, seed=1)[0]
    target_idx = _indices(m, b, kt, seed=2)
    with torch.no_grad():
        out = pred(context, context_idx, target_idx)
        assert out.shape == (m * b, kt, 96)
        # Row j*B+b is block j of sample b, computed from sample b's context alone.
        for j in range(m):
            for s in range(b):
                alone = pred(context[s:s + 1], context_idx[s:s + 1], target_idx[j:j + 1, s:s + 1])
                torch.testing.assert_close(out[j * b + s], alone[0], atol=1e-5, rtol=0)


def test_heads_default_to_the_encoders() -> None:
    assert _predictor().num_heads == 3
    assert _predictor().predictor_blocks[0].attn.num_heads == 3
    assert _predictor(num_heads=6).predictor_blocks[0].attn.num_heads == 6
    with pytest.raises(ValueError, match="predictor.num_heads"):
        _predictor(num_heads=5)
    with pytest.raises(ValueError, match="encoder heads=5"):
        ViTPredictor(ViTPredictor.Config(embed_dim=48, depth=1), grid=GRID, embed_dim=96,
                     encoder_heads=5)


def test_config_bounds() -> None:
    with pytest.raises(ValidationError):
        ViTPredictor.Config(depth=0)
    with pytest.raises(ValidationError):
        ViTPredictor.Config(kind="vit")
    assert ViTPredictor.Config().embed_dim == 384 and ViTPredictor.Config().depth == 6


def test_init_and_gradients() -> None:
    pred = ViTPredictor(ViTPredictor.Config(embed_dim=384, depth=2), grid=GRID, embed_dim=192,
                        encoder_heads=6).train()
    assert abs(pred.mask_token.std().item() - 0.02) < 0.004
    assert abs(pred.predictor_embed.weight.std().item() - 0.02) < 0.002
    assert torch.all(pred.predictor_proj.bias == 0)
    out = pred(torch.randn(2, 5, 192), _indices(1, 2, 5)[0], _indices(2, 2, 4))
    out.sum().backward()
    assert all(p.grad is not None for p in pred.parameters())
    assert pred.mask_token.grad is not None and pred.mask_token.grad.abs().sum() > 0
    assert torch.equal(pred.predictor_pos_embed[0], sincos_2d(384, GRID))

"""The attentive probe: the cross-attention pooler's values and masks, and its training."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from jepa_kit.eval.attentive import (
    AttentiveClassifier,
    AttentivePooler,
    CrossAttention,
    attentive_probe,
)
from jepa_kit.eval.probe import ProbeOptim, schedule


def _averaging(dim: int, heads: int) -> CrossAttention:
    """Zero query projection (every token scores the same), values and output untouched."""
    attn = CrossAttention(dim, heads)
    with torch.no_grad():
        attn.q.weight.zero_()
        attn.q.bias.zero_()
        attn.kv.weight.copy_(torch.cat([torch.eye(dim), torch.eye(dim)]))
        attn.kv.bias.zero_()
        attn.proj.weight.copy_(torch.eye(dim))
        attn.proj.bias.zero_()
    return attn


def test_uniform_attention_of_one_query_is_the_average_pool() -> None:
    tokens = torch.randn(3, 10, 8)
    attn = _averaging(8, 2)
    out = attn(torch.randn(3, 1, 8), tokens)
    torch.testing.assert_close(out, tokens.mean(dim=1, keepdim=True))


def test_masked_tokens_are_ignored() -> None:
    tokens = torch.randn(2, 6, 8)
    valid = torch.tensor([[1, 1, 0, 1, 0, 0], [0, 1, 1, 1, 1, 1]], dtype=torch.bool)
    attn = _averaging(8, 4)
    out = attn(torch.randn(2, 1, 8), tokens, valid)
    expected = torch.stack([tokens[b, valid[b]].mean(0) for b in range(2)]).unsqueeze(1)
    torch.testing.assert_close(out, expected)

    pooler = AttentivePooler(8, 2).eval()
    changed = tokens.clone()
    changed[~valid] = 100.0  # whatever the left-out tokens hold
    torch.testing.assert_close(pooler(changed, valid), pooler(tokens, valid))
    assert not torch.allclose(pooler(changed), pooler(tokens))
    with pytest.raises(ValueError, match="at least one valid token"):
        pooler(tokens, torch.zeros(2, 6, dtype=torch.bool))
    with pytest.raises(ValueError, match="covers 5 tokens"):
        pooler(tokens, valid[:, :5])


def test_any_patch_grid_is_read_row_major() -> None:
    torch.manual_seed(0)
    head = AttentiveClassifier(16, 4, num_classes=3, num_queries=2, depth=2).eval()
    video = torch.randn(2, 2, 3, 4, 16)  # (B, T, H, W, D)
    logits = head(video)
    assert logits.shape == (2, 3) and head.linear.in_features == 32
    torch.testing.assert_close(logits, head(video.reshape(2, 24, 16)))
    assert head.pooler(video).shape == (2, 2, 16)


def test_initialisation_follows_the_reference() -> None:
    torch.manual_seed(0)
    pooler = AttentivePooler(256, 4, init_std=0.02)
    assert pooler.queries.shape == (1, 1, 256)
    assert pooler.queries.std().item() == pytest.approx(0.02, rel=0.2)
    assert pooler.xattn.q.weight.std().item() == pytest.approx(0.02, rel=0.05)
    # Output projections of the first block are divided by sqrt(2).
    for linear in (pooler.xattn.proj, pooler.mlp.fc2):
        assert linear.weight.std().item() == pytest.approx(0.02 / math.sqrt(2), rel=0.05)
    assert torch.count_nonzero(pooler.xattn.kv.bias) == 0
    with pytest.raises(ValueError, match="not divisible by 5 heads"):
        CrossAttention(16, 5)


def test_the_paper_schedule_decays_lr_and_weight_decay_by_cosine() -> None:
    opt = ProbeOptim()  # V-JEPA: lr 1e-3 from the start, to 0; wd 1e-3 to 1e-6
    assert schedule(opt, 0, 100, 0)[0] == pytest.approx(1e-3, rel=1e-3)
    lr, wd = schedule(opt, 49, 100, 0)
    assert lr == pytest.approx(5e-4) and wd == pytest.approx((1e-3 + 1e-6) / 2)
    assert schedule(opt, 99, 100, 0) == pytest.approx((0.0, 1e-6))
    warm = ProbeOptim(start_lr=0.0, warmup_epochs=1)
    assert schedule(warm, 4, 100, 10)[0] == pytest.approx(5e-4)


def _task(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy tokens that all lean towards their image's class direction."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 8, 12, generator=g)
    x[:, :, :3] += 2 * nn.functional.one_hot(y, 3)[:, None]
    return x, y


def test_the_probe_learns_and_is_reproducible() -> None:
    (x, y), (vx, vy) = _task(240, 0), _task(120, 1)
    optim = ProbeOptim(lr=1e-2, epochs=10, batch_size=32)
    result = attentive_probe(x, y, vx, vy, num_heads=2, optim=optim, seed=3)
    assert result["top1"] > 0.9
    assert result["lr"] == 1e-2 and result["weight_decay"] == 1e-3 and "grid" not in result
    assert result["optim"]["epochs"] == 10 and result["optim"]["grad_clip"] == 1.0
    assert (result["num_heads"], result["num_queries"], result["depth"]) == (2, 1, 1)
    assert result["tokens"] == [8] and result["num_train"] == 240
    again = attentive_probe(x, y, vx, vy, num_heads=2, optim=optim, seed=3)
    assert again["top1"] == result["top1"] and again["val_loss"] == result["val_loss"]

    subset = torch.arange(0, 240, 4)
    grid = attentive_probe(x, y, vx, vy, num_heads=2, optim=ProbeOptim(epochs=2, batch_size=32),
                           lrs=(1e-3, 1e-2), train_indices=subset)
    assert grid["num_train"] == 60 and [g["lr"] for g in grid["grid"]] == [1e-3, 1e-2]
    assert grid["lr"] in (1e-3, 1e-2) and 0.0 <= grid["holdout_top1"] <= 1.0

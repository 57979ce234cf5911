"""Index helpers: values and row layout, against loops written the obvious way and the fixture."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from jepa_kit.ops.masks import apply_masks, gather_tokens, repeat_batch
from tests.conftest import FIXTURES


def _tokens(b: int = 3, n: int = 10, d: int = 4) -> torch.Tensor:
    return torch.arange(b * n * d, dtype=torch.float32).reshape(b, n, d)


def test_gather_tokens_picks_each_samples_own_indices() -> None:
    x = _tokens()
    idx = torch.tensor([[0, 9, 4], [1, 1, 2], [7, 3, 5]])
    out = gather_tokens(x, idx)
    assert out.shape == (3, 3, 4)
    for b in range(3):
        for k in range(3):
            assert torch.equal(out[b, k], x[b, idx[b, k]])


def test_gather_tokens_passes_gradients_to_the_gathered_rows_only() -> None:
    x = _tokens().requires_grad_()
    gather_tokens(x, torch.tensor([[2], [0], [9]])).sum().backward()
    assert x.grad is not None
    picked = torch.zeros(3, 10)
    picked[0, 2] = picked[1, 0] = picked[2, 9] = 1
    assert torch.equal(x.grad[..., 0], picked)


def test_apply_masks_is_mask_major() -> None:
    x = _tokens()
    g = torch.Generator().manual_seed(0)
    masks = torch.stack([torch.stack([torch.randperm(10, generator=g)[:5] for _ in range(3)])
                         for _ in range(4)])  # (M=4, B=3, K=5)
    out = apply_masks(x, masks)
    assert out.shape == (12, 5, 4)
    for i in range(4):
        for b in range(3):
            assert torch.equal(out[i * 3 + b], x[b, masks[i, b]])
    # the reference's definition: concatenate the per-mask gathers along the batch
    expected = torch.cat([gather_tokens(x, m) for m in masks])
    assert torch.equal(out, expected)


def test_apply_masks_reproduces_the_reference_targets() -> None:
    e = torch.load(FIXTURES / "tiny_expected.pt", weights_only=True)
    normed = F.layer_norm(e["target_encoder_full"], (96,))  # no affine, eps 1e-5
    out = apply_masks(normed, torch.stack(e["masks_pred"]))
    assert torch.equal(out, e["targets"])


def test_repeat_batch_tiles_whole_batches() -> None:
    x = _tokens(b=2, n=3, d=1)
    out = repeat_batch(x, 3)
    assert out.shape == (6, 3, 1)
    for j in range(3):
        for b in range(2):
            assert torch.equal(out[j * 2 + b], x[b])
    assert torch.equal(repeat_batch(torch.tensor([1, 2]), 2), torch.tensor([1, 2, 1, 2]))


def test_repeat_batch_lines_up_with_apply_masks() -> None:
    # The predictor tiles the context with repeat_batch while targets come from apply_masks: row
    # j*B+b of both must belong to sample b.
    x = _tokens()
    masks = torch.tensor([[[0], [1], [2]], [[3], [4], [5]]])  # (M=2, B=3, 1)
    tiled = repeat_batch(x, 2)
    gathered = apply_masks(x, masks)
    for row in range(6):
        b = row % 3
        assert torch.equal(gathered[row, 0], tiled[row, masks[row // 3, b, 0]])

"""predictor.targets: per_block (the paper's), joint and isolated, tested by what each sees."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from jepa_kit.ops.masks import isolated_blocks_mask, join_blocks, split_blocks
from jepa_kit.predictors.vit_predictor import ViTPredictor
from tests.conftest import FIXTURES

GRID = (8, 8)
B, M, KC, KT, D = 2, 3, 10, 5, 96


def _predictor(targets: str, **cfg: object) -> ViTPredictor:
    torch.manual_seed(0)
    config = ViTPredictor.Config(embed_dim=48, depth=2, targets=targets, **cfg)
    return ViTPredictor(config, grid=GRID, embed_dim=D, encoder_heads=3).eval()


@torch.no_grad()
def _sharp(targets: str) -> ViTPredictor:
    """The same weights with 10x the q/k/v weights: attention far from uniform, so what a token
    can see shows in the outputs well above float noise."""
    pred = _predictor(targets)
    for block in pred.predictor_blocks:
        block.attn.qkv.weight.mul_(10)
    return pred


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Context (B, Kc, D) at Kc positions and M target blocks of Kt positions, all disjoint."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.stack([torch.randperm(64, generator=g) for _ in range(B)])  # (B, 64)
    context_idx = perm[:, :KC].sort(dim=1).values
    target_idx = perm[:, KC:KC + M * KT].view(B, M, KT).transpose(0, 1).sort(dim=2).values
    return torch.randn(B, KC, D, generator=g), context_idx, target_idx.contiguous()


def _moved(target_idx: torch.Tensor, block: int) -> torch.Tensor:
    """``target_idx`` with one block moved to positions no other block or the context uses."""
    moved = target_idx.clone()
    moved[block] = torch.arange(64 - KT, 64).expand(B, KT)
    return moved


def test_default_is_per_block_and_bad_values_are_refused() -> None:
    assert ViTPredictor.Config().targets == "per_block"
    with pytest.raises(ValidationError, match="per_block"):
        ViTPredictor.Config(targets="blockwise")


@pytest.mark.parametrize("targets", ["per_block", "joint", "isolated"])
def test_every_mode_has_the_same_output_contract(targets: str) -> None:
    context, cidx, tidx = _inputs()
    pred = _predictor(targets)
    out = pred(context, cidx, tidx)
    assert out.shape == (M * B, KT, D) and out.dtype == torch.float32
    out.sum().backward()
    assert all(p.grad is not None for p in pred.parameters())


def test_modes_share_weights_and_load_the_reference_state_dict() -> None:
    ckpt = torch.load(FIXTURES / "tiny_checkpoint.pth.tar", weights_only=True)
    reference = {k.removeprefix("module."): tuple(v.shape) for k, v in ckpt["predictor"].items()}
    for targets in ("joint", "isolated"):
        assert {k: tuple(v.shape) for k, v in _predictor(targets).state_dict().items()} == reference


@pytest.mark.parametrize("targets", ["per_block", "isolated"])
def test_moving_one_block_leaves_the_others_unchanged(targets: str) -> None:
    context, cidx, tidx = _inputs()
    pred = _predictor(targets)
    with torch.no_grad():
        before = pred(context, cidx, tidx).view(M, B, KT, D)
        after = pred(context, cidx, _moved(tidx, 1)).view(M, B, KT, D)
    for j in (0, 2):
        torch.testing.assert_close(after[j], before[j], atol=1e-5, rtol=0)
    assert (after[1] - before[1]).abs().max() > 1e-2  # the moved block itself did change


def test_joint_blocks_see_each_other() -> None:
    context, cidx, tidx = _inputs()
    pred = _sharp("joint")
    with torch.no_grad():
        before = pred(context, cidx, tidx).view(M, B, KT, D)
        after = pred(context, cidx, _moved(tidx, 1)).view(M, B, KT, D)
    for j in (0, 2):
        assert (after[j] - before[j]).abs().max() > 1e-3


def test_isolated_block_equals_a_pass_of_context_and_that_block_alone() -> None:
    """Each block of ``isolated`` is the model run on [context | block j] with the context
    attending only to itself: the context-only pass, then block j over its outputs."""
    context, cidx, tidx = _inputs()
    pred = _predictor("isolated")
    with torch.no_grad():
        out = pred(context, cidx, tidx).view(M, B, KT, D)
        for j in range(M):
            alone = pred(context, cidx, tidx[j:j + 1])  # one block: isolated of M=1
            torch.testing.assert_close(out[j], alone, atol=1e-5, rtol=0)


def test_isolated_context_outputs_equal_a_context_only_pass() -> None:
    context, cidx, tidx = _inputs()
    pred = _predictor("isolated")
    seen: list[torch.Tensor] = []
    hook = pred.predictor_blocks[-1].register_forward_hook(lambda _m, _i, o: seen.append(o))
    with torch.no_grad():
        pred(context, cidx, tidx)
        x = pred.predictor_embed(context) + torch.gather(
            pred.predictor_pos_embed.expand(B, -1, -1), 1, cidx.unsqueeze(-1).expand(-1, -1, 48))
        for block in pred.predictor_blocks:
            x = block(x)  # no mask tokens at all
    hook.remove()
    torch.testing.assert_close(seen[0][:, :KC], x, atol=1e-5, rtol=0)


def test_joint_equals_per_block_with_one_block_isolated_does_not() -> None:
    """With M = 1 joint and per_block are one computation; isolated still hides the block from
    the context tokens, so it differs even then."""
    context, cidx, tidx = _inputs()
    with torch.no_grad():
        outs = {t: _sharp(t)(context, cidx, tidx[:1]) for t in ("per_block", "joint", "isolated")}
    assert torch.equal(outs["joint"], outs["per_block"])
    assert (outs["isolated"] - outs["per_block"]).abs().max() > 1e-3


def test_single_pass_modes_differ_from_per_block_with_several_blocks() -> None:
    context, cidx, tidx = _inputs()
    with torch.no_grad():
        ref = _sharp("per_block")(context, cidx, tidx)
        for targets in ("joint", "isolated"):
            assert (_sharp(targets)(context, cidx, tidx) - ref).abs().max() > 1e-3


def test_join_and_split_blocks_are_inverse_and_block_major() -> None:
    x = torch.arange(M * B * KT * 2, dtype=torch.float32).view(M * B, KT, 2)
    joined = join_blocks(x, M)
    assert joined.shape == (B, M * KT, 2)
    for j in range(M):
        for b in range(B):
            assert torch.equal(joined[b, j * KT:(j + 1) * KT], x[j * B + b])
    assert torch.equal(split_blocks(joined, M), x)


def test_isolated_blocks_mask_layout() -> None:
    mask = isolated_blocks_mask(2, 2, 1)  # [c, c, block 0, block 1]
    expected = torch.tensor([[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 0, 1]],
                            dtype=torch.bool)
    assert torch.equal(mask, expected)

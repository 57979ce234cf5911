"""method.length_bucket: padded context / target lengths give the unpadded results."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from jepa_kit.build import build_loss, build_method
from jepa_kit.encoders.timm_encoder import TimmEncoder
from jepa_kit.encoders.vit import ViTEncoder
from jepa_kit.errors import UserError
from jepa_kit.losses.feature import L2Loss
from jepa_kit.maskers.base import Masks
from jepa_kit.methods.ijepa import IJEPA, ijepa_forward
from jepa_kit.ops.masks import bucket_length, key_padding_mask, pad_indices
from jepa_kit.predictors.vit_predictor import ViTPredictor
from jepa_kit.recipe import RecipeError, load_recipe
from jepa_kit.rundir.metrics import read_metrics
from jepa_kit.train.trainer import Trainer
from tests.train.helpers import QUICKSTART, TINY

GRID = (8, 8)
B, M, KC, KT = 3, 4, 21, 7


def _masks(seed: int = 0) -> Masks:
    g = torch.Generator().manual_seed(seed)
    perm = torch.stack([torch.randperm(64, generator=g) for _ in range(B)])
    context = perm[:, :KC].sort(dim=1).values
    targets = torch.stack([torch.randperm(64, generator=g)[:KT].sort().values
                           for _ in range(M * B)]).view(M, B, KT)
    return Masks(context.contiguous(), targets.contiguous())


def _networks(targets: str = "per_block") -> tuple[ViTEncoder, ViTPredictor, ViTEncoder]:
    torch.manual_seed(0)
    enc = ViTEncoder(ViTEncoder.Config(embed_dim=48, depth=2, num_heads=3, patch_size=4),
                     img_size=32)
    pred = ViTPredictor(ViTPredictor.Config(embed_dim=32, depth=2, num_heads=4, targets=targets),
                        grid=enc.grid, embed_dim=48, encoder_heads=3)
    target = ViTEncoder(enc.config, img_size=32)
    target.load_state_dict(enc.state_dict())
    return enc, pred, target


def test_bucket_length_rounds_up_and_caps_at_the_grid() -> None:
    assert [bucket_length(k, 16, 64) for k in (1, 16, 17, 33, 60, 64)] == [16, 16, 32, 48, 64, 64]
    assert bucket_length(30, 8, 30) == 30  # the cap is the grid, never below the real length
    assert bucket_length(5, 1, 64) == 5


def test_pad_indices_repeats_the_last_index_and_marks_the_padding() -> None:
    idx = torch.tensor([[[3, 5, 9]], [[1, 2, 4]]])  # (M=2, B=1, K=3)
    padded, valid = pad_indices(idx, 5)
    assert padded.tolist() == [[[3, 5, 9, 9, 9]], [[1, 2, 4, 4, 4]]]
    assert valid.tolist() == [True, True, True, False, False]
    same, valid = pad_indices(idx, 3)
    assert same is idx and valid.all()
    assert key_padding_mask(valid).shape == (1, 3)


@torch.no_grad()
@pytest.mark.parametrize("encoder_kind", ["vit", "timm"])
def test_padded_context_encodes_like_the_unpadded_one(encoder_kind: str) -> None:
    torch.manual_seed(0)
    if encoder_kind == "vit":
        enc = _networks()[0].eval()
    else:
        enc = TimmEncoder(TimmEncoder.Config(model_name="vit_tiny_patch16_224", patch_size=4,
                                             pretrained=False, model_kwargs={"depth": 2}),
                          img_size=32).eval()
    images, keep = torch.randn(B, 3, 32, 32), _masks().context
    plain = enc(images, keep)
    padded_idx, valid = pad_indices(keep, 32)
    padded = enc(images, padded_idx, keep_valid=valid)
    assert padded.shape == (B, 32, enc.embed_dim)
    torch.testing.assert_close(padded[:, :KC], plain, atol=1e-5, rtol=1e-5)
    # Without the mask the padding would change the real tokens: the mask is what is tested.
    unmasked = enc(images, padded_idx)
    assert (unmasked[:, :KC] - plain).abs().max() > 1e-3


@torch.no_grad()
@pytest.mark.parametrize("targets", ["per_block", "joint", "isolated"])
def test_padded_predictions_equal_the_unpadded_ones_in_every_mode(targets: str) -> None:
    _, pred, _ = _networks(targets)
    pred.eval()
    masks = _masks()
    context = torch.randn(B, KC, 48)
    plain = pred(context, masks.context, masks.targets)
    cidx, cvalid = pad_indices(masks.context, 32)
    tidx, tvalid = pad_indices(masks.targets, 16)
    padded_context = torch.cat([context, torch.randn(B, 32 - KC, 48) * 100], dim=1)
    out = pred(padded_context, cidx, tidx, context_valid=cvalid, target_valid=tvalid)
    assert out.shape == (M * B, 16, 48)
    torch.testing.assert_close(out[:, :KT], plain, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("targets", ["per_block", "isolated"])
def test_the_padded_step_has_the_loss_and_gradients_of_the_unpadded_one(targets: str) -> None:
    images, masks = torch.randn(B, 3, 32, 32), _masks(1)
    loss_fn = build_loss(L2Loss.Config())
    results = []
    for bucket in (0, 16):
        enc, pred, target = _networks(targets)
        out = ijepa_forward(enc, pred, target, loss_fn, images, masks, length_bucket=bucket,
                            num_patches=64)
        out.loss.backward()
        grads = {f"e.{k}": p.grad for k, p in enc.named_parameters()}
        grads |= {f"p.{k}": p.grad for k, p in pred.named_parameters()}
        results.append((out, grads))
    (plain, g0), (padded, g1) = results
    assert padded.predictions is not None and plain.predictions is not None
    assert padded.predictions.shape == plain.predictions.shape == (M * B, KT, 48)
    torch.testing.assert_close(padded.loss, plain.loss, atol=1e-6, rtol=1e-5)
    assert plain.loss.item() > 0.1  # a real loss, not a degenerate zero
    for key in g0:
        torch.testing.assert_close(g1[key], g0[key], atol=1e-6, rtol=1e-4, msg=key)


def test_length_bucket_is_validated_and_refused_for_predictors_without_padding(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="length_bucket"):
        IJEPA.Config(length_bucket=-1)
    recipe = load_recipe(QUICKSTART, [*TINY, "method.length_bucket=16"])
    monkeypatch.setattr(ViTPredictor, "accepts_padding", False)
    refusal = r"method.length_bucket=16 needs a predictor .*predictor.kind='vit_predictor'"
    # Refused when the recipe is validated (tests/recipe/test_check_recipe.py has the CLI) ...
    with pytest.raises(RecipeError, match=refusal):
        load_recipe(QUICKSTART, [*TINY, "method.length_bucket=16"])
    # ... and still when a method is built from a recipe validated before.
    with pytest.raises(UserError, match=refusal):
        Trainer(recipe, output_dir=Path("/nonexistent/never-written"), quiet=True)


@pytest.mark.slow
def test_a_padded_run_trains_like_the_unpadded_one(tmp_path: Path) -> None:
    losses = {}
    for bucket in (0, 16):
        recipe = load_recipe(QUICKSTART, [*TINY, "train.max_steps=3",
                                          f"method.length_bucket={bucket}"])
        trainer = Trainer(recipe, output_dir=tmp_path / str(bucket), quiet=True)
        try:
            trainer.run()
        finally:
            trainer.close()
        losses[bucket] = [r["loss"] for r in read_metrics(tmp_path / str(bucket) / "metrics.jsonl")]
    assert len(losses[0]) == 3
    assert losses[16] == pytest.approx(losses[0], rel=1e-4)


def test_compile_is_static_per_shape_when_the_method_pads(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch._dynamo.config as dynamo_config

    from jepa_kit.train import compile as compile_mod

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(torch, "compile", lambda net, **kw: calls.append(kw) or net)
    net = torch.nn.Linear(2, 2)
    # dynamo's own patcher: its config module does not survive monkeypatch's restore.
    with dynamo_config.patch(recompile_limit=8):
        assert compile_mod.compile_network(net, static=False) is net
        assert calls == [{}] and dynamo_config.recompile_limit == 8
        compile_mod.compile_network(net, static=True)
        assert calls[-1] == {"dynamic": False}
        assert dynamo_config.recompile_limit == compile_mod.STATIC_RECOMPILE_LIMIT
    assert dynamo_config.recompile_limit == 8
    # The method tells the trainer which it is.
    for bucket, static in ((0, False), (16, True)):
        recipe = load_recipe(QUICKSTART, [*TINY, f"method.length_bucket={bucket}"])
        assert build_method(recipe).static_shapes is static

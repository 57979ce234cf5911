"""Official checkpoints in: the fixture's outputs are reproduced through the user's import path."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from jepa_kit.checkpoint import load_checkpoint
from jepa_kit.encoders.vit import ViTEncoder
from jepa_kit.interop import import_reference, infer_num_heads, load_reference_checkpoint
from jepa_kit.methods.reference_file import mlp_ratio as _mlp_ratio
from jepa_kit.ops.masks import apply_masks
from jepa_kit.predictors.vit_predictor import ViTPredictor
from jepa_kit.recipe import validate_recipe
from tests.conftest import FIXTURES

CKPT = FIXTURES / "tiny_checkpoint.pth.tar"
TOL = {"atol": 1e-5, "rtol": 1e-4}


@pytest.fixture(scope="module")
def expected() -> dict:
    return torch.load(FIXTURES / "tiny_expected.pt", weights_only=True)


@pytest.fixture(scope="module")
def outputs(expected: dict) -> dict[str, torch.Tensor]:
    """Everything the fixture records, recomputed from the imported weights."""
    encoder, target_encoder, predictor = load_reference_checkpoint(CKPT).build_modules()
    for module in (encoder, target_encoder, predictor):
        module.eval()
    images = expected["images"]
    context_idx = expected["masks_enc"][0]  # nenc = 1
    target_idx = torch.stack(expected["masks_pred"])  # (M, B, Kt)
    with torch.no_grad():
        out = {
            "encoder_full": encoder(images),
            "target_encoder_full": target_encoder(images),
            "encoder_context": encoder(images, context_idx),
        }
        out["targets"] = apply_masks(F.layer_norm(out["target_encoder_full"], (96,)), target_idx)
        out["predictions"] = predictor(out["encoder_context"], context_idx, target_idx)
    return out


def test_architecture_is_read_off_the_shapes() -> None:
    weights = load_reference_checkpoint(CKPT)
    assert weights.recipe_fragment() == {
        "method": {"kind": "ijepa"},
        "encoder": {"kind": "vit", "embed_dim": 96, "depth": 3, "num_heads": 3,
                    "mlp_ratio": 4.0, "patch_size": 4, "qkv_bias": True},
        "predictor": {"kind": "vit_predictor", "embed_dim": 48, "depth": 2, "num_heads": 3,
                      "mlp_ratio": 4.0, "qkv_bias": True, "targets": "per_block"},
        "data": {"img_size": 32},
        # 8x8 patches: the default min_keep=10 cannot be met there, the largest that can is kept
        "masker": {"kind": "multiblock", "mode": "uniform", "min_keep": 7},
    }
    validate_recipe(weights.recipe_fragment())  # the fragment alone is a valid recipe
    assert weights.epoch == 1 and weights.loss == pytest.approx(0.47837722301483154)
    assert not any(k.startswith("module.") for k in weights.encoder)
    # the recipe sections validate as the components' configs
    ViTEncoder.Config(**weights.encoder_config)
    ViTPredictor.Config(**weights.predictor_config)


@pytest.mark.parametrize("key", ["encoder_full", "target_encoder_full", "encoder_context",
                                 "targets", "predictions"])
def test_reproduces_reference_tensors(key: str, outputs: dict, expected: dict) -> None:
    torch.testing.assert_close(outputs[key], expected[key], **TOL)


def test_reproduces_reference_losses(outputs: dict, expected: dict) -> None:
    pred, tgt = outputs["predictions"], outputs["targets"]
    assert F.smooth_l1_loss(pred, tgt).item() == pytest.approx(expected["loss_smooth_l1"],
                                                               abs=1e-5)
    assert F.mse_loss(pred, tgt).item() == pytest.approx(expected["loss_mse"], abs=1e-5)


def test_tables(expected: dict) -> None:
    encoder, target_encoder, predictor = load_reference_checkpoint(CKPT).build_modules()
    assert torch.equal(encoder.pos_embed, expected["pos_embed"])
    assert torch.equal(predictor.predictor_pos_embed, expected["predictor_pos_embed"])
    # the target keeps the stored, EMA-rounded copy (README: within 6e-8 of the exact table)
    gap = (target_encoder.pos_embed - expected["pos_embed"]).abs().max().item()
    assert gap <= 1e-7


def test_build_modules_leaves_the_weights_untouched() -> None:
    weights = load_reference_checkpoint(CKPT)
    encoder, _, _ = weights.build_modules()
    with torch.no_grad():
        encoder.norm.weight.add_(1.0)
    assert torch.equal(weights.encoder["norm.weight"], load_reference_checkpoint(CKPT)
                       .encoder["norm.weight"])
    assert all(p.device.type == "cpu" and p.requires_grad for p in encoder.parameters())


def test_num_heads_override() -> None:
    weights = load_reference_checkpoint(CKPT, num_heads=6)
    assert weights.encoder_config["num_heads"] == 6
    assert weights.predictor_config["num_heads"] == 6
    encoder, _, predictor = weights.build_modules()
    assert encoder.blocks[0].attn.num_heads == 6 and predictor.num_heads == 6


def test_head_inference_rule() -> None:
    assert [infer_num_heads(w) for w in (192, 384, 768, 1024, 1280, 1408)] == [3, 6, 12, 16, 16,
                                                                              16]
    assert infer_num_heads(96) == 3 and infer_num_heads(128) == 4
    with pytest.raises(ValueError, match="pass num_heads"):
        infer_num_heads(100)


def test_mlp_ratio_round_trips_through_int() -> None:
    for width, hidden in [(96, 384), (1408, 6144), (88, 120), (104, 120)]:
        assert int(width * _mlp_ratio(width, hidden)) == hidden


def test_named_size_and_unprefixed_keys(tmp_path: Path) -> None:
    torch.manual_seed(0)
    enc = ViTEncoder(ViTEncoder.Config(size="tiny"), img_size=64)
    pred = ViTPredictor(ViTPredictor.Config(embed_dim=48, depth=1), grid=enc.grid,
                        embed_dim=192, encoder_heads=3)
    path = tmp_path / "plain.pth.tar"
    torch.save({"encoder": enc.state_dict(), "predictor": pred.state_dict(), "epoch": 3}, path)
    with pytest.warns(UserWarning, match="no target_encoder"):
        weights = load_reference_checkpoint(path)
    assert weights.encoder_config["size"] == "tiny"
    assert ViTEncoder.Config(**weights.encoder_config).dims() == (192, 12, 3, 4.0)
    assert weights.img_size == 64 and weights.epoch == 3 and weights.loss is None
    built, target, _ = weights.build_modules()
    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(built.eval()(images), enc.eval()(images), atol=0, rtol=0)
        torch.testing.assert_close(target.eval()(images), enc(images), atol=0, rtol=0)


def test_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "x.pt"
    torch.save({"model": {}}, path)
    with pytest.raises(ValueError, match="not an official I-JEPA / V-JEPA training checkpoint"):
        load_reference_checkpoint(path)
    with pytest.raises(ValueError, match="no such checkpoint"):
        load_reference_checkpoint(tmp_path / "missing.pt")


def test_import_reference_writes_a_loadable_checkpoint(tmp_path: Path, expected: dict) -> None:
    path = import_reference(CKPT, tmp_path / "run")
    assert path == tmp_path / "run" / "step_00000000.pt"
    ckpt = load_checkpoint(path)
    assert ckpt["step"] == 0 and ckpt["epoch"] == 1 and ckpt["step_in_epoch"] == 0
    assert ckpt["optimizer"] is None and ckpt["rng"] is None
    assert ckpt["source"] == str(CKPT)
    assert ckpt["versions"]["jepa-kit"]
    assert math.isclose(ckpt["metrics"]["loss"], 0.47837722301483154)
    recipe = ckpt["recipe"]
    assert recipe["data"] == {"img_size": 32} and recipe["masker"]["min_keep"] == 7

    # Rebuild from the checkpoint alone, as a resume or `init_from` would.
    encoder = ViTEncoder(ViTEncoder.Config(**recipe["encoder"]), img_size=32).eval()
    encoder.load_state_dict(ckpt["encoder"], strict=True)
    target = ViTEncoder(ViTEncoder.Config(**recipe["encoder"]), img_size=32).eval()
    target.load_state_dict(ckpt["target_encoder"], strict=True)
    predictor = ViTPredictor(ViTPredictor.Config(**recipe["predictor"]), grid=encoder.grid,
                             embed_dim=96, encoder_heads=encoder.num_heads).eval()
    predictor.load_state_dict(ckpt["predictor"], strict=True)
    with torch.no_grad():
        torch.testing.assert_close(target(expected["images"]), expected["target_encoder_full"],
                                   **TOL)
        context = encoder(expected["images"], expected["masks_enc"][0])
        predictions = predictor(context, expected["masks_enc"][0],
                                torch.stack(expected["masks_pred"]))
    torch.testing.assert_close(predictions, expected["predictions"], **TOL)

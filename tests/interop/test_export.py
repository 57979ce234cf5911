"""Encoders out: safetensors, timm (strict load, equal features) and Hugging Face IJepaModel."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
import timm
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from jepa_kit.checkpoint import load_checkpoint
from jepa_kit.encoders.vit import ViTEncoder
from jepa_kit.interop import (
    export_checkpoint,
    export_encoder,
    import_reference,
    load_reference_checkpoint,
)
from jepa_kit.interop.export import timm_model_args
from tests.conftest import FIXTURES

TOL = {"atol": 1e-5, "rtol": 1e-4}


@pytest.fixture(scope="module")
def reference() -> tuple[ViTEncoder, dict, torch.Tensor]:
    weights = load_reference_checkpoint(FIXTURES / "tiny_checkpoint.pth.tar")
    encoder = weights.build_modules()[0].eval()
    images = torch.load(FIXTURES / "tiny_expected.pt", weights_only=True)["images"]
    return encoder, weights.encoder_config, images


def _hf_layout(depth: int, d: int, hidden: int, chans: int, patch: int, n: int
               ) -> dict[str, tuple[int, ...]]:
    """Key -> shape of a Hub I-JEPA checkpoint (transformers' IJepaModel, ViT-style names)."""
    layout = {
        "embeddings.patch_embeddings.projection.weight": (d, chans, patch, patch),
        "embeddings.patch_embeddings.projection.bias": (d,),
        "embeddings.position_embeddings": (1, n, d),
        "layernorm.weight": (d,), "layernorm.bias": (d,),
    }
    for i in range(depth):
        pre = f"encoder.layer.{i}."
        for name, shape in [("attention.attention.query", (d, d)),
                            ("attention.attention.key", (d, d)),
                            ("attention.attention.value", (d, d)),
                            ("attention.output.dense", (d, d)),
                            ("intermediate.dense", (hidden, d)),
                            ("output.dense", (d, hidden))]:
            layout[f"{pre}{name}.weight"] = shape
            layout[f"{pre}{name}.bias"] = (shape[0],)
        for norm in ("layernorm_before", "layernorm_after"):
            layout[f"{pre}{norm}.weight"] = (d,)
            layout[f"{pre}{norm}.bias"] = (d,)
    return layout


def test_safetensors_round_trip(reference: tuple, tmp_path: Path) -> None:
    encoder, config, images = reference
    out = tmp_path / "e.safetensors"
    path = export_encoder(encoder.state_dict(), config, 32, "safetensors", out)
    with safe_open(str(path), "pt") as handle:
        meta = handle.metadata()
    rebuilt = ViTEncoder(ViTEncoder.Config.model_validate_json(meta["encoder"]),
                         img_size=int(meta["img_size"])).eval()
    rebuilt.load_state_dict(load_file(str(path)), strict=True)
    with torch.no_grad():
        assert torch.equal(rebuilt(images), encoder(images))


def test_timm_export_loads_strictly_and_matches(reference: tuple, tmp_path: Path) -> None:
    encoder, config, images = reference
    out = export_encoder(encoder.state_dict(), config, 32, "timm", tmp_path / "timm")
    args = timm_model_args(ViTEncoder.Config(**config), 32)
    model = VisionTransformer(**args, norm_layer=partial(nn.LayerNorm, eps=1e-6)).eval()
    model.load_state_dict(load_file(str(out / "model.safetensors")), strict=True)
    assert model.pos_embed.shape == (1, 64, 96)
    with torch.no_grad():
        ours = encoder(images)
        torch.testing.assert_close(model.forward_features(images), ours, **TOL)
        # the folder is a timm model directory in its own right
        again = timm.create_model(f"local-dir:{out}", pretrained=True).eval()
        torch.testing.assert_close(again.forward_features(images), ours, **TOL)
        torch.testing.assert_close(again(images), ours.mean(1), **TOL)  # pooled: token average


def test_hf_export_layout(reference: tuple, tmp_path: Path) -> None:
    encoder, config, _ = reference
    sd = encoder.state_dict()
    out = export_encoder(sd, config, 32, "hf", tmp_path / "hf")
    exported = load_file(str(out / "model.safetensors"))
    assert {k: tuple(v.shape) for k, v in exported.items()} == _hf_layout(3, 96, 384, 3, 4, 64)
    layer = "encoder.layer.1.attention.attention."
    for p in ("weight", "bias"):
        fused = torch.cat([exported[f"{layer}{n}.{p}"] for n in ("query", "key", "value")])
        assert torch.equal(fused, sd[f"blocks.1.attn.qkv.{p}"])
    hf = json.loads((out / "config.json").read_text())
    assert hf["model_type"] == "ijepa" and hf["architectures"] == ["IJepaModel"]
    assert (hf["hidden_size"], hf["num_hidden_layers"], hf["num_attention_heads"],
            hf["intermediate_size"]) == (96, 3, 3, 384)
    assert (hf["image_size"], hf["patch_size"], hf["layer_norm_eps"], hf["hidden_act"]) == (
        32, 4, 1e-6, "gelu")


def test_hf_export_loads_in_transformers(reference: tuple, tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    encoder, config, images = reference
    out = export_encoder(encoder.state_dict(), config, 32, "hf", tmp_path / "hf")
    model, info = transformers.IJepaModel.from_pretrained(str(out), output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys"))
    model.eval()
    with torch.no_grad():
        features = model(pixel_values=images).last_hidden_state
        torch.testing.assert_close(features, encoder(images), **TOL)


def test_mismatched_state_dict_is_refused(reference: tuple, tmp_path: Path) -> None:
    encoder, config, _ = reference
    sd = dict(encoder.state_dict())
    del sd["norm.bias"]
    with pytest.raises(ValueError, match="missing \\['norm.bias'\\]"):
        export_encoder(sd, config, 32, "timm", tmp_path / "x")
    with pytest.raises(ValueError, match="wrong shapes"):
        export_encoder(encoder.state_dict(), {**config, "patch_size": 8}, 64, "timm",
                       tmp_path / "x")
    with pytest.raises(ValueError, match="unknown export format"):
        export_encoder(encoder.state_dict(), config, 32, "onnx", tmp_path / "x")  # type: ignore[arg-type]


def test_module_prefix_is_accepted(reference: tuple, tmp_path: Path) -> None:
    encoder, config, _ = reference
    wrapped = {f"module.{k}": v for k, v in encoder.state_dict().items()}
    path = export_encoder(wrapped, config, 32, "safetensors", tmp_path / "e.safetensors")
    assert set(load_file(str(path))) == set(encoder.state_dict())


def test_export_checkpoint_from_an_imported_reference(tmp_path: Path) -> None:
    ckpt = import_reference(FIXTURES / "tiny_checkpoint.pth.tar", tmp_path / "run")
    expected = torch.load(FIXTURES / "tiny_expected.pt", weights_only=True)
    out = export_checkpoint(ckpt, fmt="timm", out=tmp_path / "timm")  # the target encoder
    model = timm.create_model(f"local-dir:{out}", pretrained=True).eval()
    with torch.no_grad():
        features = model.forward_features(expected["images"])
    torch.testing.assert_close(features, expected["target_encoder_full"], **TOL)
    context = export_checkpoint(ckpt, fmt="safetensors", which="context",
                                out=tmp_path / "c.safetensors")
    assert torch.equal(load_file(str(context))["norm.weight"],
                       load_checkpoint(ckpt)["encoder"]["norm.weight"])

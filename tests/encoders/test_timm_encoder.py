"""timm ViT-family models as encoders: prefix-token variants, keep semantics, errors."""

from __future__ import annotations

from typing import Any

import pytest
import timm
import torch

from jepa_kit.encoders.timm_encoder import TimmEncoder
from jepa_kit.registry import registry

# (model name, image size, shrinking kwargs, prefix tokens): one of each token layout timm has.
VARIANTS = [
    pytest.param("vit_tiny_patch16_224", 64, {"depth": 2}, 1, id="class-token"),
    pytest.param("vit_base_patch16_gap_224", 64,
                 {"depth": 2, "embed_dim": 96, "num_heads": 3}, 0, id="gap-no-prefix"),
    pytest.param("deit3_small_patch16_224", 64, {"depth": 2}, 1, id="deit3-no-embed-class"),
    pytest.param("vit_small_patch14_reg4_dinov2", 56, {"depth": 2}, 5, id="class+4-registers"),
    pytest.param("vit_wee_patch16_reg1_gap_256", 64, {"depth": 2}, 1, id="register+gap-fc-norm"),
]


def _build(name: str, img: int, kwargs: dict[str, Any], **cfg: Any) -> TimmEncoder:
    torch.manual_seed(0)
    config = TimmEncoder.Config(model_name=name, model_kwargs=kwargs, **cfg)
    return TimmEncoder(config, img_size=img).eval()


@pytest.mark.parametrize(("name", "img", "kwargs", "prefix"), VARIANTS)
def test_patch_tokens_only_and_keep(name: str, img: int, kwargs: dict[str, Any],
                                    prefix: int) -> None:
    enc = _build(name, img, kwargs)
    with torch.no_grad():  # layer-scale models start near identity; make attention count
        for module in enc.modules():
            if isinstance(getattr(module, "gamma", None), torch.nn.Parameter):
                module.gamma.fill_(1.0)
    assert enc.num_prefix_tokens == prefix
    assert enc.grid == (4, 4)
    images = torch.randn(2, 3, img, img)
    with torch.no_grad():
        full = enc(images)
        assert full.shape == (2, 16, enc.embed_dim)

        # Without keep this is timm's own forward minus the prefix tokens.
        ref = enc.model.forward_features(images)
        if isinstance(enc.model.norm, torch.nn.Identity):
            ref = enc.norm(ref)  # gap models normalise after pooling; we normalise per token
        torch.testing.assert_close(full, ref[:, prefix:], atol=1e-6, rtol=0)

        every = enc(images, torch.arange(16).expand(2, -1))
        torch.testing.assert_close(every, full, atol=1e-6, rtol=0)

        # Positions travel with the tokens: permuting keep permutes the output the same way.
        keep = torch.tensor([[0, 3, 7, 12, 15], [1, 2, 8, 9, 10]])
        perm = torch.tensor([4, 0, 3, 1, 2])
        out = enc(images, keep)
        torch.testing.assert_close(enc(images, keep[:, perm]), out[:, perm], atol=1e-5, rtol=0)
        # Samples do not see each other's tokens.
        torch.testing.assert_close(enc(images[1:], keep[1:]), out[1:], atol=1e-5, rtol=0)
        # Dropping tokens changes what attention sees.
        assert not torch.allclose(out, full[torch.arange(2)[:, None], keep], atol=1e-4)


def test_registered_under_its_kind() -> None:
    assert registry("encoder").load("timm") is TimmEncoder


def test_patch_size_from_name_or_config() -> None:
    assert TimmEncoder.Config().resolved_patch_size() == 16
    assert TimmEncoder.Config(model_name="vit_huge_patch14_gap_224").resolved_patch_size() == 14
    assert TimmEncoder.Config(model_name="vit_tiny_r_s16_p8_224",
                              patch_size=8).resolved_patch_size() == 8
    with pytest.raises(ValueError, match="encoder.patch_size"):
        TimmEncoder.Config(model_name="vit_tiny_r_s16_p8_224").resolved_patch_size()


def test_explicit_patch_size_is_passed_to_timm() -> None:
    enc = _build("vit_tiny_patch16_224", 64, {"depth": 1}, patch_size=8)
    assert enc.grid == (8, 8)
    assert enc(torch.randn(1, 3, 64, 64)).shape == (1, 64, 192)


def test_create_model_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    real = timm.create_model

    def spy(name: str, **kwargs: Any) -> torch.nn.Module:
        seen.update(kwargs, name=name)
        return real(name, **{**kwargs, "pretrained": False})  # offline: the hub is unreachable

    monkeypatch.setattr(timm, "create_model", spy)
    _build("vit_tiny_patch16_224", 64, {"depth": 1}, pretrained=True, drop_path_rate=0.1)
    assert seen["pretrained"] is True
    assert seen["num_classes"] == 0 and seen["img_size"] == 64
    assert seen["dynamic_img_size"] is False and seen["drop_path_rate"] == 0.1


@pytest.mark.parametrize(("name", "kwargs", "match"), [
    ("vit_smal_patch16_224", {}, "did you mean 'vit_small_patch16_224'"),
    ("vit_base_patch16_rope_reg1_gap_256", {"depth": 1}, "not a timm VisionTransformer-family"),
    ("resnet18", {}, "encoder.model_name='resnet18'"),
])
def test_unsupported_models_are_user_errors(name: str, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TimmEncoder(TimmEncoder.Config(model_name=name, model_kwargs=kwargs, patch_size=16),
                    img_size=64)


def test_image_size_must_fit_the_patches() -> None:
    with pytest.raises(ValueError, match="data.img_size=60"):
        TimmEncoder(TimmEncoder.Config(model_name="vit_tiny_patch16_224"), img_size=60)

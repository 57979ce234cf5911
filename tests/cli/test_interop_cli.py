"""import-reference then export through the CLI, checked against timm and the fixture."""

from __future__ import annotations

import functools
from pathlib import Path

import timm
import torch
from safetensors.torch import load_file

from tests.cli.test_cli import cli
from tests.conftest import FIXTURES


def test_import_reference_then_timm_export_reproduces_reference_features(tmp_path: Path) -> None:
    imported = cli("import-reference", str(FIXTURES / "tiny_checkpoint.pth.tar"),
                   "--out", str(tmp_path / "D"))
    assert imported.returncode == 0, imported.stderr
    ckpt = tmp_path / "D" / "step_00000000.pt"
    assert ckpt.is_file()
    out = tmp_path / "m.safetensors"
    exported = cli("export", str(ckpt), "--format", "timm", "--which", "context",
                   "--out", str(out))
    assert exported.returncode == 0, exported.stderr

    model = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=4, embed_dim=96, depth=3, num_heads=3, mlp_ratio=4.0,
        class_token=False, global_pool="avg", fc_norm=False, num_classes=0,
        norm_layer=functools.partial(torch.nn.LayerNorm, eps=1e-6),
    )
    model.load_state_dict(load_file(str(out)), strict=True)
    model.eval()
    expected = torch.load(FIXTURES / "tiny_expected.pt", weights_only=True)
    with torch.no_grad():
        features = model.forward_features(expected["images"])
    torch.testing.assert_close(features, expected["encoder_full"], atol=1e-5, rtol=1e-4)


def test_export_rejects_bad_format_and_missing_checkpoint(tmp_path: Path) -> None:
    bad = cli("export", str(tmp_path / "x.pt"), "--format", "onnx", "--out", str(tmp_path / "o"))
    assert bad.returncode == 2 and "--format" in bad.stderr
    missing = cli("export", str(tmp_path / "x.pt"), "--out", str(tmp_path / "o"))
    assert missing.returncode == 2 and "no such checkpoint file" in missing.stderr

"""jepa-kit's V-JEPA reproduces the official code's numbers (tests/fixtures/vjepa_reference)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from jepa_kit.checkpoint import load_checkpoint
from jepa_kit.encoders.vit_video import sincos_video
from jepa_kit.interop.reference import ReferenceCheckpointError, import_reference
from jepa_kit.maskers.base import Masks
from jepa_kit.maskers.multiblock3d import MultiMasks
from jepa_kit.methods.vjepa import vjepa_forward
from jepa_kit.methods.vjepa.importer import is_vjepa_file, load_vjepa_checkpoint

FIXTURES = Path(__file__).parents[1] / "fixtures" / "vjepa_reference"
CHECKPOINT = FIXTURES / "tiny_checkpoint.pth.tar"
TOL = {"atol": 1e-5, "rtol": 1e-4}


@pytest.fixture(scope="module")
def expected() -> dict:
    return torch.load(FIXTURES / "tiny_expected.pt", weights_only=True)


@pytest.fixture(scope="module")
def modules() -> tuple:
    weights = load_vjepa_checkpoint(CHECKPOINT)
    nets = weights.build_modules()
    for net in nets:
        net.eval()
    return weights, nets


def test_architecture_is_read_off_the_official_checkpoint(modules: tuple) -> None:
    weights, (encoder, _, predictor) = modules
    assert weights.encoder_config == {
        "kind": "vit_video", "embed_dim": 96, "depth": 2, "num_heads": 3, "mlp_ratio": 4.0,
        "patch_size": 8, "qkv_bias": True, "num_frames": 8, "tubelet_size": 2,
        "uniform_power": True}
    assert weights.predictor_config["num_mask_tokens"] == 2
    assert weights.predictor_config["embed_dim"] == 48
    assert weights.img_size == 32 and encoder.grid == (4, 4, 4)
    assert weights.loss == pytest.approx(0.8296312093734741)
    assert predictor.predictor_pos_embed.shape == (1, 64, 48)


def test_sincos_tables_equal_the_official(expected: dict) -> None:
    for name, table in expected["sincos_tables"].items():
        dim, grid, power = name.split("_")
        t, h, w = (int(x) for x in grid.split("x"))
        ours = sincos_video(int(dim), (t, h, w), uniform_power=power == "uniform")
        assert torch.equal(ours, table), name


def test_features_predictions_and_loss_match(modules: tuple, expected: dict) -> None:
    _, (encoder, target_encoder, predictor) = modules
    clips = expected["clips"]
    groups = [Masks(c, p.unsqueeze(0))
              for c, p in zip(expected["masks_enc"], expected["masks_pred"], strict=True)]
    with torch.no_grad():
        torch.testing.assert_close(encoder(clips), expected["encoder_full"], **TOL)
        torch.testing.assert_close(target_encoder(clips), expected["target_encoder_full"], **TOL)
        for g, m in enumerate(groups):
            z = encoder(clips, m.context)
            torch.testing.assert_close(z, expected["contexts"][g], **TOL)
            p = predictor(z, m.context, m.targets, mask_index=g)
            torch.testing.assert_close(p, expected["predictions"][g], **TOL)
        out = vjepa_forward(encoder, predictor, target_encoder, clips, MultiMasks.join(groups))
    assert out.loss.item() == pytest.approx(expected["loss"], abs=1e-6)
    torch.testing.assert_close(out.targets, expected["targets"][0], **TOL)
    torch.testing.assert_close(out.predictions, expected["predictions"][0], **TOL)


def test_mask_tokens_are_per_generator(modules: tuple, expected: dict) -> None:
    _, (encoder, _, predictor) = modules
    m = Masks(expected["masks_enc"][0], expected["masks_pred"][0].unsqueeze(0))
    with torch.no_grad():
        z = encoder(expected["clips"], m.context)
        own = predictor(z, m.context, m.targets, mask_index=0)
        other = predictor(z, m.context, m.targets, mask_index=1)
    assert not torch.allclose(own, other, atol=1e-3)
    torch.testing.assert_close(predictor(z, m.context, m.targets, mask_index=2), own)


def test_import_reference_cli_path_reproduces_the_features(tmp_path: Path, expected: dict
                                                           ) -> None:
    from jepa_kit.eval.checkpoint_model import load_encoder_from_checkpoint

    assert is_vjepa_file(CHECKPOINT)
    written = import_reference(CHECKPOINT, tmp_path / "imported")
    state = load_checkpoint(written, map_location="cpu")
    assert state["method"] == "vjepa" and state["recipe"]["method"] == {"kind": "vjepa"}
    loaded = load_encoder_from_checkpoint(written)
    assert loaded.which == "target"
    with torch.no_grad():
        torch.testing.assert_close(loaded.encoder(expected["clips"]),
                                   expected["target_encoder_full"], **TOL)
    context = load_encoder_from_checkpoint(written, "context").encoder
    with torch.no_grad():
        torch.testing.assert_close(context(expected["clips"]), expected["encoder_full"], **TOL)


def test_damaged_vjepa_checkpoints_are_named(tmp_path: Path) -> None:
    raw = torch.load(CHECKPOINT, weights_only=True)
    del raw["predictor"]["module.backbone.mask_tokens.0"]
    del raw["predictor"]["module.backbone.mask_tokens.1"]
    broken = tmp_path / "no_tokens.pth.tar"
    torch.save(raw, broken)
    with pytest.raises(ReferenceCheckpointError, match="no mask_tokens"):
        import_reference(broken, tmp_path / "out")
    raw = torch.load(CHECKPOINT, weights_only=True)
    raw["encoder"]["module.backbone.pos_embed"] += 1.0
    foreign = tmp_path / "table.pth.tar"
    torch.save(raw, foreign)
    with pytest.raises(ReferenceCheckpointError, match="not the official sin-cos table"):
        import_reference(foreign, tmp_path / "out")
    text = tmp_path / "notes.pth.tar"
    shutil.copy(Path(__file__), text)
    assert not is_vjepa_file(text)
    with pytest.raises(ReferenceCheckpointError, match="a text file"):
        import_reference(text, tmp_path / "out")

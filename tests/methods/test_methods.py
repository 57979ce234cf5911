"""Methods on the engine: I-JEPA unchanged, LeJEPA trained, checkpoints name their networks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from jepa_kit.build import build_method
from jepa_kit.data.loader import Batch
from jepa_kit.methods.lejepa import LeJEPA
from jepa_kit.ops.sigreg import lejepa_loss, random_slices
from jepa_kit.recipe import load_recipe, validate_recipe
from jepa_kit.rundir.checkpoint import load_checkpoint, save_checkpoint
from jepa_kit.train.trainer import train

REPO = Path(__file__).resolve().parents[2]
TINY = ["data.train_size=64", "train.batch_size=16", "train.max_steps=3", "train.log_every=1",
        "train.checkpoint_every=3", "data.num_workers=0", "eval.monitors=false"]


def lejepa_recipe(*extra: str) -> object:
    return load_recipe(REPO / "recipes" / "quickstart_lejepa.toml", [*TINY, *extra])


def test_lejepa_loss_of_a_batch_is_the_sigreg_objective() -> None:
    recipe = lejepa_recipe()
    torch.manual_seed(0)
    method = build_method(recipe)
    assert isinstance(method, LeJEPA) and method.trainable == ("encoder", "projector")
    b = 4
    views = [torch.randn(b, 3, 32, 32), torch.randn(b, 3, 32, 32), torch.randn(b, 3, 16, 16),
             torch.randn(b, 3, 16, 16)]
    batch = Batch(views, torch.zeros(b, dtype=torch.long), None, step=7, epoch=0)
    for net in method.networks.values():
        net.eval()
    with torch.no_grad():
        out = method.forward(batch, method.networks)
        enc, proj = method.networks["encoder"], method.networks["projector"]
        pooled = torch.cat([enc(torch.cat(views[:2])).mean(1), enc(torch.cat(views[2:])).mean(1)])
        emb = proj(pooled).view(4, b, -1)
        slices = random_slices(emb.shape[-1], 256, torch.Generator().manual_seed(0))
    # The slices come from the step (shared by all ranks), not from the global RNG.
    assert torch.equal(method.slices(7, emb.shape[-1], torch.device("cpu")),
                       method.slices(7, emb.shape[-1], torch.device("cpu")))
    assert not torch.equal(method.slices(7, 64, torch.device("cpu")), slices)
    expected, pred, reg = lejepa_loss(emb[:2], emb, method.slices(7, 64, torch.device("cpu")),
                                      0.05)
    torch.testing.assert_close(out.loss, expected)
    torch.testing.assert_close(out.metrics["prediction"], pred)
    torch.testing.assert_close(out.metrics["sigreg"], reg)
    assert out.features is not None and out.features.shape == (b, 64, 96)


def test_lejepa_trains_and_checkpoints_its_networks(tmp_path: Path) -> None:
    result = train(lejepa_recipe(), output_dir=tmp_path, quiet=True)
    assert result.step == 3 and all(torch.isfinite(torch.tensor(result.losses)))
    state = load_checkpoint(result.checkpoint)  # type: ignore[arg-type]
    assert state["method"] == "lejepa" and state["networks"] == ["encoder", "projector"]
    assert "target_encoder" not in state and "predictor" not in state
    # Resuming restores both networks and continues.
    more = lejepa_recipe("train.max_steps=4", "train.checkpoint_every=4")
    resumed = train(more, output_dir=tmp_path, resume=True, quiet=True)
    assert resumed.step == 4


def test_version_1_checkpoints_load_as_ijepa(tmp_path: Path) -> None:
    recipe = load_recipe(REPO / "recipes" / "quickstart.toml")
    torch.manual_seed(0)
    method = build_method(recipe)
    path = tmp_path / "step_00000000.pt"
    save_checkpoint(path, {"step": 0, "recipe": {}, **method.state_dict()})
    raw = torch.load(path, weights_only=True)
    raw["format_version"] = 1
    torch.save(raw, path)
    path.with_name(path.name + ".sha256").unlink()  # version 1 had no integrity record
    state = load_checkpoint(path)
    assert state["method"] == "ijepa"
    assert state["networks"] == ["encoder", "target_encoder", "predictor"]
    fresh = build_method(recipe)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.networks["predictor"].mask_token,
                       method.networks["predictor"].mask_token)


def test_a_checkpoint_missing_a_network_names_it(tmp_path: Path) -> None:
    recipe = lejepa_recipe()
    method = build_method(recipe)
    with pytest.raises(Exception, match=r"has no 'projector' weights \(method 'lejepa' needs "
                       r"encoder, projector\)"):
        method.load_state_dict({"encoder": method.networks["encoder"].state_dict()}, "ckpt")


def test_which_names_the_methods_encoders() -> None:
    ijepa = validate_recipe({"data": {"img_size": 32}, "encoder": {"patch_size": 4},
                             "masker": {"min_keep": 4}})
    from jepa_kit.build import method_class

    assert method_class(ijepa).encoder_for(None) == "target_encoder"
    assert method_class(ijepa).encoder_for("context") == "encoder"
    with pytest.raises(Exception, match=r"--which 'target': method 'lejepa' has the encoders "
                       r"encoder"):
        LeJEPA.encoder_for("target")

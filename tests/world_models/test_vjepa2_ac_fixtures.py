"""The action-conditioned predictor, its mask and the ac_jepa losses against the official
V-JEPA 2-AC code (fixtures made by scripts/fixtures/make_vjepa2_ac_fixtures.py)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from jepa_kit.methods.ac_jepa.losses import ac_losses, ac_predictions
from jepa_kit.predictors.action_conditioned import ActionConditionedPredictor, block_causal_mask

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vjepa2_ac"
META = json.loads((FIXTURES / "meta.json").read_text())


def official_predictor() -> ActionConditionedPredictor:
    """Our predictor holding the official one's weights (its unused extrinsics map dropped)."""
    m = META
    config = ActionConditionedPredictor.Config(
        embed_dim=m["predictor_embed_dim"], depth=m["depth"], num_heads=m["num_heads"],
        action_dim=m["action_embed_dim"], state_dim=m["action_embed_dim"], use_state=True)
    side = m["img_size"] // m["patch_size"]
    predictor = ActionConditionedPredictor(config, grid=(side, side), embed_dim=m["embed_dim"])
    weights = {k.removeprefix("weights."): v
               for k, v in load_file(FIXTURES / "predictor.safetensors").items()
               if k.startswith("weights.") and "extrinsics_encoder" not in k}
    predictor.load_state_dict(weights, strict=True)
    return predictor.eval()


def test_predictor_matches_official_output() -> None:
    data = load_file(FIXTURES / "predictor.safetensors")
    with torch.no_grad():
        out = official_predictor()(data["tokens"], data["actions"], data["states"])
    assert out.shape == data["output"].shape == (2, 3 * 16, META["embed_dim"])
    torch.testing.assert_close(out, data["output"], rtol=1e-5, atol=1e-5)


def test_block_causal_mask_matches_official() -> None:
    official = load_file(FIXTURES / "mask.safetensors")["mask"].bool()
    ours = block_causal_mask(4, 16, 2)
    assert ours.shape == official.shape == (72, 72)
    assert torch.equal(ours, official)


def test_losses_match_official() -> None:
    data = load_file(FIXTURES / "losses.safetensors")
    predictor = official_predictor()
    with torch.no_grad():
        z_tf, z_ar = ac_predictions(predictor, data["targets"], data["actions"], data["states"],
                                    16, META["auto_steps"], normalize=True)
        loss, jloss, sloss = ac_losses(predictor, data["targets"], data["actions"],
                                       data["states"], 16, META["auto_steps"])
    torch.testing.assert_close(z_tf, data["z_tf"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(z_ar, data["z_ar"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(jloss.reshape(1), data["teacher_forcing"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sloss.reshape(1), data["rollout"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(loss, jloss + sloss)
    assert float(jloss) > 0.1  # the predictor at random weights is far from the targets

"""Encoders rebuilt from checkpoints: exact weights, the step-0 baseline, partial recipes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from jepa_kit.build import build_method
from jepa_kit.checkpoint import load_checkpoint, save_checkpoint
from jepa_kit.errors import UserError
from jepa_kit.eval.checkpoint_model import load_encoder, load_encoder_from_checkpoint
from jepa_kit.eval.features import build_eval_splits, extract_features
from jepa_kit.eval.knn import PeriodicKNN, knn_eval
from jepa_kit.interop.reference import import_reference
from tests.eval.helpers import make_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("run"))


def _same(module: torch.nn.Module, state: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(v, state[k]) for k, v in module.state_dict().items())


def test_loads_the_chosen_encoder_strictly(checkpoint: Path) -> None:
    state = load_checkpoint(checkpoint)
    target, recipe = load_encoder(checkpoint)
    context, _ = load_encoder(checkpoint, "context")
    assert _same(target, state["target_encoder"]) and _same(context, state["encoder"])
    assert not _same(target, state["encoder"])  # EMA: the two differ after training
    assert not target.training and recipe.encoder.depth == 1
    loaded = load_encoder_from_checkpoint(checkpoint)
    assert loaded.step == 2 and loaded.which == "target" and not loaded.random_init


def test_random_init_is_the_runs_step0_encoder(checkpoint: Path) -> None:
    before = torch.random.get_rng_state()
    baseline, recipe = load_encoder(checkpoint, random_init=True)
    assert torch.equal(torch.random.get_rng_state(), before)  # global RNG untouched
    torch.manual_seed(recipe.run.seed)
    start = build_method(recipe).networks["encoder"]
    assert _same(baseline, start.state_dict())
    assert not _same(baseline, load_checkpoint(checkpoint)["target_encoder"])


def test_partial_recipe_of_an_imported_checkpoint(fixtures_dir: Path, tmp_path: Path) -> None:
    # import-reference writes method, encoder, predictor, data.img_size and, on grids too small
    # for the default masker, a masker that fits; defaults fill the rest.
    path = import_reference(fixtures_dir / "tiny_checkpoint.pth.tar", tmp_path)
    state = load_checkpoint(path)
    assert set(state["recipe"]) == {"method", "encoder", "predictor", "data", "masker"}
    encoder, recipe = load_encoder(path)
    assert _same(encoder, state["target_encoder"]) and recipe.img_size == 32
    assert recipe.data.kind == "synthetic" and recipe.masker.min_keep == 7

    # A fragment whose masker cannot mask the 8x8 grid: the message says why that does not
    # matter for evaluation and what to set.
    del state["recipe"]["masker"]
    bare = save_checkpoint(tmp_path / "bare.pt", state)
    with pytest.raises(UserError, match=r"(?s)masker\.min_keep.*evaluation does not use"):
        load_encoder(bare)
    loaded = load_encoder_from_checkpoint(bare, overrides=["masker.min_keep=4"])
    assert _same(loaded.encoder, state["target_encoder"]) and loaded.step == 0
    assert loaded.recipe.data.kind == "synthetic" and loaded.recipe.img_size == 32


def test_weights_that_do_not_fit_name_the_file(checkpoint: Path, tmp_path: Path) -> None:
    state = load_checkpoint(checkpoint)
    state["recipe"]["encoder"]["depth"] = 2
    path = save_checkpoint(tmp_path / "wrong.pt", state)
    with pytest.raises(UserError, match=r"wrong\.pt.*target_encoder weights do not fit"):
        load_encoder(path)
    with pytest.raises(UserError, match="no such checkpoint"):
        load_encoder(tmp_path / "missing.pt")


def test_features_and_periodic_knn(checkpoint: Path) -> None:
    encoder, recipe = load_encoder(checkpoint)
    encoder.train()
    splits = build_eval_splits(recipe.data, seed=0)
    train_loader, val_loader = splits.loaders(batch_size=20)
    feats, labels = extract_features(encoder, val_loader, "cpu")
    assert feats.shape == (32, 96) and feats.dtype == torch.float32
    assert labels.tolist() == [i % 4 for i in range(32)]
    assert encoder.training  # mode restored
    bf16, _ = extract_features(encoder, val_loader, "cpu", precision="bf16")
    assert bf16.dtype == torch.float32 and torch.allclose(bf16, feats, atol=0.1, rtol=0.1)

    def periodic_knn() -> PeriodicKNN:
        return PeriodicKNN(recipe.data, "cpu", seed=recipe.run.seed, k=recipe.eval.knn_k,
                           temperature=recipe.eval.knn_temperature)

    periodic = periodic_knn()
    first = periodic(encoder)
    assert set(first) == {"knn_top1"} and 0.0 <= first["knn_top1"] <= 1.0
    assert periodic(encoder) == first == periodic_knn()(encoder)
    train_x, train_y = extract_features(encoder, train_loader, "cpu")
    direct = knn_eval(train_x, train_y, feats, labels, k=recipe.eval.knn_k,
                      temperature=recipe.eval.knn_temperature, num_classes=4)
    assert direct["top1"] == first["knn_top1"]

"""``--format hf``: a folder transformers loads with ``from_pretrained``, card included, and
that jepa-kit reads back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import transformers

from jepa_kit import load_encoder
from jepa_kit.errors import UserError
from jepa_kit.interop import import_reference, load_reference_checkpoint
from jepa_kit.interop.export import export_checkpoint
from jepa_kit.interop.hf import hf_state_dict, is_hf_folder, load_hf_folder, state_dict_from_hf
from tests.conftest import FIXTURES

TOL = {"atol": 1e-5, "rtol": 1e-4}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.Tensor, torch.Tensor]:
    """(hf folder of the reference's context encoder, images, that encoder's tokens)."""
    root = tmp_path_factory.mktemp("hf")
    ckpt = import_reference(FIXTURES / "tiny_checkpoint.pth.tar", root / "run" / "checkpoints")
    out = export_checkpoint(ckpt, fmt="hf", which="context", out=root / "hf")
    encoder = load_reference_checkpoint(FIXTURES / "tiny_checkpoint.pth.tar").build_modules()[0]
    images = torch.load(FIXTURES / "tiny_expected.pt", weights_only=True)["images"]
    with torch.no_grad():
        tokens = encoder.eval()(images)
    return out, images, tokens


def test_auto_model_loads_the_folder_and_matches(exported: tuple) -> None:
    folder, images, tokens = exported
    model, info = transformers.AutoModel.from_pretrained(str(folder), output_loading_info=True)
    assert type(model).__name__ == "IJepaModel"
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys"))
    with torch.no_grad():
        out = model.eval()(pixel_values=images).last_hidden_state
    assert out.shape == (images.shape[0], 64, 96)
    torch.testing.assert_close(out, tokens, **TOL)


def test_folder_holds_weights_config_and_card(exported: tuple) -> None:
    folder, _, _ = exported
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json",
                                                        "model.safetensors"]
    card = (folder / "README.md").read_text()
    assert "# ijepa: the context encoder of a jepa-kit ijepa run" in card
    assert "library_name: transformers" in card
    assert json.loads((folder / "config.json").read_text())["model_type"] == "ijepa"


def test_jepa_kit_reads_the_folder_back(exported: tuple) -> None:
    folder, images, tokens = exported
    assert is_hf_folder(folder) and not is_hf_folder(folder / "config.json")
    encoder, section, img_size = load_hf_folder(folder)
    assert (img_size, section["embed_dim"], section["depth"], section["num_heads"],
            section["patch_size"], section["mlp_ratio"]) == (32, 96, 3, 3, 4, 4.0)
    with torch.no_grad():
        torch.testing.assert_close(encoder(images), tokens, atol=0, rtol=0)
        module = load_encoder(folder, features="tokens")
        assert module.which == "hf" and module.img_size == 32
        torch.testing.assert_close(module(images), tokens, atol=0, rtol=0)
        torch.testing.assert_close(load_encoder(folder)(images), tokens.mean(1), **TOL)


def test_key_mapping_inverts() -> None:
    weights = load_reference_checkpoint(FIXTURES / "tiny_checkpoint.pth.tar")
    sd = weights.target_encoder
    back = state_dict_from_hf(hf_state_dict(sd))
    assert set(back) == set(sd)
    assert all(torch.equal(back[k], sd[k]) for k in sd)
    prefixed = {f"ijepa.{k}": v for k, v in hf_state_dict(sd).items()}
    assert set(state_dict_from_hf(prefixed)) == set(sd)


def test_broken_folders_are_refused_with_their_path(exported: tuple, tmp_path: Path) -> None:
    folder, _, _ = exported
    no_weights = tmp_path / "no_weights"
    no_weights.mkdir()
    (no_weights / "config.json").write_text((folder / "config.json").read_text())
    with pytest.raises(UserError, match=r"no_weights: the IJepaModel folder has no "
                                        r"model.safetensors"):
        load_hf_folder(no_weights)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_text('{"model_type": "ijepa"}')
    with pytest.raises(UserError, match=r"bad: not an IJepaModel folder .*KeyError"):
        load_hf_folder(bad)
    with pytest.raises(UserError, match="holds one encoder"):
        load_encoder(folder, which="target")
    with pytest.raises(UserError, match="without the run that made its initial weights"):
        load_encoder(folder, random_init=True)


def test_an_hf_folder_evaluates_as_its_timm_twin(exported: tuple, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``evaluate`` reads an hf export: the same kNN score as the timm export of the encoder."""
    import jepa_kit

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder, _, _ = exported
    timm_out = export_checkpoint(folder.parent / "run" / "checkpoints" / "step_00000000.pt",
                                 fmt="timm", which="context", out=tmp_path / "timm")
    small = ["data.train_size=64", "data.val_size=32", "data.num_workers=0"]
    scores = [jepa_kit.evaluate(path, "knn", dataset="synthetic", overrides=small,
                                out_path=tmp_path / f"{path.name}.json").result
              for path in (folder, timm_out)]
    assert [s["source"] for s in scores] == ["hf", "timm"]
    assert scores[0]["metrics"] == scores[1]["metrics"]
    assert "baseline" not in scores[0]  # an export has no initial weights to score

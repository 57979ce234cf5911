"""Model cards: what ``export`` writes beside the weights, checked by value."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from jepa_kit.interop import import_reference
from jepa_kit.interop.card import card_path, find_evaluations
from jepa_kit.interop.export import export_checkpoint
from tests.conftest import FIXTURES


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny reference checkpoint laid out as a run: RUN/checkpoints/step_00000000.pt."""
    root = tmp_path_factory.mktemp("card") / "run"
    import_reference(FIXTURES / "tiny_checkpoint.pth.tar", root / "checkpoints")
    return root


def _result(protocol: str, top1: float, base: float | None, *, which: str = "target",
            step: int = 0, random_init: bool = False, within: bool = False) -> dict:
    result = {"protocol": protocol, "which": which, "features": "avg", "checkpoint_step": step,
              "random_init": random_init, "metrics": {"top1": top1, "num_val": 256}}
    if base is not None:
        result["baseline"] = {"metrics": {"top1": base}, "cached": False}
        result["gain"] = {"top1": top1 - base, "within_noise": within}
    return result


def test_imported_checkpoint_card_names_release_license_and_architecture(
        run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "hf"
    export_checkpoint(run_dir / "checkpoints" / "step_00000000.pt", fmt="hf", out=out)
    card = (out / "README.md").read_text()
    front = card.split("---\n")[1]
    assert front.splitlines() == ["library_name: transformers", "license: cc-by-nc-4.0",
                                  "pipeline_tag: image-feature-extraction", "tags:",
                                  "- jepa-kit", "- ijepa", "- self-supervised"]
    assert "# ijepa: the target encoder of a jepa-kit ijepa run" in card
    assert ("Imported from the official I-JEPA release (https://github.com/facebookresearch/"
            "ijepa, Assran et al. 2023, arXiv:2301.08243): file `tiny_checkpoint.pth.tar`. "
            "**License: CC BY-NC 4.0**") in card
    # tiny fixture: width 96, 3 blocks, 3 heads, patch 4 at 32 px -> 64 tokens
    assert "| width x depth | 96 x 3 |" in card and "| heads | 3 |" in card
    assert "| patch size | 4 |" in card and "| output | (64, 96) patch tokens |" in card
    from safetensors.torch import load_file

    n = sum(t.numel() for t in load_file(str(out / "model.safetensors")).values())
    assert f"| parameters | {n:,} |" in card and n > 0
    assert "the checkpoint records epoch" in card
    assert f"model = AutoModel.from_pretrained({json.dumps(str(out))})" in card
    assert "No evaluation results were found" in card
    assert '[encoder]\nkind = "vit"' in card and "<details>" in card


def test_card_lists_the_runs_evaluations_with_baselines(run_dir: Path, tmp_path: Path) -> None:
    results = {
        "eval_knn.json": _result("knn", 0.6, 0.25),
        "eval_linear_context.json": _result("linear", 0.5, 0.49, which="context", within=True),
        "eval_knn_random_init.json": _result("knn", 0.25, None, random_init=True),
        "eval_broken.json": "{not json",
    }
    for name, value in results.items():
        text = value if isinstance(value, str) else json.dumps(value)
        (run_dir / name).write_text(text)
    try:
        found = find_evaluations(run_dir / "checkpoints" / "step_00000000.pt")
        assert [r["file"] for r in found] == ["eval_knn.json", "eval_linear_context.json"]
        out = tmp_path / "enc.safetensors"
        export_checkpoint(run_dir / "checkpoints" / "step_00000000.pt", fmt="safetensors",
                          out=out)
        card = (tmp_path / "enc.README.md").read_text()
    finally:
        for name in results:
            (run_dir / name).unlink()
    assert ("| knn | target | avg | 0 | 60.00 | 25.00 | +35.00 (beyond noise) | 256 |"
            in card)
    assert ("| linear | context | avg | 0 | 50.00 | 49.00 | +1.00 (within noise) | 256 |"
            in card)
    assert "| 25.00 | - |" not in card  # the random-init file is a baseline, not a row
    assert "library_name: jepa-kit" in card
    # a safetensors file loads into timm's VisionTransformer with the arguments shown
    assert ("VisionTransformer(img_size=32, patch_size=4, in_chans=3, embed_dim=96, depth=3, "
            "num_heads=3, mlp_ratio=4, qkv_bias=True, class_token=False") in card


def test_card_snippets_load_what_they_say(run_dir: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The timm and jepa-kit snippets of a timm card run, and give the encoder's tokens."""
    monkeypatch.chdir(tmp_path)
    export_checkpoint(run_dir / "checkpoints" / "step_00000000.pt", fmt="timm", out="timm_out")
    card = Path("timm_out/README.md").read_text()
    blocks = [b.split("\n", 1)[1] for b in card.split("```python")[1:]]
    code = [b.split("```")[0] for b in blocks]
    images = torch.load(FIXTURES / "tiny_expected.pt", weights_only=True)["images"]
    space: dict = {"images": images}
    for snippet in code:
        exec(snippet, space)
    with torch.no_grad():
        tokens = space["tokens"]
        torch.testing.assert_close(space["encoder"](images), tokens.mean(1),
                                   atol=1e-5, rtol=1e-4)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``jepa-kit ARGS`` in this process: (exit code, stdout, stderr)."""
    from jepa_kit.cli.app import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def test_card_paths_and_no_card(run_dir: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert card_path(Path("a/enc.safetensors"), "safetensors") == Path("a/enc.README.md")
    assert card_path(Path("a/enc.safetensors"), "timm") == Path("a/enc.README.md")
    assert card_path(Path("a/folder"), "hf") == Path("a/folder/README.md")
    ckpt = run_dir / "checkpoints" / "step_00000000.pt"
    code, _, err = _cli(capsys, "export", str(run_dir), "--format", "timm",
                        "--out", str(tmp_path / "t"), "--no-card")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["config.json",
                                                                  "model.safetensors"]
    code, out, err = _cli(capsys, "export", str(ckpt), "--out", str(tmp_path / "e.safetensors"))
    assert code == 0, err
    assert f"wrote {tmp_path / 'e.README.md'}" in out
    assert (tmp_path / "e.README.md").read_text().startswith("---\nlibrary_name: jepa-kit\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = _cli(capsys, "export", str(empty), "--out", str(tmp_path / "x"))
    assert code == 2
    assert "a folder without checkpoints" in err
    shutil.rmtree(empty)

"""Sweep plans: grid naming, ablation files, validation before anything runs. No training."""

from __future__ import annotations

from pathlib import Path

import pytest

from jepa_kit.sweep.ablation import load_ablation
from jepa_kit.sweep.plan import (
    SAFE_NAME,
    SweepError,
    SweepPlan,
    Variant,
    grid_variants,
    split_values,
    validate_plan,
    with_seeds,
)
from tests.conftest import REPO
from tests.sweep.helpers import QUICKSTART, cli

ABLATIONS = sorted((REPO / "recipes" / "ablations").glob("*.toml"))


def test_grid_is_the_cartesian_product_with_readable_names() -> None:
    variants = grid_variants(["masker.num_targets=1,2", "masker.target_scale=[0.1,0.15],"
                              "[0.15, 0.2]"])
    assert [v.name for v in variants] == [
        "num_targets-1+target_scale-0.1-0.15", "num_targets-1+target_scale-0.15-0.2",
        "num_targets-2+target_scale-0.1-0.15", "num_targets-2+target_scale-0.15-0.2"]
    assert variants[1].overrides == ("masker.num_targets=1", "masker.target_scale=[0.15, 0.2]")
    assert all(SAFE_NAME.match(v.name) for v in variants)


def test_same_leaf_in_two_sections_keeps_the_section_in_the_name() -> None:
    names = [v.name for v in grid_variants(["encoder.depth=1", "predictor.depth=2,3"])]
    assert names == ["encoder.depth-1+predictor.depth-2", "encoder.depth-1+predictor.depth-3"]


def test_values_split_outside_brackets_and_quotes() -> None:
    assert split_values('[1,2],"a,b", 3') == ["[1,2]", '"a,b"', "3"]


def test_seeds_multiply_variants_and_name_run_dirs() -> None:
    runs = with_seeds(grid_variants(["predictor.depth=1,2"]), [0, 1])
    assert [r.name for r in runs] == ["depth-1-seed0", "depth-1-seed1", "depth-2-seed0",
                                      "depth-2-seed1"]
    plan = SweepPlan(base=QUICKSTART, variants=tuple(runs), common=("train.epochs=1",))
    assert plan.overrides(runs[1]) == ["train.epochs=1", "predictor.depth=1", "run.seed=1"]
    assert validate_plan(plan)["depth-2-seed1"].run.seed == 1


def test_kind_swap_starts_the_section_afresh_whatever_the_key_order(tmp_path: Path) -> None:
    path = tmp_path / "swap.toml"
    path.write_text(f'base = "{QUICKSTART}"\n[variants.random]\n'
                    '"masker.target_ratio" = 0.5\n"masker.kind" = "random"\n'
                    '[variants.inline]\nmasker = {kind = "block", scale = [0.2, 0.3]}\n')
    recipes = validate_plan(load_ablation(path))
    assert recipes["random"].masker.kind == "random"
    # The base's multiblock options (num_targets = 4, min_keep, mode) did not carry over.
    assert recipes["random"].masker.target_ratio == 0.5
    assert recipes["random"].masker.num_targets == 1
    assert recipes["inline"].masker.kind == "block"
    assert recipes["inline"].masker.scale == (0.2, 0.3)


def test_unsafe_variant_name_is_refused(tmp_path: Path) -> None:
    plan = SweepPlan(base=QUICKSTART, variants=(Variant("../escape", ()),), source="x.toml")
    with pytest.raises(SweepError, match=r"x.toml: variant '../escape': not a safe"):
        validate_plan(plan)


def test_bad_grid_key_exits_2_naming_the_key_and_runs_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sweep"
    code, _, err = cli(capsys, "sweep", str(QUICKSTART), "--grid", "masker.num_targts=1,2",
                       "-o", str(out))
    assert code == 2
    assert "variant 'num_targts-1': masker.num_targts: unknown key" in err
    assert "Did you mean" in err and "num_targets" in err
    assert not out.exists()


def test_bad_grid_value_names_the_variant(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "sweep", str(QUICKSTART), "--grid", "predictor.depth=2,0",
                       "--dry-run")
    assert code == 2
    assert "variant 'depth-0': predictor.depth" in err and "depth-2" not in err


def test_bad_ablation_file_exits_2_naming_file_and_variant(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'base = "{QUICKSTART}"\n[variants.fine]\n"predictor.depth" = 2\n'
                    '[variants.broken]\n"masker.kind" = "multiblok"\n')
    out = tmp_path / "sweep"
    code, _, err = cli(capsys, "sweep", str(path), "-o", str(out))
    assert code == 2
    assert str(path) in err and "variant 'broken': masker.kind" in err
    assert "Did you mean 'multiblock'?" in err and "'fine'" not in err
    assert not out.exists()


@pytest.mark.parametrize(("text", "message"), [
    ('base = "nowhere.toml"\n[variants.a]\n', "nowhere.toml does not exist"),
    ('base = "{q}"\n', "expected at least one variants.NAME table"),
    ('base = "{q}"\nvariant = 1\n[variants.a]\n', "unknown key 'variant'"),
    ('base = "{q}"\n[variants]\na = 3\n', "variant 'a': expected a table"),
])
def test_malformed_ablation_file_names_the_file(tmp_path: Path, text: str,
                                                message: str) -> None:
    path = tmp_path / "malformed.toml"
    path.write_text(text.replace("{q}", str(QUICKSTART)))
    with pytest.raises(SweepError) as info:
        load_ablation(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_dry_run_lists_every_run(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "sweep", str(QUICKSTART), "-g", "predictor.depth=1,2",
                       "--seeds", "0,1", "--dry-run")
    assert code == 0
    assert all(name in out for name in ("depth-1-seed0", "depth-2-seed1"))


def test_ablation_files_are_shipped() -> None:
    stems = {p.stem for p in ABLATIONS}
    assert {"num_targets", "target_scale", "context_scale", "predictor_depth",
            "masking"} <= stems


@pytest.mark.parametrize("path", ABLATIONS, ids=lambda p: p.name)
def test_every_shipped_ablation_validates(path: Path) -> None:
    text = path.read_text()
    assert text.startswith("#") and "jepa-kit sweep" in text and "jepa-kit compare" in text
    plan = load_ablation(path)
    assert len(plan.variants) >= 2
    recipes = validate_plan(plan)
    assert set(recipes) == {v.name for v in plan.variants}

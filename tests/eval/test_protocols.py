"""Evaluation protocols are a registry kind: built-ins as entries, flags from their configs,
compare columns from their headline metrics, settings errors that name the flag."""

from __future__ import annotations

from pathlib import Path

import pytest

import jepa_kit
from jepa_kit.cli.app import main
from jepa_kit.cli.evaluate import _cli_type, build_config
from jepa_kit.errors import UserError
from jepa_kit.eval.evaluate import build_protocol, output_name
from jepa_kit.eval.protocols import Result
from jepa_kit.eval.protocols.linear import Linear
from jepa_kit.registry import RegistryError, registry
from jepa_kit.sweep.compare import aliases, columns


def help_of(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--help"])
    assert exit_info.value.code in (0, None)
    return capsys.readouterr().out


def test_the_builtins_are_entries_of_the_kind() -> None:
    entries = {e.name: e for e in registry("eval_protocol").entries()}
    assert {"knn", "linear", "attentive"} <= set(entries)
    assert all(entries[n].builtin for n in ("knn", "linear", "attentive"))


def test_each_protocol_is_a_command_with_its_own_flags(
        capsys: pytest.CaptureFixture[str]) -> None:
    listing = help_of(capsys, "eval")
    assert all(name in listing for name in ("knn", "linear", "attentive", "finetune"))
    knn = help_of(capsys, "eval", "knn")
    assert "--k " in knn and "--temperature" in knn and "--augment" not in knn
    assert "--features" in knn and "--per-class" in knn and "--no-baseline" in knn
    linear = help_of(capsys, "eval", "linear")
    assert "--probe-batch-size" in linear and "--lr" in linear and "--augment" in linear
    attentive = help_of(capsys, "eval", "attentive")
    assert "--queries" in attentive and "--final-wd" in attentive
    assert "--features" not in attentive  # it reads tokens


def test_flags_parse_what_their_field_holds() -> None:
    assert _cli_type(Linear.Config.model_fields["lrs"].annotation) == list[float]
    assert _cli_type(Linear.Config.model_fields["batch_size"].annotation) is int
    assert _cli_type(dict[str, int]) is None  # only --opt reaches such a field


def test_bad_settings_name_the_flag_and_the_closest_field() -> None:
    flags = {"epochs": "--epochs", "lrs": "--lr"}
    with pytest.raises(UserError, match=r"--epochs: Input should be greater than or equal to 1 "
                       r"\(got 0\)"):
        build_config(Linear, {"epochs": 0}, [], flags)
    with pytest.raises(UserError, match=r"--lr: .*greater than or equal to 0"):
        build_config(Linear, {"lrs": [-1.0]}, [], flags)
    with pytest.raises(UserError, match="did you mean 'epochs'"):
        build_config(Linear, {}, ["epoch=3"], flags)
    config = build_config(Linear, {"epochs": None}, ["epochs=3", "lrs=[0.5]"], flags)
    assert (config.epochs, config.lrs) == (3, (0.5,))


def test_the_library_call_validates_before_loading_anything(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pt"
    with pytest.raises(UserError, match="knn protocol trains nothing to augment"):
        jepa_kit.evaluate(missing, "knn", augment="ijepa")
    with pytest.raises(UserError, match="attentive protocol reads tokens"):
        jepa_kit.evaluate(missing, "attentive", features="last4")
    with pytest.raises(UserError, match=r"eval knn: k: Input should be greater"):
        build_protocol("knn", {"k": 0})
    with pytest.raises(RegistryError, match="Did you mean 'knn'"):
        build_protocol("knnn")
    assert build_protocol("linear", {"epochs": 3}).config.epochs == 3


def test_result_metrics_round_trip() -> None:
    metrics = {"top1": 0.5, "top5": 0.9, "k": 20, "num_classes": 10, "num_train": 40,
               "num_val": 20}
    assert Result.from_metrics(metrics).metrics() == metrics


def test_compare_columns_come_from_the_registry() -> None:
    found = columns()
    assert found["knn_top1"] == "kNN top-1" and found["attentive_gain"] == "attentive gain"
    assert next(iter(found)) == "loss" and list(found)[-1] == "wall_s"
    assert aliases()["linear"] == "linear_top1" and aliases()["knn-gain"] == "knn_gain"
    assert output_name("knn", None, False) == "eval_knn.json"

"""The bf16-on-CPU warning: judged from the CPU's flags, x86 only."""

from __future__ import annotations

import pytest

from jepa_kit.recipe import load_recipe
from jepa_kit.train.cpu_bf16 import cpu_flags, emulated_bf16
from jepa_kit.train.trainer import Trainer
from tests.train.helpers import QUICKSTART, TINY

AVX2 = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\nprocessor\t: 1\nflags\t\t: fpu\n"
SAPPHIRE = "flags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"


def test_flags_decide_on_x86_only() -> None:
    assert cpu_flags(AVX2) == {"fpu", "sse2", "avx", "avx2", "fma"}
    assert emulated_bf16(AVX2, "x86_64")
    assert not emulated_bf16(SAPPHIRE, "x86_64")
    assert not emulated_bf16(AVX2, "aarch64")
    assert not emulated_bf16("", "x86_64")  # unknown: no warning


def test_a_bf16_run_on_such_a_cpu_is_warned(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("jepa_kit.train.cpu_bf16.emulated_bf16", lambda: True)
    recipe = load_recipe(QUICKSTART, [*TINY, "train.max_steps=1", "train.precision=bf16"])
    with pytest.warns(UserWarning, match=r"train\.precision=bf16 on a CPU without native bf16 "
                                         r"matmuls .* use --set train\.precision=fp32"):
        Trainer(recipe, output_dir=tmp_path, device="cpu", quiet=True).close()

"""docs/python.md ("From Python") runs: its python blocks, in order, in one namespace, in an
empty folder, as a reader pasting them into one notebook would. The page's own settings are
the tiny ones (four steps on a small synthetic set), so nothing is rewritten here."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.docs.snippets import extract

PAGE = REPO / "docs" / "python.md"


def test_every_python_block_is_run_here() -> None:
    blocks = [b for b in extract(PAGE) if b.lang == "python"]
    assert len(blocks) == 5
    # test_snippets.py skips them (each block there gets a fresh namespace) and says why
    assert all(b.skip and "tests/api/test_python_page.py" in b.skip for b in blocks)


@pytest.mark.slow
def test_the_page_runs_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "recipes").symlink_to(REPO / "recipes", target_is_directory=True)
    namespace: dict = {"__name__": "python_page"}
    for block in (b for b in extract(PAGE) if b.lang == "python"):
        exec(compile(block.code, block.id, "exec"), namespace)
    run = namespace["run"]
    assert run.step == 4 and run.checkpoint == Path(
        "runs/from-python/checkpoints/step_00000004.pt")
    assert namespace["result"]["baseline"]["metrics"]["top1"] >= 0
    assert namespace["probe"].result["protocol"] == "linear"
    assert (tmp_path / "runs" / "from-python" / "eval_knn.json").is_file()
    assert (tmp_path / "runs" / "from-python-hf" / "README.md").is_file()

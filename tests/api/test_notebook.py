"""examples/quickstart.ipynb runs top to bottom in a Jupyter kernel (nbclient), at a few steps,
and its cells show the run's real numbers: the loss table, the kNN score and its baseline."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import REPO

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

NOTEBOOK = REPO / "examples" / "quickstart.ipynb"
#: The parameters cell at test size: 4 steps on a small synthetic set, a log row every 2.
PARAMETERS = """STEPS = 4
OVERRIDES = {"data.train_size": 256, "data.val_size": 128, "data.num_workers": 0,
             "train.log_every": 2, "train.batch_size": 32}
RUN_DIR = "runs/quickstart-notebook"
"""


def _text(cell: dict) -> str:
    """Everything a cell showed: streams, plain text and Markdown, in order."""
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            parts.append(out["text"])
        elif out["output_type"] in ("execute_result", "display_data"):
            data = out["data"]
            parts.append(data.get("text/markdown") or data.get("text/plain", ""))
        elif out["output_type"] == "error":
            parts.append("\n".join(out["traceback"]))
    return "".join(parts)


@pytest.mark.slow
def test_quickstart_notebook_runs_and_shows_the_run(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the kernel inherits it
    nb = nbformat.read(NOTEBOOK, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1 and "STEPS = 160" in params[0].source  # the full quickstart
    params[0].source = PARAMETERS
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    shown = [_text(c) for c in code]
    assert not any("Traceback" in s for s in shown), shown

    run_dir = tmp_path / "runs" / "quickstart-notebook"
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4]
    assert "method ijepa, encoder vit (96 wide, 4 blocks), data synthetic at 32 px, 4 steps" \
        in shown[1]
    # progress under the training cell, then the result's repr
    assert "step 2/4" in shown[2] and "step 4/4" in shown[2]
    assert "finished at step 4" in shown[2]
    assert "TrainResult(run_dir='runs/quickstart-notebook', step=4, loss=" in shown[2]
    # the loss table holds the logged rows, by value
    for r in rows:
        assert f"| {r['step']} | {r['loss']:.4f} | {r['lr']:.2e} |" in shown[3]
    # the kNN score and its random-init baseline, as the result file has them
    result = json.loads((run_dir / "eval_knn.json").read_text())
    top1, base = result["metrics"]["top1"], result["baseline"]["metrics"]["top1"]
    assert f"| target, step 4 | {100 * top1:.1f}% |" in shown[4]
    assert f"| same architecture, random init | {100 * base:.1f}% |" in shown[4]
    assert re.search(r"Gain over the random-init encoder [+-]\d+\.\d\d points", shown[4]) \
        or "below its random init" in shown[4]
    assert "(128 validation images, k = 20)" in shown[4]
    assert "target encoder at step 4 -> (2, 96) pooled, (2, 64, 96) tokens" in shown[5]
    # the exported card's evaluation section, with the same numbers
    assert f"| knn | target | avg | 4 | {100 * top1:.2f} | {100 * base:.2f} |" in shown[6]
    assert (tmp_path / "runs" / "quickstart-notebook-hf" / "model.safetensors").is_file()

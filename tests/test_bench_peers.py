"""bench_peers.py's parts that need no peer: arguments, the table, the worker protocol and the
jepa-kit worker on a tiny model (speed is never a unit test)."""

from __future__ import annotations

import io
import json
import sys
from types import ModuleType

import pytest

from tests.conftest import REPO

BENCH = REPO / "benchmarks"


@pytest.fixture
def peers(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCH))
    import bench_peers

    return bench_peers


def test_arguments_are_checked(peers: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    args = peers.parse_args(["--config", "tiny,small", "--peers", "lightly", "--rounds", "2"])
    assert args.sizes == ["tiny", "small"] and args.peer_list == ["lightly"]
    assert peers.parse_args([]).peer_list == ["lightly", "stable-pretraining"]
    quick = peers.parse_args(["--quick", "--config", "small", "--rounds", "3"])
    assert (quick.sizes, quick.rounds) == (["tiny"], 1)
    for argv, message in ((["--config", "huge"], "--config: unknown huge"),
                          (["--peers", "vissl"], "--peers: unknown vissl"),
                          (["--rounds", "0"], "--rounds must be at least 1, got 0")):
        with pytest.raises(SystemExit) as exc:
            peers.parse_args(argv)
        assert exc.value.code == 2
        assert message in capsys.readouterr().err


def test_rows_compare_each_peer_with_jepa_kit_at_equal_algorithm(peers: ModuleType) -> None:
    times = {"jepa-kit per_block": [2.0, 4.0, 3.0], "jepa-kit joint": [2.0, 2.0, 2.0],
             "lightly": [6.0, 6.0, 9.0], "stable-pretraining": [1.0, 1.0, 1.0]}
    rows = {r["side"]: r for r in peers.table_rows("cfg", "fp32", times,
                                                   {"lightly": "1.6.0", "jepa-kit": "dev"})}
    assert rows["lightly"]["vs_jepa_kit"] == pytest.approx(6.0 / 3.0)  # against per_block
    assert rows["stable-pretraining"]["vs_jepa_kit"] == pytest.approx(1.0 / 2.0)  # joint
    assert rows["jepa-kit per_block"]["vs_jepa_kit"] is None
    assert rows["jepa-kit per_block"]["ms_per_step"] == pytest.approx(3000.0)
    assert rows["lightly"]["spread"] == pytest.approx(0.5)
    assert rows["lightly"]["version"] == "1.6.0" and rows["jepa-kit joint"]["version"] == "dev"
    assert rows["jepa-kit joint"]["predictor"] == "predictor.targets = 'joint'"
    assert "per block" in rows["lightly"]["predictor"]
    table = peers.format_table(list(rows.values())).splitlines()
    assert table[0].startswith("| config | precision | side | version |")
    assert "| cfg | fp32 | lightly | 1.6.0 |" in table[4]
    assert table[4].endswith("| 6,000 | 2.00x |") and table[2].endswith("| 3,000 | - |")


def test_a_missing_peer_is_skipped_without_installing(peers: ModuleType, tmp_path) -> None:
    python, why = peers.ensure_peer("lightly", tmp_path, install=False)
    assert python is None
    assert why == f"lightly: not installed in {tmp_path / 'lightly'} (--no-install)"


def test_worker_process_answers_json_lines_and_reports_errors(peers: ModuleType) -> None:
    worker = peers.Worker("jepa-kit", sys.executable)
    try:
        with pytest.raises(RuntimeError, match="jepa-kit worker: unknown command 'nope'"):
            worker.ask({"cmd": "nope"})
    finally:
        worker.close()
    assert worker.proc.returncode == 0


@pytest.mark.slow
def test_jepa_kit_worker_steps_a_tiny_model(peers: ModuleType) -> None:
    cfg = {"size": "tiny", "img": 64, "patch": 8, "pred_depth": 1, "batch": 2}
    context = [[0, 1, 2, 5, 6], [3, 4, 8, 9, 10]]
    targets = [[[11, 12], [13, 14]], [[12, 15], [7, 11]], [[13, 14], [11, 15]],
               [[14, 15], [12, 13]]]
    requests = [{"cmd": "build", "config": cfg, "precision": "fp32", "targets": "joint"},
                *({"cmd": "step", "context": context, "targets": targets} for _ in range(2)),
                {"cmd": "quit"}]
    out = io.StringIO()
    peers.serve("jepa-kit", io.StringIO("".join(json.dumps(r) + "\n" for r in requests)), out)
    replies = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(replies) == 4 and replies[0]["version"] and replies[-1] == {"ok": True}
    for reply in replies[1:3]:
        assert reply["seconds"] > 0 and 0 < reply["loss"] < 10
    assert replies[1]["loss"] != replies[2]["loss"]  # the second step trains on the first's

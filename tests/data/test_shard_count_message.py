"""A shard holding more samples than its manifest says: the message gives what was read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jepa_kit.errors import UserError
from tests.data.shard_helpers import batches, dataset, shards


def test_a_longer_shard_is_reported_with_the_count_read(tmp_path: Path) -> None:
    root = shards(tmp_path)  # 36 images in shards of 9
    manifest = root / "manifest.json"
    record = json.loads(manifest.read_text())
    # Sizes not recorded, so the count is only checked while streaming.
    record["shards"] = [dict(s, samples=8) if s["name"] == "shard-000001.tar" else s
                        for s in record["shards"]]
    for s in record["shards"]:
        s.pop("bytes")
    manifest.write_text(json.dumps(record))
    # Streaming stops one sample past the manifest's 8: the shard holds at least 9 (it holds
    # 9), never "more than 9".
    with pytest.raises(UserError, match=r"shard-000001.tar holds at least 9 samples, its "
                                        r"manifest .* says 8: the manifest does not match"):
        batches(dataset(root, streams=1), batch_size=1)

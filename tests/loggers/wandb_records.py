"""Read back what an offline W&B run wrote: the records of its ``run-<id>.wandb`` file.

W&B 0.2x+ no longer ships a Python reader for its transaction log (its own ``wandb sync``
reads it in ``wandb-core``), so this walks the documented framing (LevelDB's log format: 32 KiB
blocks of records, each ``crc32 | length | type`` and a payload; a 7-byte ``:W&B`` file
header) and decodes every payload with W&B's own protobuf ``Record`` message, checking each
record's CRC as W&B does.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

BLOCK = 32 * 1024
FILE_HEADER = struct.Struct("<4sHB")  # ":W&B", magic 0xBEE1, version 0
RECORD_HEADER = struct.Struct("<IHB")  # crc32, payload length, type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def payloads(path: Path) -> list[bytes]:
    """Every complete record payload of a ``.wandb`` file, in order."""
    data = path.read_bytes()
    ident, magic, version = FILE_HEADER.unpack_from(data, 0)
    assert (ident, magic, version) == (b":W&B", 0xBEE1, 0), f"{path}: not a W&B log"
    out: list[bytes] = []
    pos, pending = FILE_HEADER.size, b""
    while pos + RECORD_HEADER.size <= len(data):
        room = BLOCK - pos % BLOCK
        if room < RECORD_HEADER.size:  # the block's tail is padding
            pos += room
            continue
        crc, length, kind = RECORD_HEADER.unpack_from(data, pos)
        if kind == 0 and length == 0:
            pos += room
            continue
        body = data[pos + RECORD_HEADER.size: pos + RECORD_HEADER.size + length]
        assert crc == zlib.crc32(body, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF, "bad CRC"
        pos += RECORD_HEADER.size + length
        if kind == FULL:
            out.append(body)
        elif kind == FIRST:
            pending = body
        elif kind == MIDDLE:
            pending += body
        elif kind == LAST:
            out.append(pending + body)
    return out


def read_run(path: Path) -> dict[str, Any]:
    """``{"run_id", "config", "history": [{"_step": ..., key: value}], "tags", "group"}``."""
    from wandb.proto import wandb_internal_pb2 as pb

    found: dict[str, Any] = {"history": [], "config": {}}
    for payload in payloads(path):
        record = pb.Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            found.update(run_id=record.run.run_id, tags=list(record.run.tags),
                         group=record.run.run_group)
            found["config"].update({i.key: json.loads(i.value_json)
                                    for i in record.run.config.update})
        elif kind == "config":
            found["config"].update({i.key: json.loads(i.value_json)
                                    for i in record.config.update})
        elif kind == "history":
            row = {i.key or "/".join(i.nested_key): json.loads(i.value_json)
                   for i in record.history.item}
            found["history"].append(row)
    return found

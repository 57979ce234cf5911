"""Reading every checkpoint jepa-kit ever wrote: one small step per format version.

``migrate`` brings a payload of version N up to ``FORMAT_VERSION`` by applying
``MIGRATIONS[N]``, ``MIGRATIONS[N + 1]``, ... in turn; each step returns a new dict and leaves
its input alone. A change to what a checkpoint holds bumps ``FORMAT_VERSION`` in
``jepa_kit.checkpoint.record`` and adds the step from the previous version here, tested on a
payload of that version (tests/checkpoint/test_migrate.py).

History:

1. Before methods were plug-ins: I-JEPA's three networks, no ``method`` or ``networks`` key.
2. ``method`` (its recipe kind) and ``networks`` (the method's network names) added.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jepa_kit.checkpoint.failures import CheckpointError, CheckpointVersionError

#: The version this jepa-kit writes; ``migrate`` brings every earlier one up to it.
FORMAT_VERSION = 2

Payload = dict[str, Any]
#: The networks of a version-1 checkpoint (I-JEPA's, the only method then).
V1_NETWORKS = ("encoder", "target_encoder", "predictor")


def _v1_to_v2(payload: Payload) -> Payload:
    return {**payload, "format_version": 2, "method": payload.get("method", "ijepa"),
            "networks": list(payload.get("networks", V1_NETWORKS))}


#: format version -> the step that turns such a payload into the next version's.
MIGRATIONS: dict[int, Callable[[Payload], Payload]] = {1: _v1_to_v2}


def format_version(payload: Mapping[str, Any], source: str) -> int:
    """The payload's format version, checked to be one this jepa-kit reads."""
    version = payload.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{source}: checkpoint format version {version!r} is not one that "
                              f"jepa-kit writes (1 to {FORMAT_VERSION})")
    if version > FORMAT_VERSION:
        raise CheckpointVersionError(
            f"{source}: checkpoint format {version} is newer than this jepa-kit understands "
            f"({FORMAT_VERSION}); upgrade jepa-kit")
    return version


def migrate(payload: Mapping[str, Any], source: str = "checkpoint") -> Payload:
    """``payload`` as the current format version writes it (a new dict)."""
    version = format_version(payload, source)
    data = dict(payload)
    while version < FORMAT_VERSION:
        data = MIGRATIONS[version](data)
        version += 1
    assert data["format_version"] == FORMAT_VERSION, "a migration forgot to bump the version"
    return data

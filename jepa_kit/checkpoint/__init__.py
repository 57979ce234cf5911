"""One checkpoint module: a typed, versioned record, written and read only through it.

``CheckpointRecord`` (``record``) is what a checkpoint holds; ``migrate`` reads every earlier
format version; ``files`` writes and reads ``.pt`` files with content hashes; ``sharded``,
``dcp_io`` and ``digest`` do the same for ``step_N.dcp`` folders (DCP, one share per process);
``discovery`` lists, resumes from and prunes a run's checkpoints; ``writer`` saves a live run's
networks and optimizer, in either form, in the background if asked, and loads them back under
any strategy. Nothing outside this package reads a checkpoint's keys.
"""

from __future__ import annotations

from jepa_kit.checkpoint.discovery import (
    checkpoint_name,
    checkpoint_step,
    latest_valid_checkpoint,
    list_checkpoints,
    prune_checkpoints,
    resume_checkpoint,
)
from jepa_kit.checkpoint.failures import CheckpointError, CheckpointVersionError
from jepa_kit.checkpoint.files import (
    load_checkpoint,
    read_checkpoint,
    read_record,
    save_checkpoint,
    write_checkpoint,
)
from jepa_kit.checkpoint.migrate import migrate
from jepa_kit.checkpoint.record import FORMAT, FORMAT_VERSION, CheckpointRecord

__all__ = [
    "FORMAT", "FORMAT_VERSION", "CheckpointError", "CheckpointRecord", "CheckpointVersionError",
    "checkpoint_name", "checkpoint_step", "latest_valid_checkpoint", "list_checkpoints",
    "load_checkpoint", "migrate", "prune_checkpoints", "read_checkpoint", "read_record",
    "resume_checkpoint", "save_checkpoint", "write_checkpoint",
]

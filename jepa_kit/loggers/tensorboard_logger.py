"""``tensorboard``: scalars and images as TensorBoard event files in ``<run>/tensorboard``.

Written with ``torch.utils.tensorboard`` (the ``tensorboard`` extra): every number of a row
becomes a scalar at the row's step, images (the mask preview, ``diagnose``'s maps) go in as
images; the resolved recipe is a text entry. ``tensorboard --logdir runs`` shows every run of a
folder side by side. A resumed run writes a new event file beside the old ones, which
TensorBoard reads as one run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from PIL import Image
from pydantic import Field

from jepa_kit.loggers.base import Logger, LoggerConfig, LoggerSetupError, RunInfo, numeric_items


class TensorBoardLogger(Logger):
    """Event files for TensorBoard."""

    class Config(LoggerConfig):
        kind: Literal["tensorboard"] = "tensorboard"
        log_dir: str = Field("tensorboard", min_length=1, description="The event-file folder, "
                             "relative to the run folder (or absolute).")

    config: Config
    takes_images = True

    def __init__(self, config: LoggerConfig) -> None:
        super().__init__(config)
        self._writer: Any = None

    def start(self, run: RunInfo) -> dict[str, Any]:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:
            raise LoggerSetupError("the tensorboard logger needs the tensorboard package: pip "
                                   "install 'jepa-kit[tensorboard]'") from exc
        folder = run.run_dir / self.config.log_dir
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._writer = SummaryWriter(log_dir=str(folder))
        except OSError as exc:
            raise LoggerSetupError(f"cannot write {folder}: {exc}", "log_dir") from exc
        if run.records_only:
            return {}
        text = json.dumps({"config": run.config, "params": run.params, "tags": run.tags},
                          indent=2, default=str)
        self._writer.add_text("run", f"```\n{text}\n```", run.start_step)
        return {}

    def log_metrics(self, row: Mapping[str, Any]) -> None:
        for key, value in numeric_items(row).items():
            self._writer.add_scalar(key, value, row["step"])
        self._writer.flush()

    def log_image(self, key: str, image: Image.Image, step: int) -> None:
        pixels = np.asarray(image.convert("RGB"))  # (H, W, 3) uint8
        self._writer.add_image(key, pixels, step, dataformats="HWC")
        self._writer.flush()

    def finish(self, status: str) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

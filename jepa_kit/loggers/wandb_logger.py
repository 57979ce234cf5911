"""``wandb``: the run as a Weights & Biases run, online or offline.

Offline (``mode = "offline"`` or ``WANDB_MODE=offline``) writes ``<run>/wandb/offline-run-*``
with no network; ``wandb sync <run>/wandb`` uploads it later. The W&B run id is kept in the
run folder (``loggers.json``), so a resumed run continues the same W&B run (offline: a second
``offline-run-*`` folder with the same id, which ``wandb sync`` appends). The resolved recipe,
jepa-kit's version and git commit are the run's config; a sweep's variant is its group and
the variant and seed its tags, so W&B groups the seeds of a variant.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from PIL import Image
from pydantic import Field

from jepa_kit.loggers.base import Logger, LoggerConfig, LoggerSetupError, RunInfo


class WandbLogger(Logger):
    """Step metrics, evaluation results and images to a W&B run."""

    class Config(LoggerConfig):
        kind: Literal["wandb"] = "wandb"
        project: str = Field("jepa-kit", min_length=1, description="W&B project.")
        entity: str | None = Field(None, description="W&B entity (user or team); None: the "
                                   "account's default.")
        mode: Literal["online", "offline"] | None = Field(
            None, description="offline: write the run locally for a later `wandb sync`; "
            "None: the WANDB_MODE environment variable, else online.")
        dir: str = Field(".", min_length=1, description="Folder that receives wandb/, "
                         "relative to the run folder (or absolute).")
        group: str | None = Field(None, description="W&B group; None: a sweep's variant.")
        tags: list[str] = Field(default_factory=list, description="Extra W&B tags.")

    config: Config
    takes_images = True

    def __init__(self, config: LoggerConfig) -> None:
        super().__init__(config)
        self._run: Any = None
        self._wandb: Any = None

    def start(self, run: RunInfo) -> dict[str, Any]:
        try:
            import wandb
        except ImportError as exc:
            raise LoggerSetupError("the wandb logger needs the wandb package: pip install "
                                   "'jepa-kit[wandb]'") from exc
        c = self.config
        folder = Path(run.run_dir) / c.dir
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / ".jepa-kit-write-probe"
            probe.write_text("")
            probe.unlink()
        except OSError as exc:
            raise LoggerSetupError(f"cannot write {folder}: {exc}", "dir") from exc
        run_id = run.state.get("run_id") if run.resumed else None
        tags = [*(f"{k}={v}" for k, v in run.tags.items()), *c.tags]
        try:
            self._run = wandb.init(
                project=c.project, entity=c.entity, mode=c.mode, dir=str(folder),
                name=run.name, id=run_id or _new_id(), resume="allow",
                group=c.group or run.tags.get("variant"), tags=tags or None,
                config=None if run.records_only else {"recipe": dict(run.config), **run.params},
                settings=wandb.Settings(console="off"),  # the progress display stays ours
            )
        except Exception as exc:
            raise LoggerSetupError(f"wandb.init failed: {type(exc).__name__}: {exc}") from exc
        self._wandb = wandb
        return {"run_id": self._run.id, "project": c.project}

    def log_metrics(self, row: Mapping[str, Any]) -> None:
        values = {k: v for k, v in row.items()
                  if k != "step" and isinstance(v, (int, float, str))}
        self._run.log(values, step=int(row["step"]))

    def log_image(self, key: str, image: Image.Image, step: int) -> None:
        self._run.log({key: self._wandb.Image(image.convert("RGB"))}, step=step)

    def finish(self, status: str) -> None:
        if self._run is not None:
            run, self._run = self._run, None
            run.finish(exit_code=1 if status == "failed" else 0)


def _new_id() -> str:
    """A W&B run id: 8 lowercase letters and digits, as W&B makes them."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))

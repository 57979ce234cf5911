"""What a run reports: the files written at its start, the metrics row of a log step (loss,
schedules, speed, collapse monitors and their warnings) and the periodic evaluation."""

from __future__ import annotations

import json
from typing import Any

import torch

from jepa_kit import __version__
from jepa_kit.data.loader import Batch
from jepa_kit.loggers.hub import Loggers
from jepa_kit.methods.base import StepOutput
from jepa_kit.recipe import recipe_to_toml
from jepa_kit.registry import component_versions
from jepa_kit.train.progress import ProgressDisplay


class Reporting:
    """Mixed into ``Trainer``; reads its ``recipe``, ``out``, ``dist``, ``device``, ``method``,
    ``parallel``, ``monitor``, the last step's ``_last`` and ``_images_per_step``."""

    def _write_run_files(self) -> None:
        (self.out / "recipe.toml").write_text(recipe_to_toml(self.recipe))
        info = {"jepa_kit": __version__, "versions": component_versions(),
                "torch": torch.__version__, "world_size": self.dist.world_size,
                "device": str(self.device), "iterations_per_epoch": self.ipe}
        (self.out / "run.json").write_text(json.dumps(info, indent=2))

    def _observe(self, out: StepOutput) -> None:
        if self.monitor is not None and out.features is not None:
            self.monitor.observe(out.features)

    def _maybe_evaluate(self, log: Loggers | None, display: ProgressDisplay) -> None:
        """``eval.protocols`` on frozen features every ``eval.every_epochs`` epochs, sharded
        over the ranks."""
        every = self.recipe.eval.every_epochs
        if not every or (self.epoch + 1) % every:
            return
        if self._knn is None:
            from jepa_kit.eval.periodic import PeriodicEval

            r = self.recipe
            # Inference holds no activations for backward: twice the train batch fits.
            self._knn = PeriodicEval(
                r.data, self.device, protocols=r.eval.protocols, seed=r.run.seed,
                settings={"knn": {"k": r.eval.knn_k, "temperature": r.eval.knn_temperature}},
                precision=r.train.precision, batch_size=2 * r.train.batch_size,
                rank=self.dist.rank, world_size=self.dist.world_size)
        # Ranks extract unequal shares: the networks as plain modules holding all weights.
        evaluated = self.method.eval_network(self.recipe.eval.which, self.parallel.plain_copy)
        try:
            row = {"step": self.step, "epoch": self.epoch, **self._knn(evaluated)}
        finally:
            self.parallel.release(evaluated)
        if log is not None:
            log.write(row)
        display.message("eval " + "  ".join(f"{k} {v:.4f}" for k, v in row.items()
                                            if isinstance(v, float)))

    def _metrics_row(self, batch: Batch, data_wait: float, step_time: float) -> dict[str, Any]:
        out, loss_t, lr, wd, logged = self._last
        n = self._images_per_step
        row: dict[str, Any] = {"step": self.step, "epoch": self.epoch, "loss": float(loss_t),
                               "lr": lr, "wd": wd,
                               **{k: float(v) for k, v in logged.items()}}
        row.update({k: v if isinstance(v, int) else float(v) for k, v in out.metrics.items()})
        row.update(images_per_s=n / max(step_time, 1e-9), data_wait_s=data_wait,
                   step_time_s=step_time)
        if self.monitor is not None and out.features is not None:
            if not self.monitor.queue:  # a run shorter than the monitors' window
                self.monitor.observe(out.features)
            row.update(self.monitor.values(out.predictions, out.targets))
            found = self.monitor.warnings(row)
            if found:
                row["collapse_warnings"] = [f"step {self.step}: {m}" for m in found]
        if self.skipped_images:
            row["skipped_images"] = self.skipped_images
        return row

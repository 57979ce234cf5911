"""Resuming a run: the checkpoint to continue from (its recipe checked against this one), the
networks, optimizer, position and random streams restored, and a checkpoint of another number of
processes continued at about the same place in its epoch."""

from __future__ import annotations

import warnings
from pathlib import Path

from jepa_kit.checkpoint import CheckpointRecord, resume_checkpoint
from jepa_kit.recipe import recipe_to_dict
from jepa_kit.train.resume import check_resume
from jepa_kit.train.rng import restore_rng, seed_process_rng


class Restore:
    """Mixed into ``Trainer``; reads its ``recipe``, ``out``, ``resume``, ``allow_changes``,
    ``dist``, ``method``, ``optimizer``, ``checkpointer``, ``_modules``, ``accumulate`` and
    ``ipe``, and sets its position (``step``, ``epoch``, ``step_in_epoch``), ``resumed_from``
    and ``resume_changes``."""

    def _find_resume_point(self) -> tuple[Path, CheckpointRecord] | None:
        """The checkpoint to continue from, its recipe checked against this one."""
        found = resume_checkpoint(self.out / "checkpoints") if self.resume else None
        self.resume_changes: list[str] = []
        if found is not None:
            path, record = found
            self.resume_changes = check_resume(
                record.recipe, recipe_to_dict(self.recipe), source=str(path),
                allow_changes=self.allow_changes)
        return found

    def _restore(self, found: tuple[Path, CheckpointRecord] | None) -> None:
        if found is not None:
            path, record = found

            def load_plain() -> None:  # the exact path: a file into unsharded networks
                self.method.load_state_dict(record, str(path))
                if record.optimizer is not None:
                    self.optimizer.load_state_dict(record.optimizer)

            assert self.checkpointer is not None
            self.checkpointer.restore(path, record, self._modules, self.optimizer, load_plain)
            self.step, self.epoch = record.step, record.epoch
            self.step_in_epoch = record.step_in_epoch
            saved_world = record.world_size or self.dist.world_size
            if saved_world == self.dist.world_size == 1:
                restore_rng(record.rng)  # one process: the exact streams
            else:
                # Each rank's own streams, from the seed, the rank and the step: valid for any
                # number of processes (the masks and augmentations never use them).
                seed_process_rng(self.recipe.run.seed, self.dist.rank, self.step)
            if saved_world != self.dist.world_size:
                self._rescale_position(saved_world, path)
            self.resumed_from: Path | None = path
            return
        self.resumed_from = None
        if self.resume and self.dist.is_main:
            warnings.warn(f"--resume: no checkpoint in {self.out}; starting from scratch",
                          stacklevel=2)

    def _rescale_position(self, saved_world: int, path: Path) -> None:
        """Continue a checkpoint of ``saved_world`` processes on this many: the same optimizer
        step and epoch, and the epoch's data from the batch that follows about as many images
        as were seen (each rank's share of the shuffled order differs, so a few images of the
        epoch are seen twice or not at all)."""
        per_step = self.recipe.train.batch_size * self.accumulate
        seen = self.step_in_epoch * self.recipe.train.batch_size * saved_world
        steps = min(seen // (per_step * self.dist.world_size), self.ipe)
        self.step_in_epoch = steps * self.accumulate
        self.resume_changes.append(
            f"processes: {saved_world} -> {self.dist.world_size} ({path.name}); the global "
            f"batch, the data order and the schedules' steps per epoch follow the new number, "
            f"so the run is no longer an exact continuation")

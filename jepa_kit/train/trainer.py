"""The training loop: set-up, resume, the step, logging, checkpoints, the non-finite guard.

A run is a directory: ``recipe.toml`` (the resolved recipe), ``run.json`` (versions),
``metrics.jsonl``, ``checkpoints/step_XXXXXXXX.pt`` and, once the loop has ended,
``finished.json`` (final step, wall time; ``jepa_kit.rundir.finished``). Every random stream is
a function of the recipe's seed, the epoch, the batch counter and the rank, and every
checkpoint holds the optimizer and RNG states, so a resumed run repeats the losses of an
uninterrupted one bit for bit (on CPU in one process).

The loop is here; its parts live beside it: ``restore`` (resuming), ``guards`` (non-finite
losses and weights, collapse), ``reporting`` (run files, metrics rows, periodic evaluation),
``outcomes`` (how a run ends) and ``precision``.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from jepa_kit import __version__
from jepa_kit.atomic import remove_stale_temp_files
from jepa_kit.build import build_dataset, build_method, build_regularizers
from jepa_kit.checkpoint import CheckpointRecord, read_checkpoint
from jepa_kit.checkpoint.sharded import remove_stale_partials
from jepa_kit.checkpoint.writer import Checkpointer
from jepa_kit.data.loader import (
    SKIPPED_FILES,
    Batch,
    batches_per_epoch,
    build_loader,
    set_epoch,
    write_skipped_files,
)
from jepa_kit.errors import UserError
from jepa_kit.loggers.hub import Loggers
from jepa_kit.loggers.session import open_run_loggers
from jepa_kit.optim.schedules import ScheduleLengths
from jepa_kit.optim.stepper import OptimSchedule, build_optimizer
from jepa_kit.recipe import RecipeBase, recipe_to_dict
from jepa_kit.registry import component_versions
from jepa_kit.rundir.directory import RunLock, prepare_output_dir
from jepa_kit.rundir.finished import clear_finished, write_finished
from jepa_kit.target_updaters.retention import retention_warning
from jepa_kit.train import distributed as D
from jepa_kit.train.compile import compile_network
from jepa_kit.train.guards import Guards
from jepa_kit.train.monitors import CollapseMonitor
from jepa_kit.train.outcomes import (
    CollapseStopped,
    CollapseWarning,
    NonFiniteLossError,
    RunResult,
    RunStopped,
)
from jepa_kit.train.parallel import Parallel, checkpoint_activations
from jepa_kit.train.precision import configure_precision
from jepa_kit.train.progress import ProgressDisplay
from jepa_kit.train.reporting import Reporting
from jepa_kit.train.restore import Restore
from jepa_kit.train.rng import capture_rng
from jepa_kit.train.signals import StopRequested, StopSignals

__all__ = ["CollapseStopped", "CollapseWarning", "NonFiniteLossError", "RunResult",
           "RunStopped", "Trainer", "resolve_device", "train"]


def resolve_device(choice: str) -> torch.device:
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise UserError("train.device=cuda, but no CUDA device is available (use --device cpu)")
        return torch.device("cuda")
    return torch.device("cpu")


class Trainer(Restore, Guards, Reporting):
    """Runs one recipe in one process (one rank of a torchrun job)."""

    def __init__(self, recipe: RecipeBase, *, output_dir: Path | None = None, resume: bool = False,
                 device: str | None = None, quiet: bool = False, allow_nonempty: bool = False,
                 allow_changes: bool = False, tags: dict[str, str] | None = None) -> None:
        self.recipe = recipe
        self.out = Path(output_dir) if output_dir is not None else recipe.output_dir
        self.resume = resume
        self.allow_nonempty = allow_nonempty
        self.allow_changes = allow_changes
        self.lock: RunLock | None = None
        self.tags = dict(tags or {})  # what a tracker groups runs by (a sweep's variant, seed)
        self.loggers: Loggers | None = None
        self.checkpointer: Checkpointer | None = None
        self.device = resolve_device(device or recipe.train.device)
        self.dist = D.init_distributed(self.device.type)
        if self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        self.quiet = quiet or not self.dist.is_main
        try:
            self._setup()
        except BaseException:
            self.close()  # a refused set-up leaves the run directory free
            raise

    # -- set-up ----------------------------------------------------------------------------
    def _setup(self) -> None:
        r, t = self.recipe, self.recipe.train
        seed = r.run.seed
        # Data first: a missing data root must fail before any other work.
        self.dataset = build_dataset(r.data, train=True, seed=seed)
        if self.dist.is_main:
            prepare_output_dir(self.out, resume=self.resume, allow_nonempty=self.allow_nonempty)
            self.lock = RunLock(self.out).acquire()  # held until the run ends (``close``)
            for folder in (self.out, self.out / "checkpoints"):  # left by a killed save
                remove_stale_temp_files(folder)
            remove_stale_partials(self.out / "checkpoints")
        D.barrier(self.dist)

        # The loader yields micro-batches; an optimizer step takes ``accumulate_steps`` of them.
        self.accumulate = t.accumulate_steps
        micro = batches_per_epoch(len(self.dataset), t.batch_size, self.dist.world_size)
        self.ipe = micro // self.accumulate  # optimizer steps per epoch
        self.batches_per_epoch = self.ipe * self.accumulate  # micro-batches an epoch uses
        if self.ipe == 0:
            raise UserError(
                f"data: {len(self.dataset)} images give no full optimizer step of "
                f"train.batch_size={t.batch_size} x train.accumulate_steps={self.accumulate} "
                f"per process; lower train.batch_size or train.accumulate_steps"
            )
        configure_precision(self.device, t, is_main=self.dist.is_main)
        o = r.optim
        self.lengths = ScheduleLengths(self.ipe, t.epochs, o.warmup_epochs, o.ipe_scale)
        self.total_steps = t.epochs * self.ipe
        if t.max_steps is not None:
            self.total_steps = min(self.total_steps, t.max_steps)

        torch.manual_seed(seed)  # identical initial weights on every rank
        self.method = build_method(r, lengths=self.lengths).to(self.device)
        self.regularizers = build_regularizers(r.regularizers, seed=seed).to(self.device)
        teacher = getattr(r, "target_updater", None)
        if teacher is not None and self.dist.is_main:
            advice = retention_warning(teacher, total_steps=self.lengths.momentum_steps,
                                       run_steps=self.total_steps)
            if advice is not None:
                warnings.warn(advice, stacklevel=2)
        found = self._find_resume_point()
        if found is None and t.init_from:
            self.method.load_state_dict(read_checkpoint(t.init_from), t.init_from)
        self.loader = build_loader(
            self.dataset, self.method.views, self.method.collator(seed=seed, rank=self.dist.rank),
            batch_size=t.batch_size, seed=seed, rank=self.dist.rank,
            world_size=self.dist.world_size, num_workers=r.data.num_workers,
            pin_memory=self.device.type == "cuda",
        )
        trainable = [self.method.networks[name] for name in self.method.trainable]
        if t.activation_checkpointing:
            checkpoint_activations(self.method.networks, self.method.trainable)
        self.parallel = Parallel(r.distributed.strategy, self.dist, self.device)
        self.parallel.shard(self.method.networks, precision=t.precision,
                            reshard_after_forward=r.distributed.reshard_after_forward,
                            keep_plain=tuple(self.method.eval_encoders.values()))
        self._modules = nn.ModuleDict(self.method.networks)  # names as checkpoints key them
        self._params = [p for network in trainable for p in network.parameters()
                        if p.requires_grad]
        self.optimizer = build_optimizer(o.optimizer, self.method.param_groups(),
                                         device=self.device)
        self.schedule = OptimSchedule(self.optimizer, self.lengths, start_lr=o.start_lr, lr=o.lr,
                                      final_lr=o.final_lr, wd=o.weight_decay,
                                      final_wd=o.final_weight_decay,
                                      lr_schedule=o.lr_schedule, wd_schedule=o.wd_schedule)
        self.step, self.epoch, self.step_in_epoch = 0, 0, 0
        self._check_every_step = self.device.type == "cpu" or t.max_bad_steps > 0
        self._bad_steps = 0
        self._collapsed_logs = 0  # consecutive log steps the monitors reported collapse
        self.skipped_images = 0  # unreadable files replaced (data.skip_corrupt)
        self._knn: Any = None
        self._first_bad = torch.full((), -1, dtype=torch.long, device=self.device)
        e = r.eval
        self.monitor = (
            CollapseMonitor(batches=e.rankme_batches, min_std=e.min_feature_std,
                            min_rankme=e.min_rankme) if e.monitors else None)
        self.checkpointer = Checkpointer(
            self.out / "checkpoints", dist=self.dist, parallel=self.parallel,
            fmt=t.checkpoint_format, background=t.async_checkpoint, keep_last=t.keep_last)
        self._restore(found)

        # What the step calls: trainable networks through DDP and compile, the rest as built.
        self.nets: dict[str, nn.Module] = dict(self.method.networks)
        for name in self.method.trainable:
            net = self.parallel.wrap(self.nets[name])
            if t.compile:
                net = compile_network(net, static=self.method.static_shapes)
            self.nets[name] = net
        if self.dist.is_main:  # a tracker that cannot start stops the run here, last in
            # set-up (so nothing after it can leave an empty metrics.jsonl), never mid-run
            self.loggers = open_run_loggers(
                r, self.out, start_step=self.step, resumed=self.resumed_from is not None,
                tags=self.tags, world_size=self.dist.world_size, device=str(self.device),
                dataset=self.dataset)

    # -- the loop --------------------------------------------------------------------------
    def _checkpoint(self) -> Path:
        """Every process calls this at the same steps (a sharded save needs them all)."""
        record = CheckpointRecord(
            step=self.step, epoch=self.epoch, step_in_epoch=self.step_in_epoch,
            method=self.recipe.method.kind, networks=dict.fromkeys(self.method.networks),
            rng=capture_rng(), recipe=recipe_to_dict(self.recipe),
            versions={"jepa-kit": __version__, **component_versions()},
            metrics={"loss": float(self._last[1])}, iterations_per_epoch=self.ipe,
            world_size=self.dist.world_size, strategy=self.parallel.describe()["strategy"],
        )
        assert self.checkpointer is not None
        return self.checkpointer.save(record, self._modules, self.optimizer)

    def run(self) -> RunResult:
        result = RunResult(self.out, self.step)
        log = self.loggers
        previous = None  # finished.json as it was: kept when this start trains no step
        if self.dist.is_main:
            previous = clear_finished(self.out)
            self._write_run_files()
        start_step = self.step
        display = ProgressDisplay(self.total_steps, self.step, enabled=not self.quiet)
        if self.resumed_from is not None:
            display.message(f"resumed from {self.resumed_from} at step {self.step}")
            for change in self.resume_changes:
                display.message(f"[bold yellow]changed since the checkpoint:[/] {change}")
        wall = time.perf_counter()
        try:
            with StopSignals() as stop:
                self._loop(result, log, display, stop)
            assert self.checkpointer is not None
            self.checkpointer.wait()  # the last checkpoint is on disk before "finished"
            status = "finished"
        except StopRequested:
            status = "stopped"
            raise
        except BaseException:
            status = "failed"
            raise
        finally:
            display.close()
            if log is not None:
                log.close(status)
        result.step = self.step
        elapsed = time.perf_counter() - wall
        if self.dist.is_main:
            write_finished(self.out, {"step": self.step, "total_steps": self.total_steps,
                                      "epoch": self.epoch, "wall_s": round(elapsed, 3),
                                      "resumed_from_step": start_step}, previous=previous)
        last = result.losses[-1] if result.losses else math.nan
        display.message(f"finished at step {self.step}: loss {last:.4f}, {elapsed:.1f} s, "
                        f"run in {self.out}")
        if self.skipped_images:
            display.message(f"[bold yellow]{self.skipped_images} unreadable sample(s) were "
                            f"replaced (data.skip_corrupt); rank 0's are listed in "
                            f"{self.out / SKIPPED_FILES}")
        D.barrier(self.dist)
        return result

    def _loop(self, result: RunResult, log: Loggers | None, display: ProgressDisplay,
              stop: StopSignals) -> None:
        t = self.recipe.train
        while self.step < self.total_steps:
            if self.step_in_epoch >= self.batches_per_epoch:
                self.epoch, self.step_in_epoch = self.epoch + 1, 0
            if self.epoch >= t.epochs:
                break  # skipped bad steps can leave the data short of total_steps
            set_epoch(self.loader, self.epoch, start_batch=self.step_in_epoch)
            tic = time.perf_counter()
            micro: list[Batch] = []
            for batch in self.loader:
                if self.step_in_epoch >= self.batches_per_epoch:
                    break  # the micro-batches left over by accumulation
                self.skipped_images += batch.skipped
                if batch.skipped_files and self.dist.is_main:
                    write_skipped_files(self.out, batch.skipped_files)
                micro.append(batch)
                self.step_in_epoch += 1
                if len(micro) < self.accumulate:
                    continue
                data_wait = time.perf_counter() - tic
                applied = self._train_step(micro)
                micro = []
                if applied:
                    self.step += 1
                    # Only the batches just before a log step feed the RankMe queue.
                    if self.monitor is not None and \
                            (-self.step) % t.log_every < self.monitor.queue.maxlen:
                        self._observe(self._last[0])
                    logging_now = self.step % t.log_every == 0 or self.step == self.total_steps
                    saving_now = self.step % t.checkpoint_every == 0 or \
                        self.step == self.total_steps
                    # Every rank checks at the same steps, so a bad step stops them all.
                    if logging_now or saving_now:
                        self._raise_if_nonfinite()
                    if saving_now:
                        self._raise_if_weights_nonfinite()
                    if logging_now:
                        row = self._metrics_row(batch, data_wait, time.perf_counter() - tic)
                        result.losses.append(row["loss"])
                        if log is not None:
                            log.write(row)
                        display.update(row)
                        for message in row.get("collapse_warnings", []):
                            if self.quiet:
                                warnings.warn(message, CollapseWarning, stacklevel=2)
                            else:
                                display.message(f"[bold yellow]warning:[/] {message}")
                        if t.stop_on_collapse:
                            self._count_collapse(row, log)
                    # While collapsed, the last checkpoint stays the one from before.
                    if saving_now and (not self._collapsed_logs or self.step == self.total_steps):
                        result.checkpoint = self._checkpoint()
                    else:
                        self.checkpointer.poll()  # type: ignore[union-attr]
                    # Every rank asks at the same steps, so the vote never hangs.
                    if (self.step % 10 == 0 or logging_now or saving_now) and \
                            (signum := self._stop_vote(stop.signum)):
                        if not saving_now:
                            self._raise_if_nonfinite()
                            self._raise_if_weights_nonfinite()
                            result.checkpoint = self._checkpoint()
                        self.checkpointer.wait()  # type: ignore[union-attr]
                        D.barrier(self.dist)
                        raise StopRequested(signum, self.step, result.checkpoint)
                if self.step_in_epoch == self.batches_per_epoch:
                    self._maybe_evaluate(log, display)
                if self.step >= self.total_steps:
                    break
                tic = time.perf_counter()

    def _train_step(self, micro: list[Batch]) -> bool:
        """One optimizer step over ``accumulate_steps`` micro-batches; False when a non-finite
        loss was skipped (``max_bad_steps``)."""
        step = self.step + 1
        lr, wd = self.schedule.apply(step)
        self.optimizer.zero_grad(set_to_none=True)
        total = torch.zeros((), device=self.device)
        for i, batch in enumerate(micro):
            batch = batch.to(self.device, non_blocking=True)
            last = i == len(micro) - 1
            # Gradients are averaged over ranks once, on the last micro-batch.
            with contextlib.nullcontext() if last else self.parallel.no_grad_sync():
                out = self.regularizers(self.method.forward(batch, self.nets), step=step)
                # The mean of equal micro-batch means is the mean over the whole batch.
                (out.loss / len(micro) if len(micro) > 1 else out.loss).backward()
            total += out.loss.detach()
        loss = D.all_reduce_mean(total / len(micro), self.dist)
        if not self._usable_loss(step, loss):
            return False
        logged: dict[str, Any] = {}
        clip = self.recipe.train.grad_clip
        if clip is not None:
            logged["grad_norm"] = self.parallel.clip_grad_norm(self._params, clip)
        self.optimizer.step()
        with torch.no_grad():
            logged.update(self.method.after_step(step))
        self._last = (out, loss, lr, wd, logged)
        self._images_per_step = len(batch) * len(micro) * self.dist.world_size
        return True

    def _stop_vote(self, signum: int) -> int:
        """The signal any rank received (0: none), agreed by every rank."""
        if not self.dist.enabled:
            return signum
        flag = torch.tensor([signum], device=self.device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        return int(flag.item())

    def close(self) -> None:
        """Finish a background checkpoint write, then release the run directory (its lock);
        the run's files stay."""
        if self.checkpointer is not None:
            checkpointer, self.checkpointer = self.checkpointer, None
            try:
                checkpointer.close()
            except UserError as exc:
                warnings.warn(str(exc), stacklevel=2)
        if self.loggers is not None:  # closed by run(); here when it never ran
            self.loggers.close("failed")
        if self.lock is not None:
            self.lock.release()
            self.lock = None



def train(recipe: RecipeBase, **options: Any) -> RunResult:
    """Build a ``Trainer`` for ``recipe`` and run it to the end."""
    trainer = Trainer(recipe, **options)
    try:
        return trainer.run()
    finally:
        trainer.close()
        D.shutdown(trainer.dist)

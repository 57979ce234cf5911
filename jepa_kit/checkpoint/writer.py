"""Writing checkpoints during a run and reading them back into a live run, for any strategy.

Two formats (``train.checkpoint_format``): ``file``, one ``step_N.pt`` that rank 0 writes
(``jepa_kit.checkpoint.files``; under FSDP the shards are gathered to rank 0 first), and
``sharded``, a ``step_N.dcp`` folder every process writes its share into
(``jepa_kit.checkpoint.sharded``). Either may be written in the background
(``train.async_checkpoint``): the step waits only while the state is copied to host memory;
the copy is written by a thread, and the checkpoint is renamed into place, and older ones
pruned, when the write has finished. A failed background write stops the run at the next
checkpoint, at the end, or at a stop signal, naming the file; the previous checkpoints are
untouched (pruning follows a finished write only).

Any checkpoint resumes under any strategy: sharded folders are re-sliced by DCP, and a file's
full weights and its optimizer state (keyed by parameter order) are mapped to parameter names
and scattered to the shards.
"""

from __future__ import annotations

import concurrent.futures
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from jepa_kit.checkpoint import dcp_io, sharded
from jepa_kit.checkpoint.discovery import checkpoint_name, prune_checkpoints
from jepa_kit.checkpoint.failures import DCP_ERRORS, explain, root_cause
from jepa_kit.checkpoint.files import save_checkpoint
from jepa_kit.checkpoint.record import CheckpointRecord
from jepa_kit.errors import UserError

if TYPE_CHECKING:  # the training engine sits above this package; only its types are used
    from jepa_kit.train.distributed import DistInfo
    from jepa_kit.train.parallel import Parallel


def _names_by_group(modules: nn.Module, optimizer: torch.optim.Optimizer) -> list[list[str]]:
    name_of = {id(p): name for name, p in modules.named_parameters()}
    return [[name_of[id(p)] for p in group["params"]] for group in optimizer.param_groups]


def optimizer_by_name(saved: dict[str, Any], names: list[list[str]], source: str
                      ) -> dict[str, Any]:
    """A ``torch.optim`` state dict (parameters numbered in group order) keyed by parameter
    name instead, for the optimizer whose groups hold the parameters ``names``."""
    groups = saved.get("param_groups", [])
    if [len(g["params"]) for g in groups] != [len(n) for n in names]:
        raise UserError(f"{source}: its optimizer state has groups of "
                        f"{[len(g['params']) for g in groups]} parameters, the run's optimizer "
                        f"{[len(n) for n in names]}")
    state: dict[str, Any] = {}
    out_groups = []
    for group, group_names in zip(groups, names, strict=True):
        for index, name in zip(group["params"], group_names, strict=True):
            if index in saved["state"]:
                state[name] = saved["state"][index]
        out_groups.append({**group, "params": list(group_names)})
    return {"state": state, "param_groups": out_groups}


def optimizer_by_index(by_name: dict[str, Any], names: list[list[str]]) -> dict[str, Any]:
    """The inverse of ``optimizer_by_name``: what ``optimizer.state_dict()`` would return."""
    index = {name: i for i, name in enumerate(n for group in names for n in group)}
    state = {index[name]: value for name, value in by_name["state"].items()}
    groups = [{**group, "params": [index[n] for n in group_names]}
              for group, group_names in zip(by_name["param_groups"], names, strict=True)]
    return {"state": state, "param_groups": groups}


def _to_host(value: Any) -> Any:
    """A snapshot on the CPU that later in-place updates of the live state cannot change."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: _to_host(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_host(v) for v in value)
    return value


class Checkpointer:
    """Saves (every process calls ``save`` together) and restores one run's checkpoints."""

    def __init__(self, directory: Path, *, dist: DistInfo, parallel: Parallel, fmt: str,
                 background: bool, keep_last: int) -> None:
        self.directory, self.dist, self.parallel = directory, dist, parallel
        self.sharded = fmt == "sharded" or (fmt == "auto" and parallel.fsdp)
        self.background, self.keep_last = background, keep_last
        self._pool = concurrent.futures.ThreadPoolExecutor(1) if background else None
        self._pending: tuple[concurrent.futures.Future[Any], Callable[[], None], Path] | None
        self._pending = None
        self._group: Any = None
        if background and self.sharded and dist.enabled:
            # The background write runs collectives while the step runs its own: a separate
            # (CPU) group keeps them apart, on gloo as on NCCL.
            self._group = torch.distributed.new_group(backend="gloo")

    # -- writing ---------------------------------------------------------------------------
    def save(self, record: CheckpointRecord, modules: nn.ModuleDict,
             optimizer: torch.optim.Optimizer) -> Path:
        """Write the checkpoint of ``record.step``: the record (the run's position, RNG,
        recipe) plus the weights of every network in ``modules`` and the optimizer's state.
        Returns the path it has (or will have) once done."""
        self.wait()  # one write at a time: its host copy is the memory of one state
        if self.sharded:
            return self._save_sharded(record, modules, optimizer)
        return self._save_file(record, modules, optimizer)

    def _save_file(self, record: CheckpointRecord, modules: nn.ModuleDict,
                   optimizer: torch.optim.Optimizer) -> Path:
        step = record.step
        path = self.directory / checkpoint_name(step)
        if self.parallel.fsdp:
            from torch.distributed.checkpoint.state_dict import (
                StateDictOptions,
                get_model_state_dict,
                get_optimizer_state_dict,
            )
            full = StateDictOptions(full_state_dict=True, cpu_offload=True)
            weights = get_model_state_dict(modules, options=full)  # rank 0 gets them
            by_name = get_optimizer_state_dict(modules, optimizer, options=full)
            if not self.dist.is_main:
                return path
            networks = {name: {k[len(name) + 1:]: v for k, v in weights.items()
                               if k.startswith(name + ".")} for name in modules}
            optim = optimizer_by_index(by_name, _names_by_group(modules, optimizer))
        else:
            if not self.dist.is_main:
                return path
            networks = {name: net.state_dict() for name, net in modules.items()}
            optim = optimizer.state_dict()
        payload = record.with_weights(networks, optim).to_payload()
        if self._pool is None:
            save_checkpoint(path, payload)
            self._prune(step)
            return path
        payload = _to_host(payload)
        future = self._pool.submit(save_checkpoint, path, payload)
        self._pending = (future, lambda: self._prune(step), path)
        return path

    def _save_sharded(self, record: CheckpointRecord, modules: nn.ModuleDict,
                      optimizer: torch.optim.Optimizer) -> Path:
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import (
            get_model_state_dict,
            get_optimizer_state_dict,
        )

        step = record.step
        final = self.directory / sharded.sharded_name(step)
        partial = sharded.partial_path(final)
        state = {sharded.MODEL: get_model_state_dict(modules),
                 sharded.OPTIM: get_optimizer_state_dict(modules, optimizer)}
        if self.dist.is_main:
            partial.mkdir(parents=True, exist_ok=True)
            meta = replace(record.without_tensors(), checksums="sha256")
            save_checkpoint(partial / sharded.META, meta.to_payload())

        def finish() -> None:
            if self.dist.is_main:
                sharded.publish(partial, final)
                self._prune(step)

        with warnings.catch_warnings():
            # DCP warns about its own planner internals on every save.
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", UserWarning)
            writer = dcp_io.HashingWriter(str(partial))
            if not self.background:
                try:
                    dcp.save(state, storage_writer=writer)
                except DCP_ERRORS as exc:
                    raise UserError(f"{final}: the checkpoint could not be written "
                                    f"({explain(exc)}); the previous checkpoints are intact"
                                    ) from None
                finish()
                return final
            future = dcp.async_save(state, storage_writer=writer, process_group=self._group)
        self._pending = (future, finish, final)  # type: ignore[assignment]
        return final

    def _prune(self, step: int) -> None:
        prune_checkpoints(self.directory, self.keep_last, current_step=step)

    def poll(self) -> None:
        """Publish a background write that has finished (never blocks)."""
        if self._pending is not None and self._pending[0].done():
            self.wait()

    def wait(self) -> None:
        """Block until the background write (if any) is on disk, then publish it."""
        if self._pending is None:
            return
        future, finish, path = self._pending
        self._pending = None
        try:
            future.result()
        except UserError:
            raise  # already names the file and the cause
        except DCP_ERRORS as exc:
            raise UserError(f"{path}: the checkpoint could not be written ({explain(exc)}); "
                            f"the previous checkpoints are intact") from None
        finish()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            if self._group is not None:
                torch.distributed.destroy_process_group(self._group)
                self._group = None

    # -- reading ---------------------------------------------------------------------------
    def restore(self, path: Path, record: CheckpointRecord, modules: nn.ModuleDict,
                optimizer: torch.optim.Optimizer, load_plain: Callable[[], None]) -> None:
        """Load ``path`` (its ``record``) into the live networks and optimizer.
        ``load_plain`` is the exact single-strategy path (a file into unsharded networks)."""
        if sharded.is_sharded(path):
            self._restore_sharded(path, modules, optimizer)
        elif self.parallel.fsdp:
            self._restore_file_into_shards(path, record, modules, optimizer)
        else:
            load_plain()

    @staticmethod
    def _restore_sharded(path: Path, modules: nn.ModuleDict,
                         optimizer: torch.optim.Optimizer) -> None:
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import (
            get_model_state_dict,
            get_optimizer_state_dict,
            set_model_state_dict,
            set_optimizer_state_dict,
        )

        state = {sharded.MODEL: get_model_state_dict(modules),
                 sharded.OPTIM: get_optimizer_state_dict(modules, optimizer)}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", UserWarning)
                dcp.load(state, storage_reader=dcp_io.SafeReader(str(path)),
                         planner=dcp_io.SafePlanner())
        except DCP_ERRORS as exc:
            what = ("unreadable sharded checkpoint" if isinstance(root_cause(exc), OSError)
                    else "does not fit the recipe's networks or optimizer")
            raise UserError(f"{path}: {what} ({explain(exc)})") from None
        try:
            set_model_state_dict(modules, state[sharded.MODEL])
            set_optimizer_state_dict(modules, optimizer, state[sharded.OPTIM])
        except (RuntimeError, KeyError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"{path}: does not fit the recipe's networks or optimizer: "
                            f"{first}") from None

    @staticmethod
    def _restore_file_into_shards(path: Path, record: CheckpointRecord, modules: nn.ModuleDict,
                                  optimizer: torch.optim.Optimizer) -> None:
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_model_state_dict,
            set_optimizer_state_dict,
        )

        full = StateDictOptions(full_state_dict=True)
        weights = {f"{name}.{key}": value for name in modules
                   for key, value in record.weights(name, str(path)).items()}
        try:
            set_model_state_dict(modules, weights, options=full)
        except RuntimeError as exc:
            raise UserError(f"{path}: weights do not fit the recipe's networks: "
                            f"{str(exc).splitlines()[0]}") from None
        if record.optimizer is not None:
            by_name = optimizer_by_name(record.optimizer, _names_by_group(modules, optimizer),
                                        str(path))
            set_optimizer_state_dict(modules, optimizer, by_name, options=full)

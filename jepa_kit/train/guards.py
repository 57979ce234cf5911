"""The trainer's guards: a checkpoint never holds NaN or inf weights, a non-finite loss stops the
run (or is skipped, up to ``train.max_bad_steps``), and collapse stops it when
``train.stop_on_collapse`` asks. Every rank checks at the same steps, so all stop together."""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch

from jepa_kit.loggers.hub import Loggers
from jepa_kit.train.outcomes import CollapseStopped, NonFiniteLossError


class Guards:
    """Mixed into ``Trainer``; reads its ``recipe``, ``dist``, ``device``, ``method``,
    ``parallel``, ``checkpointer``, ``out``, ``step``, ``epoch`` and the counters set up in
    ``Trainer._setup`` (``_check_every_step``, ``_first_bad``, ``_collapsed_logs``)."""

    def _usable_loss(self, step: int, loss: torch.Tensor) -> bool:
        """False when ``loss`` is not finite and the step is to be skipped
        (``train.max_bad_steps``); raises when the run must stop."""
        if self._check_every_step:
            # One host sync per step; free on the CPU, and needed to skip a bad step.
            if not math.isfinite(float(loss)):
                self._bad_steps += 1
                if self._bad_steps > self.recipe.train.max_bad_steps:
                    raise NonFiniteLossError(self._nonfinite_message(step, float(loss)))
                warnings.warn(f"skipped step {step}: non-finite loss", stacklevel=3)
                self.optimizer.zero_grad(set_to_none=True)
                return False
        else:
            # On a GPU the first bad step is recorded on the device and checked when logging or
            # before a checkpoint, so the weights a checkpoint holds are always finite.
            bad = ~torch.isfinite(loss) & (self._first_bad < 0)
            self._first_bad = torch.where(bad, torch.full_like(self._first_bad, step),
                                          self._first_bad)
        return True

    def _raise_if_weights_nonfinite(self) -> None:
        """A checkpoint never holds NaN or inf: the loss is checked before the update, the
        weights after it (an exploding step can leave a finite loss and broken weights)."""
        for name, network in self.method.networks.items():
            bad, total = self.parallel.nonfinite_weights(network)
            if bad:
                raise NonFiniteLossError(
                    f"non-finite weights in network {name!r} after step {self.step} ("
                    f"{len(bad)} of {total} tensors, e.g. {bad[0]}); the "
                    f"run stopped and the last checkpoint was left intact (lower optim.lr?)")

    def _raise_if_nonfinite(self) -> None:
        if self._check_every_step:
            return
        first = int(self._first_bad)
        if first >= 0:
            raise NonFiniteLossError(self._nonfinite_message(first, math.nan))

    def _count_collapse(self, row: dict[str, Any], log: Loggers | None) -> None:
        """Count log steps in a row whose monitors report collapse (agreed by every rank, so
        all stop together); stop at ``train.stop_on_collapse``."""
        collapsed = torch.tensor([bool(row.get("collapse_warnings"))], device=self.device)
        if self.dist.enabled:
            torch.distributed.all_reduce(collapsed, op=torch.distributed.ReduceOp.MAX)
        self._collapsed_logs = self._collapsed_logs + 1 if bool(collapsed.item()) else 0
        limit = self.recipe.train.stop_on_collapse
        if self._collapsed_logs < limit:
            return
        self.checkpointer.wait()  # type: ignore[union-attr]
        last = self._last_checkpoint_step()
        reason = "; ".join(row.get("collapse_warnings", [])) or "collapse on another rank"
        message = (f"collapsed: the monitors reported collapse at {limit} log steps in a row "
                   f"(train.stop_on_collapse = {limit}), the last at step {self.step}: {reason}; "
                   f"the newest checkpoint is from step {last}, before the collapse"
                   if last is not None else
                   f"collapsed: the monitors reported collapse at {limit} log steps in a row "
                   f"(train.stop_on_collapse = {limit}), the last at step {self.step}: {reason}; "
                   f"no checkpoint was written before it")
        if log is not None:
            log.write({"step": self.step, "epoch": self.epoch, "stopped": "collapsed",
                       "reason": message})
        raise CollapseStopped(message)

    def _last_checkpoint_step(self) -> int | None:
        from jepa_kit.checkpoint import checkpoint_step, list_checkpoints

        found = list_checkpoints(self.out / "checkpoints")
        return checkpoint_step(found[-1]) if found else None

    @staticmethod
    def _nonfinite_message(step: int, value: float) -> str:
        return (f"non-finite loss ({value}) at step {step}; the run stopped and the last "
                f"checkpoint was left intact (train.max_bad_steps allows skipping bad steps)")

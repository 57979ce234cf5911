"""SIGTERM and SIGINT as requests to stop at the next step boundary, after a checkpoint.

Schedulers pre-empt jobs with SIGTERM and a grace period (SLURM: ``--signal``); a first Ctrl-C
is the same request from a person. The handler only sets a flag; the trainer finishes the step
it is in, writes a checkpoint and stops, so ``--resume`` continues exactly. A repeated SIGTERM
changes nothing (a job's workers often get one from the scheduler and one from torchrun); a
second Ctrl-C stops at once.
"""

from __future__ import annotations

import signal
from types import FrameType, TracebackType
from typing import Any


class StopRequested(RuntimeError):
    """The run stopped early on a signal; its checkpoint is ``checkpoint``."""

    def __init__(self, signum: int, step: int, checkpoint: object) -> None:
        self.signum = signum
        self.step = step
        self.checkpoint = checkpoint
        name = signal.Signals(signum).name
        where = f"checkpoint {checkpoint}" if checkpoint is not None else \
            "rank 0 wrote the checkpoint"
        super().__init__(f"{name}: stopped after step {step}; {where} (continue with --resume)")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class StopSignals:
    """``with StopSignals() as stop:`` ... ``if stop.signum:`` stop at a step boundary."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.signum = 0
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signum = self.signum or signum
        if signum == signal.SIGINT:  # a second Ctrl-C stops at once
            signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))
        # SIGTERM keeps this handler: SLURM and torchrun may both send one to each worker, and
        # the scheduler's own SIGKILL bounds the wait.

    def __enter__(self) -> StopSignals:
        try:
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        except ValueError:  # not the main thread: leave signals alone
            self._previous.clear()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

"""DataLoader workers leave stop requests to the training process.

A scheduler's SIGTERM (SLURM, torchrun, ``timeout``) and a terminal's Ctrl-C reach every
process of the group or job, the loader workers included. A worker that died of it took the
run with it: the training process got ``DataLoader worker ... killed by signal`` at its next
batch, before the step boundary where it writes the stop checkpoint
(``jepa_kit.train.signals``). So workers ignore SIGINT, and take SIGTERM only from the
process that started them: that is how the DataLoader shuts them down (``Process.terminate``,
and multiprocessing's exit handler, which then waits for them without a timeout; a plain
``SIG_IGN`` would hang the exit of a run whose persistent workers are still up).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable


def _exit_on_parents_sigterm(parents: frozenset[int]) -> None:
    while True:
        info = signal.sigwaitinfo({signal.SIGTERM})
        if info.si_pid in parents:
            # What torch's own worker handler does for its parent's SIGTERM
            # (torch/csrc/DataLoader.cpp): exit 0, so the loader reports no failed worker.
            os._exit(0)


def shield_from_stop_signals(owner: int | None = None) -> None:
    """In a DataLoader worker: ignore SIGINT; SIGTERM ends it only when its parent sends it,
    or ``owner``, the process that made the DataLoader (under spawn and forkserver the worker's
    parent is another process)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Python handlers cannot see the sender, ``sigwaitinfo`` can. The signal must be blocked
    # in every thread for it to wait there; threads started later (queue feeders, the
    # dataset's own) inherit this thread's mask, and at this point the worker has no other.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    threading.Thread(target=_exit_on_parents_sigterm, args=(frozenset({os.getppid(), owner or 0}),),
                     name="jepa-kit-sigterm", daemon=True).start()


class WorkerInit:
    """A ``worker_init_fn`` that shields the worker, then runs ``then`` (if any).

    A class at module level, not a closure: workers started with spawn or forkserver pickle it.
    """

    def __init__(self, then: Callable[[int], None] | None = None) -> None:
        self.then = then
        self.owner = os.getpid()  # made in the training process, called in the worker

    def __call__(self, worker_id: int) -> None:
        shield_from_stop_signals(self.owner)
        if self.then is not None:
            self.then(worker_id)

"""``run --nproc N``: torchrun's agent in this process, its workers tied to it.

The launcher *is* torchrun (``torch.distributed.run``, called in-process), not its parent:

- **Signals.** SIGTERM or SIGINT to the launcher (or to its process group: ``timeout``, a
  terminal's Ctrl-C; torchrun starts each worker in a session of its own, so only the launcher
  hears those) reaches every worker once, through torchrun's own shutdown: send the signal,
  wait ``--shutdown-timeout`` (30 s), then SIGKILL. A repeated SIGTERM changes nothing (SLURM
  may signal the workers too); a second Ctrl-C is passed on to the workers, which then stop at
  once, and the launcher still waits for them. torchrun's own handler would raise again inside
  that wait and return while the workers run on.
- **No orphans.** Each worker asks the kernel to SIGKILL it when the launcher dies
  (``PR_SET_PDEATHSIG``, set by ``watch_launcher`` at the worker's start), so even a
  ``kill -9`` of the launcher leaves no training process behind. A kernel mechanism, not a
  polling thread: it holds while the worker sits in a collective or a long step, and needs no
  cooperation from torchrun. SIGKILL, not SIGTERM: a launcher that died without stopping its
  workers was killed hard, and nothing would be left to bound a graceful stop (torchrun's
  shutdown timeout); the last periodic checkpoint is intact. The launcher is also a child
  subreaper: loader workers orphaned by a dead worker come to it, and it returns only once
  they are gone (they hold the run folder's lock).
- **Exit codes.** Each worker writes its exit code and final message to a report file; the
  launcher exits with the code of the first rank that failed (2 for a user error, 143 for a
  SIGTERM stop, ...) and prints each distinct message once, without torchrun's traceback.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

from jepa_kit.cli.console import err

LAUNCHER_ENV = "JEPA_KIT_LAUNCHER_PID"
REPORTS_ENV = "JEPA_KIT_LAUNCH_REPORTS"
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
#: How long loader workers orphaned by a dead worker get to notice it (torch's workers poll
#: their parent every 5 s) before the launcher kills them.
_ORPHAN_GRACE_S = 15.0



def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(option, value, 0, 0, 0) == 0


def without_nproc(args: list[str]) -> list[str]:
    """The command line with ``--nproc N`` / ``--nproc=N`` removed."""
    cleaned: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            cleaned.append(arg)
    return cleaned


class _Forwarder:
    """SIGTERM/SIGINT handler of the launcher from torchrun's start until every child is gone.

    The first signal while torchrun's agent runs is raised as torchrun's ``SignalException``,
    torchrun's own reaction: its agent sends the signal to each worker and waits for them.
    """

    def __init__(self, raise_first: type[BaseException]) -> None:
        self.raise_first = raise_first
        self.first = 0
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.first:
            self.first = signum
            raise self.raise_first(f"launcher got {signal.Signals(signum).name}",
                                   sigval=signal.Signals(signum))  # type: ignore[call-arg]
        if signum == signal.SIGINT:  # a second Ctrl-C: the workers stop at once
            for pid in _children():
                _kill(pid, signal.SIGINT)

    def __enter__(self) -> _Forwarder:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _children() -> list[int]:
    me = os.getpid()
    found: list[int] = []
    if not Path("/proc").is_dir():  # not Linux: no second-Ctrl-C forwarding, no orphan sweep
        return found
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        if int(stat.rsplit(")", 1)[1].split()[1]) == me:
            found.append(int(entry.name))
    return found


def _kill(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _reap_children(grace_s: float) -> None:
    """Wait for every child (orphans included, as a subreaper); SIGKILL those left after
    ``grace_s``."""
    deadline = time.monotonic() + grace_s
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid:
            continue
        if time.monotonic() > deadline:
            for child in _children():
                _kill(child, signal.SIGKILL)
        time.sleep(0.1)


def _run_torchrun(nproc: int, args: list[str]) -> tuple[int, dict[int, int]]:
    """torchrun in this process: (its exit code, the exit code of each failed rank)."""
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    def code(exitcode: int) -> int:
        return 128 - exitcode if exitcode < 0 else exitcode  # -15: killed by SIGTERM

    # The launcher handles SIGTERM and SIGINT (``_Forwarder``); torchrun keeps the others.
    os.environ["TORCHELASTIC_SIGNALS_TO_HANDLE"] = "SIGHUP,SIGQUIT"
    parsed = torchrun.parse_args(["--standalone", f"--nproc_per_node={nproc}",
                                  "-m", "jepa_kit", *args])
    with _Forwarder(SignalException) as forwarder:
        try:
            torchrun.run(parsed)
            result: tuple[int, dict[int, int]] = (0, {})
        except ChildFailedError as exc:
            failures = {rank: code(f.exitcode) for rank, f in exc.failures.items()}
            result = (failures[exc.get_first_failure()[0]], failures)
        except SignalException as exc:
            result = (128 + int(exc.sigval), {})
        finally:
            forwarder.first = forwarder.first or -1  # from here on, signals raise nothing
            _reap_children(_ORPHAN_GRACE_S)
    return result


def launch(nproc: int, argv: list[str]) -> int:
    """Run ``jepa-kit <argv>`` (``--nproc`` removed) on ``nproc`` local processes; the exit
    code is the first failed worker's own."""
    args = without_nproc(argv)
    err.print("launching: torchrun --standalone --nproc_per_node="
              f"{nproc} -m jepa_kit {' '.join(args)}")
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    with tempfile.TemporaryDirectory(prefix="jepa-kit-launch-") as reports:
        os.environ[LAUNCHER_ENV] = str(os.getpid())
        os.environ[REPORTS_ENV] = reports
        code, failures = _run_torchrun(nproc, args)
        return _summarize(Path(reports), code, failures, nproc)


def _summarize(reports: Path, code: int, failures: dict[int, int], nproc: int) -> int:
    """Print each distinct worker message once; return the first failed rank's code."""
    found = [json.loads(p.read_text()) for p in sorted(reports.glob("rank*.json"))]
    if len(found) == nproc and not any(r["code"] for r in found):
        return 0  # every rank finished (a signal came too late to matter)
    failed = sorted((r for r in found if r["code"]), key=lambda r: r["time"])
    for message in dict.fromkeys(r["message"] for r in failed if r["message"]):
        sys.stderr.write(message if message.endswith("\n") else message + "\n")
    # No rank said why (killed, or died before its report): torchrun's account.
    for rank, rank_code in sorted(failures.items()) if not failed else ():
        how = f"was killed by {signal.Signals(rank_code - 128).name}" \
            if rank_code > 128 and rank_code - 128 in signal.valid_signals() \
            else f"exited with code {rank_code}"
        err.print(f"[bold red]error:[/] rank {rank} {how}")
    if failed and code:
        return int(failed[0]["code"])
    return code


def watch_launcher() -> None:
    """In a worker started by ``launch``: die with the launcher (see the module docstring)."""
    # Popped: a process this worker starts is not the launcher's child.
    launcher = int(os.environ.pop(LAUNCHER_ENV))
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    # The launcher may have died before the line above: then nothing would ever kill us.
    if sys.platform.startswith("linux") and os.getppid() != launcher:
        os._exit(128 + signal.SIGKILL)


def run_worker(main: Any) -> None:
    """Run ``main`` (the CLI) as a launched worker: tied to the launcher, its final message
    and exit code written to this rank's report instead of printed on every rank."""
    reports = Path(os.environ.pop(REPORTS_ENV))
    watch_launcher()
    buffer = io.StringIO()
    err.file = buffer
    code: int | str | None = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    finally:
        err.file = sys.stderr
        if not isinstance(code, int):  # sys.exit("message") prints it, exits 1
            buffer.write(f"{code}\n" if code else "")
            code = 1 if code else 0
        rank = int(os.environ.get("RANK", "0"))
        report = {"rank": rank, "code": code, "message": buffer.getvalue(), "time": time.time()}
        (reports / f"rank{rank}.json").write_text(json.dumps(report))
    sys.exit(code)

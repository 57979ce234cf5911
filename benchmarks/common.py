"""Shared pieces of the benchmarks: machine facts, timing, the matmul ceiling, tables, JSON.

Every benchmark script is runnable alone (``python benchmarks/bench_step.py``) and from
``run.py``; each returns a ``Result`` (rows for the table, a flat dict of tracked metrics for
``--check``) and writes its JSON under ``runs/benchmarks/`` (git-ignored).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from a checkout without installing jepa_kit
    sys.path.insert(0, str(REPO))

DEFAULT_OUT = REPO / "runs" / "benchmarks"


# -- the machine -------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_cores() -> int:
    """Cores this process may run on (a container's or taskset's limit, not the host's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def cpu_flags() -> list[str]:
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines()
                  if ln.startswith("flags")), [])
    return [f for f in wanted if f in flags]


def machine() -> dict[str, Any]:
    import timm

    return {
        "cpu_model": cpu_model(),
        "cores": cpu_cores(),
        "cpu_flags": cpu_flags(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "python": platform.python_version(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def machine_class(info: dict[str, Any]) -> str:
    """What ``--check`` matches on: the same CPU model with the same core count and the same
    bf16 support (one cloud CPU name covers hosts with and without native bf16, whose bf16
    steps differ a hundredfold)."""
    native = {"avx512_bf16", "amx_bf16"} & set(info.get("cpu_flags") or ())
    return f"{info['cpu_model']} x{info['cores']}" + (" native-bf16" if native else "")


def loadavg() -> float:
    """The 1-minute load average (includes this process while it computes)."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")


def busy_cores(interval: float = 0.5) -> float:
    """Cores kept busy over ``interval`` seconds by everything else (this process sleeps)."""
    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields) - idle, sum(fields)

    try:
        busy0, total0 = sample()
        time.sleep(interval)
        busy1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return float("nan")
    return (busy1 - busy0) / max(total1 - total0, 1) * (os.cpu_count() or 1)


def wait_for_quiet(max_wait: float, threshold: float = 0.5) -> float:
    """Sleep until other processes use < ``threshold`` cores (at most ``max_wait`` s).

    Other people's test runs share this machine; timing during them measures them. Returns
    the busy cores seen last, so tables can say how quiet it was.
    """
    deadline = time.monotonic() + max_wait
    busy = busy_cores()
    while busy >= threshold and time.monotonic() < deadline:
        time.sleep(2.0)
        busy = busy_cores()
    return busy


#: ``--as-today``: measure the trainer as it is, without the requested CPU changes.
#: Seconds ``settle`` may wait for a quiet machine before a measurement (``--wait``).
QUIET_WAIT = {"seconds": 0.0}


def settle() -> float:
    """Wait (up to ``--wait`` seconds) for other processes to go quiet; returns busy cores."""
    return wait_for_quiet(QUIET_WAIT["seconds"])


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse instead of returning it to the kernel.

    By default glibc serves large blocks with mmap and unmaps them on free, so every step's
    activations are page-faulted (and zeroed by the kernel) afresh: ~1.3 GB per ViT-S step.
    ``M_MMAP_MAX = 0`` serves them from the heap and a 1 GiB ``M_TRIM_THRESHOLD`` keeps freed
    heap memory. What jemalloc / tcmalloc preloading gives, without a preload. Returns False
    where the C library has no ``mallopt`` (not glibc).
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_max = -1, -4  # from malloc.h
    return bool(mallopt(m_mmap_max, 0)) and bool(mallopt(m_trim_threshold, 1 << 30))


# -- timing ------------------------------------------------------------------------------------
def timed(fn: Callable[[], object], *, repeats: int, warmup: int = 1) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return times


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def spread(values: Sequence[float]) -> float:
    """(max - min) / median: how noisy a measurement was."""
    m = median(values)
    return (max(values) - min(values)) / m if m else float("nan")


def matmul_ceiling(dtype: torch.dtype, n: int = 2048, repeats: int = 7) -> float:
    """GFLOP/s of an ``n x n`` matmul in ``dtype``: the best this machine's BLAS does.

    Median over ``repeats`` after two warm-up products; the denominator of every ratio the
    step benchmark reports, measured in the same process so the ratio cancels the machine.
    """
    g = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=g).to(dtype)
    b = torch.randn(n, n, generator=g).to(dtype)
    out = torch.empty(n, n, dtype=dtype)
    times = timed(lambda: torch.mm(a, b, out=out), repeats=repeats, warmup=2)
    return 2 * n**3 / median(times) / 1e9


# -- results -----------------------------------------------------------------------------------
@dataclass
class Metric:
    """A tracked number: ``--check`` fails when it is > 20 % worse than the baseline."""

    value: float
    higher_is_better: bool = True


@dataclass
class Result:
    name: str
    columns: list[str]
    rows: list[dict[str, Any]]
    metrics: dict[str, Metric] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # hard checks (e.g. attention shapes)
    extra: dict[str, Any] = field(default_factory=dict)

    def track(self, label: str, column: str, *, as_name: str | None = None,
              higher_is_better: bool = True) -> None:
        """Record ``column`` of every row as the metric ``NAME/<row[label]>/<as_name or column>``
        (what ``--check`` compares with the baseline)."""
        for row in self.rows:
            if row.get(column) is None:  # not measured (e.g. over a memory cap)
                continue
            key = f"{self.name}/{row[label]}/{as_name or column}"
            self.metrics[key] = Metric(row[column], higher_is_better=higher_is_better)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "machine": machine(),
            "loadavg_end": loadavg(),
            "rows": self.rows,
            "metrics": {k: {"value": m.value, "higher_is_better": m.higher_is_better}
                        for k, m in self.metrics.items()},
            "notes": self.notes,
            "failures": self.failures,
            **self.extra,
        }


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # nan
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}" if abs(value) >= 0.1 else f"{value:.3g}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def print_table(result: Result) -> None:
    """A rich table when rich is installed (it is a jepa-kit dependency), plain text otherwise."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(c), *(len(fmt(r.get(c, ""))) for r in result.rows))
                  for c in result.columns]
        print(f"\n{result.name}")
        pairs = list(zip(result.columns, widths, strict=True))
        print("  ".join(c.rjust(w) for c, w in pairs))
        for row in result.rows:
            print("  ".join(fmt(row.get(c, "")).rjust(w) for c, w in pairs))
    else:
        table = Table(title=result.name, title_justify="left")
        for i, c in enumerate(result.columns):
            table.add_column(c, justify="left" if i == 0 else "right", no_wrap=True)
        for row in result.rows:
            table.add_row(*(fmt(row.get(c, "")) for c in result.columns))
        Console(width=250).print(table)
    for note in result.notes:
        print(f"  note: {note}")
    for failure in result.failures:
        print(f"  FAILED: {failure}")


def write_json(result: Result, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{result.name}.json"
    path.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return path


def add_shared_args(parser: Any) -> None:
    """``--quick``, ``--out`` and ``--wait``: the options every benchmark script takes."""
    parser.add_argument("--quick", action="store_true", help="the reduced matrix")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the JSON goes")
    parser.add_argument("--wait", type=float, default=0.0, metavar="S",
                        help="before each measurement wait up to S seconds for other "
                        "processes to use < 0.5 cores")


def precisions(choice: str) -> tuple[str, ...]:
    """The precisions a ``--precision`` value asks for. ``auto`` leaves bf16 out on a CPU that
    emulates it (hundreds of times slower than fp32 there, so its timing says nothing)."""
    if choice == "auto":
        from jepa_kit.train.cpu_bf16 import emulated_bf16

        if not torch.cuda.is_available() and emulated_bf16():
            print("  bf16 left out: this CPU emulates bf16 matmuls (--precision both to force)")
            return ("fp32",)
        return ("fp32", "bf16")
    return ("fp32", "bf16") if choice == "both" else (choice,)


def add_precision_arg(parser: Any) -> None:
    parser.add_argument("--precision", choices=("auto", "both", "fp32", "bf16"), default="auto",
                        help="which train.precision values to time (auto: both, but no bf16 on "
                        "a CPU that emulates it)")


def script_main(run: Callable[..., Result], argv: Sequence[str] | None = None) -> int:
    """The ``__main__`` of a single benchmark: ``--quick`` and ``--out``, table + JSON."""
    import argparse

    parser = argparse.ArgumentParser(description=run.__doc__)
    add_shared_args(parser)
    args = parser.parse_args(argv)
    QUIET_WAIT["seconds"] = args.wait
    result = run(quick=args.quick)
    print_table(result)
    print(f"  wrote {write_json(result, args.out)}")
    return 1 if result.failures else 0

"""What every benchmark script shares: the cases, the timing protocol and the machine line.

The benchmarks run as scripts, so this folder is on ``sys.path`` and they ``import timing``.

The protocol (benchmarks/cases.json says the same): each side's calls run back to back in a block,
2 warm-up calls and then at least 15 timed ones; the blocks alternate between the sides at least
twice; the minimum of each side is reported, and ratios are taken between minima of one run.
Blocks, not single calls: after a NumPy GEMM, OpenBLAS's idle worker thread keeps spinning for
about 0.1 s, and on 2 cores a call of the other side made right then competes with it, so timing
call by call slows PyTorch's next call and flatters NumPy code.

>>> best = compare({"a": lambda: sum(range(100)), "b": lambda: sum(range(200))}, Protocol(1, 3, 2))
>>> sorted(best) == ["a", "b"] and all(t > 0 for t in best.values())
True
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CASES_PATH = Path(__file__).resolve().with_name("cases.json")


def load_cases() -> dict[str, Any]:
    """The benchmark cases (benchmarks/cases.json), by family: conv2d, conv_transpose2d, ..."""
    return json.loads(CASES_PATH.read_text())


@dataclass(frozen=True)
class Protocol:
    """Warm-up calls and timed calls per block, and how many blocks each side runs."""

    warmup: int = 2
    repeats: int = 15
    rounds: int = 2

    @property
    def quick(self) -> bool:
        return self.repeats < 15 or self.rounds < 2

    def describe(self) -> str:
        text = (f"each side in blocks of {self.warmup} warm-up + {self.repeats} timed calls, "
                f"{self.rounds} blocks per side alternating; min per side")
        return text + (" (--quick: a smoke test, not a measurement)" if self.quick else "")


FULL = Protocol()
QUICK = Protocol(warmup=1, repeats=2, rounds=1)


def with_rounds(protocol: Protocol, rounds: int) -> Protocol:
    """``protocol`` with at least ``rounds`` blocks per side (a --quick one as it is), for a
    benchmark whose calls are short enough to afford more than the protocol's least. On a shared VM
    the speed can move by half for seconds at a time (a core taken away, another guest's memory
    traffic); the min over more alternating blocks per side is steadier, and each side gets the same
    rounds, so no side is favoured.

    >>> with_rounds(FULL, 4).rounds, with_rounds(QUICK, 4).rounds
    (4, 1)
    """
    if protocol.quick:
        return protocol
    return Protocol(protocol.warmup, protocol.repeats, max(protocol.rounds, rounds))


def compare(sides: dict[str, Callable[[], Any]], protocol: Protocol = FULL) -> dict[str, float]:
    """Time each side in blocks, alternating the blocks: {side: min ms over all its timed calls}."""
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(protocol.rounds):
        for name, fn in sides.items():
            for _ in range(protocol.warmup):
                fn()
            for _ in range(protocol.repeats):
                t0 = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - t0) * 1e3)
    return {name: min(t) for name, t in times.items()}


@contextlib.contextmanager
def one_thread_each(torch: Any) -> Iterator[None]:
    """Our elementwise passes (``tc.set_num_threads``) and PyTorch on one thread while the block
    runs, both set back after it (NumPy's BLAS is not touched: bench_conv and bench_train_torch hold
    it where they need to).

    >>> import tinygrad_conv as tc
    >>> before = tc.get_num_threads()
    >>> with one_thread_each(None):
    ...     tc.get_num_threads()
    1
    >>> tc.get_num_threads() == before
    True
    """
    import tinygrad_conv as tc

    tc_before = tc.get_num_threads()
    torch_before = torch.get_num_threads() if torch is not None else 0
    try:
        tc.set_num_threads(1)
        if torch is not None:
            torch.set_num_threads(1)
        yield
    finally:
        tc.set_num_threads(tc_before)
        if torch is not None:
            torch.set_num_threads(torch_before)


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """One warm-up call of ``fn``, then the min and the median of ``repeats`` timed calls, in ms
    (for a single side with nothing to compare against, as bench_viz.py)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return min(times), statistics.median(times)


def geomean(values: Iterable[float]) -> float:
    vals = list(values)
    return math.exp(sum(math.log(v) for v in vals) / len(vals)) if vals else float("nan")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def numpy_gemm_kernel() -> str:
    """Which BLAS NumPy calls and which kernel it runs (threadpoolctl), and whether the
    OPENBLAS_CORETYPE pin is set (an old-CPU kernel that slows a current OpenBLAS)."""
    pin = os.environ.get("OPENBLAS_CORETYPE")
    pin_text = f"OPENBLAS_CORETYPE={pin} (pinned)" if pin else "OPENBLAS_CORETYPE unset"
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return f"(threadpoolctl not installed), {pin_text}"
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not blas:
        return f"(no BLAS found by threadpoolctl), {pin_text}"
    i = blas[0]
    return (f"{i.get('internal_api')} {i.get('version')} kernel {i.get('architecture')}, "
            f"{i.get('num_threads')} threads ({i.get('threading_layer')}), {pin_text}")


def torch_gemm_kernel(torch: Any) -> str:
    if torch is None:
        return "PyTorch not installed"
    return (f"PyTorch {torch.__version__} CPU capability {torch.backends.cpu.get_cpu_capability()}, "
            f"{torch.get_num_threads()} threads")


def machine_line(torch: Any = None) -> str:
    """One line naming the machine and the GEMM kernel each side runs."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"machine: {_cpu_model()}, {cores} cores, load average {load:.2f}; NumPy {np.__version__}: "
            f"{numpy_gemm_kernel()}; {torch_gemm_kernel(torch)}")


def import_torch() -> Any:
    """PyTorch, or None when it is not installed (the tables then show our side only)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def script_main(report: Callable[[Protocol, Any], Any], description: str, argv: list[str] | None = None,
                unit: str = "calls") -> None:
    """The command line every benchmark script shares: ``--quick``, the machine line, its report."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help=f"a smoke test: 1 block of 2 {unit} per side")
    args = parser.parse_args(argv)
    torch = import_torch()
    print(machine_line(torch) + "\n")
    report(QUICK if args.quick else FULL, torch)

"""The timing loop the benchmark scripts share (they run as scripts, so this folder is on sys.path).

>>> best, median = timed(lambda: sum(range(1000)), repeats=3)
>>> 0 < best <= median
True
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """One warm-up call of ``fn``, then the min and the median of ``repeats`` timed calls, in ms."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return min(times), statistics.median(times)

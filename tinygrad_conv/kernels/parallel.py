"""Large elementwise kernels on several threads, as PyTorch's intra-op thread pool runs them.

A single NumPy ufunc call runs on one core, and on a large array it is bound by what one core can
move through memory. NumPy releases the GIL inside a ufunc's loop, so splitting a flat array into
contiguous ranges and running them on several threads can use every core. Whether that pays
depends on the machine (memory bandwidth per core, and whether the other cores are free): the
kernels that use it say where it is switched on, and ``benchmarks/bench_pool.py`` measures it.

The thread count is the number of cores this process may run on, or ``OMP_NUM_THREADS`` when set
(PyTorch reads the same variable); :func:`set_num_threads` changes it.

>>> import numpy as np
>>> x = np.arange(-3.0, 3.0)
>>> out = np.empty_like(x)
>>> def body(start: int, stop: int) -> None:
...     np.maximum(x[start:stop], 0.0, out=out[start:stop])
>>> parallel_for(x.size, body)
>>> out.tolist()
[0.0, 0.0, 0.0, 0.0, 1.0, 2.0]
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

# Below this many elements a call stays on the calling thread: waking another thread costs about
# as much as a pass over this many float32 elements.
MIN_PER_THREAD = 1 << 17
# Ranges per thread when a call is split (fewer when the grain allows fewer): enough that a thread
# that starts late still takes a share, few enough that handing them out stays cheap.
RANGES_PER_THREAD = 4


def _default_threads() -> int:
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


_num_threads = _default_threads()
_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _forget_pool_in_child() -> None:
    # A forked child has none of its parent's threads (and maybe a lock some other thread held):
    # it starts from nothing and makes a pool of its own on first use.
    global _pool, _lock
    _pool = None
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def get_num_threads() -> int:
    """How many threads the large elementwise kernels use (as ``torch.get_num_threads``).

    >>> get_num_threads() >= 1
    True
    """
    return _num_threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for the large elementwise kernels (as ``torch.set_num_threads``); 1 turns
    the pool off. BLAS keeps its own setting (``OPENBLAS_NUM_THREADS``). Like PyTorch's, call it
    between computations, not while another thread is running one.

    >>> before = get_num_threads()
    >>> set_num_threads(1); get_num_threads()
    1
    >>> set_num_threads(before)
    """
    global _num_threads, _pool
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    with _lock:
        _num_threads = n
        if _pool is not None:
            _pool.shutdown(wait=True)
            _pool = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            # The calling thread takes ranges too; the pool's threads start as they are needed.
            _pool = ThreadPoolExecutor(max_workers=max(_num_threads - 1, 1), thread_name_prefix="tinygrad_conv")
        return _pool


def parallel_for(n: int, body: Callable[[int, int], None], grain: int = MIN_PER_THREAD) -> None:
    """Call ``body(start, stop)`` over ``range(n)`` split into contiguous ranges, run on the pool.

    ``body`` must only touch its own range of the arrays it writes. Ranges have at least ``grain``
    elements, so small calls run on the calling thread alone. The call returns once every range is
    done. An exception in any range is raised here (the one of the lowest range), only after all
    ranges have finished, so no thread writes into an array after the call.

    The ranges are handed out on demand, a few per thread, and the calling thread takes them too:
    waking an idle pool thread takes tens of microseconds on a small VM, and a pool thread may
    share its core with another library's spinning threads. A late thread then just takes fewer
    ranges, and one that has not started when the work is done is cancelled instead of waited for.
    """
    most = n // max(grain, 1)  # the most ranges of at least ``grain`` elements
    parts = min(_num_threads, most)
    if parts <= 1:
        body(0, n)
        return
    count = min(most, parts * RANGES_PER_THREAD)
    bounds = [n * i // count for i in range(count + 1)]
    claim = threading.Lock()
    next_range = [0]
    errors: dict[int, BaseException] = {}

    def drain() -> None:
        while True:
            with claim:
                i = next_range[0]
                next_range[0] = i + 1
            if i >= count:
                return
            try:
                body(bounds[i], bounds[i + 1])
            except BaseException as exc:  # noqa: BLE001 - raised by the caller once all ranges are done
                errors[i] = exc

    pool = _executor()
    futures: list[Future[None]] = [pool.submit(drain) for _ in range(parts - 1)]
    drain()
    for future in futures:
        if not future.cancel():  # it started: wait for the range it may be running
            future.result()
    if errors:
        raise errors[min(errors)]

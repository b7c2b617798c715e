"""Large elementwise kernels on several threads, as PyTorch's intra-op thread pool runs them.

A single NumPy ufunc call runs on one core, and on a large array it is bound by what one core can
move through memory. NumPy releases the GIL inside a ufunc's loop, so splitting a flat array into
contiguous ranges and running one range per thread uses every core (``np.maximum(x, 0)`` on R1's
2M float32 elements: 0.62 ms on one thread, 0.35 ms split over two, on the project's 2-core machine).
The BLAS calls behind the convolutions already run on all cores; this brings the passes around
them up to the same.

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

# Below this many elements a range stays on the calling thread: handing work to another thread
# costs some 10-30 us, which a pass over 128K float32 elements (about 40 us) only just repays.
MIN_PER_THREAD = 1 << 17


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
            # The calling thread runs one range itself; the pool's threads start as they are needed.
            _pool = ThreadPoolExecutor(max_workers=max(_num_threads - 1, 1), thread_name_prefix="tinygrad_conv")
        return _pool


def parallel_for(n: int, body: Callable[[int, int], None], grain: int = MIN_PER_THREAD) -> None:
    """Call ``body(start, stop)`` over ``range(n)`` split into contiguous ranges, one per thread.

    ``body`` must only touch its own range of the arrays it writes. Ranges have at least ``grain``
    elements, so small calls run on the calling thread alone. The calling thread runs the last range
    itself, and the call returns once every range is done. An exception in any range is raised here
    (the calling thread's first, then the ranges' in order), only after all of them have finished, so
    no thread writes into an array after the call.
    """
    parts = min(_num_threads, n // max(grain, 1))
    if parts <= 1:
        body(0, n)
        return
    bounds = [n * i // parts for i in range(parts + 1)]
    pool = _executor()
    futures: list[Future[None]] = [pool.submit(body, bounds[i], bounds[i + 1]) for i in range(parts - 1)]
    error: BaseException | None = None
    try:
        body(bounds[-2], bounds[-1])
    except BaseException as exc:  # noqa: BLE001 - re-raised below, once the other ranges are done
        error = exc
    for future in futures:
        failure = future.exception()  # waits for the range to finish
        if error is None and failure is not None:
            error = failure
    if error is not None:
        raise error

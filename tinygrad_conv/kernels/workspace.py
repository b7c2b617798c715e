"""Scratch memory the conv kernels keep from one call to the next, per thread.

A conv call needs a few megabytes of scratch (phase images, column matrices, GEMM outputs, col2im
accumulators). Allocated fresh on every call, that memory goes back to the system when the call
frees it (glibc's malloc trims the top of its heap, or unmaps a large block) and comes back on the
next call one page fault at a time: thousands of faults per call, which can take longer than the
conv's own arithmetic (``benchmarks/RESULTS.md`` has the measurement). So the kernels take their
scratch from here, as PyTorch keeps a cuDNN workspace: one buffer per named role and thread, grown
when a call needs more and kept otherwise. Results are never scratch: a kernel's outputs are fresh
arrays.

A role's array is valid until the same thread takes that role again: a kernel uses a role for one
purpose at a time, and a kernel it calls runs when the caller is done with its scratch.
Buffers over :func:`get_limit` bytes are not kept (a huge one-off call does not pin its memory);
``set_limit(0)`` turns the reuse off, and :func:`clear` frees this thread's buffers.

>>> a = take("doc.example", (2, 3), np.float32, zero=True)
>>> a.tolist()
[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
>>> take("doc.example", (3,), np.float32).base is a.base  # the same memory, taken again
True
>>> clear()
"""

from __future__ import annotations

import threading
from math import prod
from typing import Any

import numpy as np

# The roles are slots that every kernel shares: a kernel's scratch is dead when it returns (its
# results are fresh arrays), so the kernels of one forward + backward reuse each other's memory and
# a thread keeps about the largest scratch of any one kernel, not the sum over kernels. Buffers that
# one kernel uses at the same time take different slots.
INPUT = "input"  # the input staged for a gather: phase images, padded copies of dy or x
COLUMNS = "columns"  # the largest: a column matrix, its gradient, Winograd's transformed input
ROWS = "rows"  # GEMM outputs with junk columns, shifted copies, transform temporaries
ACC = "acc"  # col2im accumulators, upstream gradient rows, staging copies
PRODUCT = "product"  # Winograd's GEMM products and transformed upstream gradient

# Scratch arrays larger than this (bytes) are allocated per call and not kept. The kernels size
# their batch chunks for the cache (a few MB each), so their buffers stay far below it.
_limit = 64 * 2**20
_local = threading.local()


def get_limit() -> int:
    """The largest scratch buffer (bytes) a thread keeps between calls."""
    return _limit


def set_limit(nbytes: int) -> None:
    """Keep scratch buffers up to ``nbytes`` between calls (0: keep none, allocate every call).

    Buffers already kept that are larger are freed when their role is next taken.
    """
    global _limit
    if nbytes < 0:
        raise ValueError(f"workspace limit must be >= 0 bytes, got {nbytes}")
    _limit = int(nbytes)


def clear() -> None:
    """Free the calling thread's kept scratch buffers."""
    _local.__dict__.pop("buffers", None)


def kept_bytes() -> int:
    """How many bytes of scratch the calling thread keeps now."""
    return sum(buf.nbytes for buf in _buffers().values())


def _buffers() -> dict[str, np.ndarray]:
    buffers = _local.__dict__.get("buffers")
    if buffers is None:
        buffers = _local.buffers = {}
    return buffers


def take(role: str, shape: tuple[int, ...], dtype: Any, zero: bool = False) -> np.ndarray:
    """A C-contiguous ``shape`` array of ``dtype`` on this thread's buffer for ``role``: zeros when
    ``zero``, otherwise whatever the last user of the role left there."""
    dtype = np.dtype(dtype)
    nbytes = prod(shape) * dtype.itemsize
    buffers = _buffers()
    buf = buffers.get(role)
    if nbytes > _limit:
        buffers.pop(role, None)
        return np.zeros(shape, dtype=dtype) if zero else np.empty(shape, dtype=dtype)
    if buf is None or buf.nbytes < nbytes:
        buffers.pop(role, None)  # the old buffer goes first: the two are never both held
        buf = buffers[role] = np.empty(max(nbytes, 1), dtype=np.uint8)
    out = buf[:nbytes].view(dtype).reshape(shape)
    if zero:
        out.fill(0)
    return out

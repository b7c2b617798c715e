"""Elementwise kernels for relu and the masked gradients of the piecewise-linear activations.

Large contiguous float NumPy arrays go through the loops below, a cache-sized block at a time
(:func:`relu_range`, :func:`masked_range`), in ranges split over the threads of :mod:`.parallel`
(relu's one-pass forward only from 2M elements, ``_SPLIT_FROM``: below that a thread handoff costs
about what it saves); anything else (small, strided, integer, or another array library's arrays)
takes the plain NumPy expression, which gives the same values. ``benchmarks/bench_pool.py`` times
the block loops against the plain expressions, on one thread and split, in one run.

>>> import numpy as np
>>> y = relu(np.array([-1.0, 0.0, 2.0]))
>>> y.tolist()
[0.0, 0.0, 2.0]
>>> masked(np.array([5.0, 6.0, 7.0]), y).tolist()
[0.0, 0.0, 7.0]
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from . import array_module
from .parallel import MIN_PER_THREAD, parallel_for

# Elements per block: 1 MiB of float32, so a block's input, output and the zeros stay in cache.
# np.maximum(x, 0) takes NumPy's slower loop for a scalar operand, so relu compares each block with
# a cached block of zeros instead.
_BLOCK = 1 << 18
# Smaller arrays are not worth blocking.
_MIN_FAST = 4096
# relu's one-pass forward splits over the threads only from this many elements (in ranges of
# parallel.MIN_PER_THREAD); smaller arrays run on the calling thread. One pass over a million float32
# elements costs about what handing ranges to a pool thread and waiting for it costs on a small VM:
# on a LeNet-sized batch (1.2M elements) the split gained nothing, on R1's 2M it gained (bench_pool.py's
# second table; the timings are in benchmarks/RESULTS.md). The three-pass masked gradient splits from
# parallel's default.
_SPLIT_FROM = 1 << 21


def _grain(n: int) -> int:
    return MIN_PER_THREAD if n >= _SPLIT_FROM else max(n, 1)


@lru_cache(maxsize=8)
def _zeros(dtype: np.dtype) -> np.ndarray:
    z = np.zeros(_BLOCK, dtype=dtype)
    z.flags.writeable = False
    return z


def _fast(*arrays: Any) -> bool:
    """Whether the arrays can be worked on as flat ranges: large, C-contiguous NumPy arrays."""
    return all(isinstance(a, np.ndarray) and a.flags.c_contiguous and a.size >= _MIN_FAST for a in arrays)


def relu_range(flat_x: np.ndarray, flat_out: np.ndarray) -> None:
    """``flat_out[:] = max(flat_x, 0)`` for 1-d float arrays, block by block."""
    zeros = _zeros(flat_x.dtype)
    for lo in range(0, flat_x.size, _BLOCK):
        hi = min(flat_x.size, lo + _BLOCK)
        np.maximum(flat_x[lo:hi], zeros[: hi - lo], out=flat_out[lo:hi])


def relu(x: Any) -> Any:
    """max(x, 0) elementwise; NaN stays NaN, as ``np.maximum`` keeps it."""
    if not _fast(x) or x.dtype.kind != "f":
        return np.maximum(x, 0)
    out = np.empty_like(x)
    flat_x, flat_out = x.reshape(-1), out.reshape(-1)
    parallel_for(flat_x.size, lambda start, stop: relu_range(flat_x[start:stop], flat_out[start:stop]),
                 grain=_grain(flat_x.size))
    return out


def masked_range(bits_g: np.ndarray, flat_mask: np.ndarray, bits_out: np.ndarray) -> None:
    """``bits_out[:] = bits_g where flat_mask else 0`` for 1-d arrays: ``bits_g`` and ``bits_out``
    are the integer views of float arrays, ``flat_mask`` a bool or float array."""
    n = bits_g.size
    # A float mask is compared with 0 a block at a time into a small bool scratch, rather than a
    # whole bool array written and read back (less live memory beside the activations).
    scratch = None if flat_mask.dtype == np.bool_ else np.empty(min(_BLOCK, n), dtype=bool)
    for lo in range(0, n, _BLOCK):
        hi = min(n, lo + _BLOCK)
        truth = flat_mask[lo:hi] if scratch is None else np.not_equal(flat_mask[lo:hi], 0, out=scratch[: hi - lo])
        # On the integer view of the bits: the truth's bytes as int8 (true = 1), negated to -1 (all
        # bits set) and widened to g's width in the same pass, then ANDed with g, which keeps g's
        # bits exactly or clears them to +0.0. np.where branches on each element, which a random
        # mask makes many times slower than these two passes.
        part = bits_out[lo:hi]
        np.negative(truth.view(np.int8), out=part, casting="unsafe")
        np.bitwise_and(part, bits_g[lo:hi], out=part)


def masked(g: Any, mask: Any) -> Any:
    """``g`` where ``mask`` is nonzero, else 0, in ``g``'s dtype and ``mask``'s shape.

    ``mask`` is a boolean array, or any array whose nonzero entries count as true (NaN included),
    as ``np.where`` reads it: relu passes its own output, so its backward needs no mask array.
    A select, not a product: where the mask is false the result is 0 even if ``g`` is inf or NaN
    there, as PyTorch's ``threshold_backward`` gives (``g * mask`` would give NaN). ``g`` may
    broadcast against ``mask`` only on the plain path; the fast path needs equal shapes.
    """
    bits = _int_view_dtype(g)
    if bits is None or not (_fast(g, mask) and g.shape == mask.shape and mask.dtype.kind in "bf"):
        xp = array_module(g)
        return xp.where(mask, g, xp.zeros((), dtype=g.dtype))
    out = np.empty(g.shape, dtype=g.dtype)
    flat_g = g.reshape(-1).view(bits)
    flat_mask, flat_out = mask.reshape(-1), out.reshape(-1).view(bits)
    parallel_for(flat_out.size, lambda start, stop: masked_range(flat_g[start:stop], flat_mask[start:stop],
                                                                 flat_out[start:stop]))
    return out


def _int_view_dtype(g: Any) -> np.dtype | None:
    """The signed integer dtype with ``g``'s item size, for a float NumPy array (else None)."""
    if not isinstance(g, np.ndarray) or g.dtype.kind != "f" or g.dtype.itemsize not in (2, 4, 8):
        return None
    return np.dtype(f"i{g.dtype.itemsize}")

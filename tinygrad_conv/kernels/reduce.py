"""Sums over several axes of an array, the leading axis first.

``np.sum`` over several axes that include the leading one but not all (a conv bias gradient:
axes (0, 2, 3) of (N, C, H, W)) walks the array in a strided loop; summing the leading axis first
adds whole contiguous rows, and the rest is then a small array. The two orders round differently,
about as much as any two summation orders; ``np.sum`` itself is the plain reference
(``benchmarks/RESULTS.md`` has the timings).

>>> import numpy as np
>>> x = np.arange(24.0).reshape(2, 3, 4)
>>> sum_axes(x, (0, 2), keepdims=False).tolist()
[60.0, 92.0, 124.0]
>>> sum_axes(x, (0, 2), keepdims=True).shape
(1, 3, 1)
"""

from __future__ import annotations

from typing import Any

import numpy as np


def sum_axes(a: Any, axes: tuple[int, ...], keepdims: bool, dtype: Any = None) -> Any:
    """``np.sum(a, axis=axes, keepdims=keepdims, dtype=dtype)`` for sorted, non-negative ``axes``."""
    if not (type(a) is np.ndarray and a.dtype.kind == "f" and dtype is None and len(axes) >= 2
            and axes[0] == 0 and len(axes) < a.ndim):
        return np.sum(a, axis=axes, keepdims=keepdims, dtype=dtype)
    head = np.sum(a, axis=0)
    out = np.sum(head, axis=tuple(axis - 1 for axis in axes[1:]))
    if keepdims:
        out = out.reshape(tuple(1 if i in axes else s for i, s in enumerate(a.shape)))
    return out

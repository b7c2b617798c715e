"""Pure array kernels: window views, im2col/col2im, dilation, padding, pool windows.

They take and return arrays and know nothing of Tensor or the tape. ``reference.py`` holds the
textbook version of each conv, pool and relu kernel; ``with use_reference():`` runs the ops on
those instead of the fast ones.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import numpy as np

# Whether the ops run on the textbook kernels (reference.py): one flag for the whole process,
# switched by use_reference(). Read at every kernel call, so it takes effect at once.
_reference_on = False


def array_module(x: Any) -> Any:
    """The array namespace of ``x`` (NumPy 2 arrays name NumPy itself), NumPy otherwise.

    >>> array_module(np.zeros(2)) is np
    True
    """
    get_ns = getattr(x, "__array_namespace__", None)
    return get_ns() if get_ns is not None else np


@contextmanager
def use_reference() -> Iterator[None]:
    """Run the conv family, pooling and relu on the textbook kernels of ``kernels/reference.py``
    while the block lasts (or the decorated function runs): slower, and every step readable.

    The switch is process-wide (not per thread) and nests; the previous setting comes back on exit.

    >>> import numpy as np, tinygrad_conv as tc
    >>> x = tc.Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    >>> with tc.kernels.use_reference():
    ...     tc.functional.max_pool2d(x, 2).tolist()
    [[[[5.0, 7.0], [13.0, 15.0]]]]
    """
    global _reference_on
    previous = _reference_on
    _reference_on = True
    try:
        yield
    finally:
        _reference_on = previous


def pick(fast: ModuleType) -> ModuleType:
    """The kernel module an op calls: ``fast`` (e.g. ``kernels.conv``), or ``reference`` inside
    :func:`use_reference`. The reference kernels have the fast ones' names and argument order.

    >>> from tinygrad_conv.kernels import conv
    >>> pick(conv) is conv
    True
    >>> with use_reference():
    ...     pick(conv).__name__
    'tinygrad_conv.kernels.reference'
    """
    if not _reference_on:
        return fast
    from . import reference  # at call time: reference.py imports this package's modules

    return reference

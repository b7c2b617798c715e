"""Pure array kernels: window views, im2col/col2im, dilation, padding, pool windows.

They take and return arrays and know nothing of Tensor or the tape.
"""

from typing import Any

import numpy as np


def array_module(x: Any) -> Any:
    """The array namespace of ``x`` (NumPy 2 arrays name NumPy itself), NumPy otherwise.

    >>> array_module(np.zeros(2)) is np
    True
    """
    get_ns = getattr(x, "__array_namespace__", None)
    return get_ns() if get_ns is not None else np

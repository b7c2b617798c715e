"""The argument checks the windowed ops share (the conv family in conv.py, pooling in pool.py): an
int-or-pair argument as an (h, w) pair, and the input of a 2-d op.

They raise errors that name the op, the argument and the rule, so the array kernels below can
trust what they get.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor

Pair = tuple[int, int]


def is_int(value: Any) -> bool:
    """An int or NumPy integer, but not a bool (True is an int to Python, never a size here).

    >>> is_int(3), is_int(np.int64(3)), is_int(True), is_int(3.0)
    (True, True, False, False)
    """
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def pair(value: Any, op: str, name: str, *, minimum: int | None = None) -> Pair:
    """``value`` as an (h, w) pair: an int for both, or a sequence of one or two ints, as PyTorch's
    2-d convolutions and pools take ``kernel_size``, ``stride``, ``padding`` and ``dilation``. With
    ``minimum``, both must be at least that (1: positive, 0: non-negative).

    >>> pair(3, "conv2d", "stride"), pair([2], "conv2d", "stride"), pair((1, 2), "conv2d", "stride")
    ((3, 3), (2, 2), (1, 2))
    >>> pair((1, 0), "max_pool2d", "stride", minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: max_pool2d: stride must be positive in both dimensions, got stride=(1, 0)
    """
    if is_int(value):
        result = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) in (1, 2) and all(is_int(v) for v in value):
        result = (int(value[0]), int(value[-1]))
    elif isinstance(value, (tuple, list)) and all(is_int(v) for v in value):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints (height, width), got "
                         f"{name}={tuple(value)!r} with {len(value)} element(s)")
    else:
        raise TypeError(f"{op}: {name} must be an int or a pair of ints (height, width), got {value!r} "
                        f"of type {type(value).__name__}")
    if minimum is not None and min(result) < minimum:
        rule = "positive" if minimum == 1 else "non-negative" if minimum == 0 else f"at least {minimum}"
        raise ValueError(f"{op}: {name} must be {rule} in both dimensions, got {name}={value!r}")
    return result


def check_input(x: Any, op: str, *, nonempty: bool = True) -> bool:
    """Check the input of a 2-d op: a float Tensor of shape (N, C, H, W) or unbatched (C, H, W),
    whose channel, height and width are not empty unless ``nonempty`` is False (the batch may be
    empty, as in PyTorch). Returns True when the input is unbatched.

    >>> check_input(Tensor(np.zeros((3, 4, 4))), "conv2d")
    True
    >>> check_input(Tensor(np.zeros((4, 4))), "conv2d")
    Traceback (most recent call last):
    ...
    ValueError: conv2d: expected a 3-d (C, H, W) or 4-d (N, C, H, W) input, got shape (4, 4) (2-d)
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor as input, got {type(x).__name__}")
    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: expected a 3-d (C, H, W) or 4-d (N, C, H, W) input, got shape {x.shape} "
                         f"({x.ndim}-d)")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got dtype {x.dtype}; convert it with "
                        ".float() or .double()")
    if nonempty:
        check_nonempty(x, op)
    return x.ndim == 3


def check_nonempty(x: Tensor, op: str) -> None:
    """Only the batch dimension of a 2-d op's input may be 0, as in PyTorch."""
    if 0 in x.shape[-3:]:
        raise ValueError(f"{op}: expected non-empty channel, height and width dimensions, got input shape "
                         f"{x.shape} (only the batch dimension may be 0)")

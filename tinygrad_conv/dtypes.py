"""dtypes: PyTorch's names, its default float dtype and its type promotion, on NumPy dtypes.

A dtype here is a ``numpy.dtype`` (``tc.float32 == np.dtype("float32")``), so a tensor's ``dtype``
compares equal to both the names below and NumPy's. What follows PyTorch rather than NumPy:

* Python floats (and the factories) take the *default dtype*, float32 unless
  :func:`set_default_dtype` says float64.
* :func:`result_type` follows ``torch.result_type``: the categories are bool < integer < floating,
  and the result takes the highest category present. Within it, tensors with dimensions decide over
  0-d tensors, which decide over Python numbers; a lower-priority operand only matters when its
  category is higher (``float32 (3,) * float64 ()`` is float32, ``int64 (3,) * 2.5`` is the default
  float dtype, ``int32 (3,) * float64 ()`` is float64).

>>> import numpy as np
>>> import tinygrad_conv as tc
>>> tc.result_type(tc.zeros(3), tc.tensor(1.0, dtype=tc.float64))
dtype('float32')
>>> tc.result_type(tc.tensor([1, 2]), 2.5), tc.promote_types(tc.int64, tc.float16)
(dtype('float32'), dtype('float16'))
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int8 = np.dtype(np.int8)
int16 = np.dtype(np.int16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
bool_ = np.dtype(np.bool_)

#: The dtypes tensors may have (PyTorch's, less complex and bfloat16, which NumPy lacks).
SUPPORTED = (bool_, uint8, int8, int16, int32, int64, float16, float32, float64)
_SUPPORTED_SET = frozenset(SUPPORTED)

# Promotion categories, as PyTorch orders them.
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}
_CATEGORY_NAME = ("bool", "integer", "floating")

_default = [float32]  # a list so the functions below can rebind it without `global`


def get_default_dtype() -> np.dtype:
    """The dtype of Python floats and of float factories (float32 unless changed), as
    ``torch.get_default_dtype``.

    >>> import tinygrad_conv as tc
    >>> tc.get_default_dtype() == tc.float32
    True
    """
    return _default[0]


def set_default_dtype(d: Any) -> None:
    """Set the dtype Python floats and float factories get, as ``torch.set_default_dtype``.

    Only float32 and float64 are accepted (PyTorch also takes float16, which NumPy computes too
    slowly to be a sensible default here).

    >>> import tinygrad_conv as tc
    >>> tc.set_default_dtype(tc.float64); tc.tensor([1.5]).dtype
    dtype('float64')
    >>> tc.set_default_dtype(tc.float32)
    """
    try:
        dt = np.dtype(d)
    except TypeError:
        raise TypeError(f"set_default_dtype: invalid dtype object {d!r}: only floating-point types are "
                        "supported as the default type") from None
    if dt.kind != "f":
        raise TypeError(f"set_default_dtype: only floating-point types are supported as the default type, "
                        f"got {dt}")
    if dt not in (float32, float64):
        raise TypeError(f"set_default_dtype: only float32 and float64 are supported as the default type "
                        f"here, got {dt} (NumPy has no fast float16 arithmetic)")
    _default[0] = dt


def as_dtype(d: Any, op: str, arg: str = "dtype") -> np.dtype:
    """``d`` as a supported ``numpy.dtype`` (a name above, a NumPy dtype or type, or Python's
    ``float``/``int``/``bool`` as PyTorch accepts them), or a TypeError naming ``op`` and ``arg``."""
    if d is builtins.float:  # PyTorch reads Python's float as float64, as NumPy does
        return float64
    try:
        dt = np.dtype(d)
    except TypeError:
        raise TypeError(f"{op}: {arg} must be a dtype such as tinygrad_conv.float32, got {d!r}") from None
    if dt not in _SUPPORTED_SET:
        names = ", ".join(str(s) for s in SUPPORTED)
        raise TypeError(f"{op}: unsupported {arg} {dt}; the supported dtypes are {names}")
    return dt


def _check_supported(dt: np.dtype, what: str) -> None:
    if dt not in _SUPPORTED_SET:
        raise TypeError(f"{what}: promotion for dtype {dt} is not supported; the supported dtypes are "
                        + ", ".join(str(s) for s in SUPPORTED))


def _category(dt: np.dtype) -> int:
    return _CATEGORY[dt.kind]


def promote_types(type1: Any, type2: Any) -> np.dtype:
    """The smallest dtype both can be converted to without leaving the higher category, as
    ``torch.promote_types`` (``int64`` with ``float16`` gives ``float16``, unlike NumPy).

    >>> import tinygrad_conv as tc
    >>> tc.promote_types(tc.uint8, tc.int8), tc.promote_types(tc.int64, tc.float32)
    (dtype('int16'), dtype('float32'))
    """
    a, b = np.dtype(type1), np.dtype(type2)
    if a == b:
        _check_supported(a, "promote_types")
        return a
    _check_supported(a, "promote_types")
    _check_supported(b, "promote_types")
    ca, cb = _CATEGORY[a.kind], _CATEGORY[b.kind]
    if ca != cb:
        return a if ca > cb else b
    # Within one category PyTorch's table is NumPy's (uint8 with int8 gives int16).
    return np.promote_types(a, b)


def can_cast(from_: Any, to: Any) -> bool:
    """Whether PyTorch's casting rules allow ``from_`` to ``to``: never to a lower category
    (float to integer, integer to bool), any size within or above it, as ``torch.can_cast``.

    >>> import tinygrad_conv as tc
    >>> tc.can_cast(tc.float64, tc.int32), tc.can_cast(tc.int64, tc.float16)
    (False, True)
    """
    a, b = np.dtype(from_), np.dtype(to)
    _check_supported(a, "can_cast")
    _check_supported(b, "can_cast")
    return _CATEGORY[a.kind] <= _CATEGORY[b.kind]


def _combine(higher: np.dtype | None, lower: np.dtype | None) -> np.dtype | None:
    """PyTorch's combine_categories: ``lower`` (a lower-priority group) only counts when its
    category is above ``higher``'s."""
    if higher is None:
        return lower
    if lower is None:
        return higher
    if higher.kind == "f":
        return higher
    if higher.kind == "b" or lower.kind == "f":
        return promote_types(higher, lower)
    return higher


def _operand_dtype(x: Any) -> tuple[int, np.dtype]:
    """(priority, dtype) of one operand: 0 a tensor with dims, 1 a 0-d tensor, 2 a number."""
    if isinstance(x, np.ndarray):
        return (0 if x.ndim else 1), x.dtype
    data = getattr(x, "_data", None)  # a Tensor (imported lazily: tensor.py imports this module)
    if isinstance(data, np.ndarray) and not isinstance(x, np.generic):
        return (0 if data.ndim else 1), data.dtype
    # Python numbers and NumPy scalars are "wrapped numbers": they only set the category.
    if isinstance(x, (builtins.bool, np.bool_)):
        return 2, bool_
    if isinstance(x, (builtins.int, np.integer)):
        return 2, int64
    if isinstance(x, (builtins.float, np.floating)):
        return 2, _default[0]
    raise TypeError(f"result_type: expected a Tensor or a Python number (bool, int, float), got "
                    f"{type(x).__name__}")


def result_type(tensor1: Any, tensor2: Any, *more: Any) -> np.dtype:
    """The dtype an arithmetic op on these operands gives, as ``torch.result_type`` (which takes
    two; more are accepted for ops like ``where`` and ``clamp``).

    >>> import numpy as np
    >>> import tinygrad_conv as tc
    >>> tc.result_type(tc.tensor([1, 2], dtype=tc.int32), tc.tensor(1.0, dtype=tc.float64))
    dtype('float64')
    >>> tc.result_type(tc.tensor([True]), 3), tc.result_type(2, 2.5)
    (dtype('int64'), dtype('float32'))
    """
    groups: list[np.dtype | None] = [None, None, None]
    for x in (tensor1, tensor2, *more):
        prio, dt = _operand_dtype(x)
        _check_supported(dt, "result_type")
        groups[prio] = dt if groups[prio] is None else promote_types(groups[prio], dt)
    out = _combine(groups[0], _combine(groups[1], groups[2]))
    if out is None:  # unreachable: two operands are required
        raise TypeError("result_type: no operands")
    return out


def _cast_operand(x: Any, dt: np.dtype) -> Any:
    """One operand converted for computing in ``dt``: arrays cast, Python numbers made 0-d arrays of
    ``dt`` (so NumPy neither widens nor refuses an out-of-range int; PyTorch wraps it)."""
    if isinstance(x, np.ndarray):
        return x if x.dtype == dt else x.astype(dt)
    if dt.kind in "biu" and not isinstance(x, (builtins.bool, np.bool_)):
        return np.asarray(x, dtype=np.int64).astype(dt)
    return np.asarray(x, dtype=dt)


def promote_operands(*operands: Any, true_divide: bool = False) -> tuple[np.dtype, list[Any]]:
    """The result dtype of ``operands`` (arrays or Python numbers, as array forwards see them) and
    the operands converted to it. ``true_divide``: an integer or bool result becomes the default
    float dtype, as PyTorch's ``/`` does. The common cases return at once: every op calls this."""
    if len(operands) == 2:
        a, b = operands
        ta, tb = type(a), type(b)
        if ta is np.ndarray:
            if tb is np.ndarray:
                da = a.dtype
                if (da is b.dtype or da == b.dtype) and (not true_divide or da.kind == "f"):
                    return da, [a, b]
            elif (tb is builtins.float or tb is builtins.int) and a.dtype.kind == "f":
                return a.dtype, [a, b]  # a float tensor with a Python number keeps its dtype
        elif tb is np.ndarray and (ta is builtins.float or ta is builtins.int) and b.dtype.kind == "f":
            return b.dtype, [a, b]
    dt = result_type(*operands)
    if true_divide and dt.kind != "f":
        dt = _default[0]
    return dt, [_cast_operand(x, dt) for x in operands]

"""Tensor factories with PyTorch's names, signatures and defaults (``torch.zeros``, ``torch.randn`` ...).

* Float factories give the default dtype (:func:`tinygrad_conv.get_default_dtype`); ``full`` and
  ``arange`` infer theirs from the numbers, as PyTorch does; ``randint`` gives int64.
* Random factories draw from ``generator`` (a ``numpy.random.Generator``) or else from the one
  default generator, so ``tc.manual_seed`` makes them repeat.
* ``device`` may be None, ``"cpu"`` or a device object whose type is cpu: the only device here.
* ``tensor`` copies its data (as ``torch.tensor``); ``from_numpy`` shares the array's memory and
  ``as_tensor`` shares when it can.

>>> import tinygrad_conv as tc
>>> _ = tc.manual_seed(0); a = tc.randn(2, 3)
>>> _ = tc.manual_seed(0); bool((a == tc.randn(2, 3)).all()), a.dtype, tc.zeros(2, dtype=tc.int64).tolist()
(True, dtype('float32'), [0, 0])
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import dtypes
from .device import check_device
from .dtypes import as_dtype, get_default_dtype
from .random import generator_or_default
from .tensor import Tensor

__all__ = ["arange", "as_tensor", "empty", "empty_like", "eye", "from_numpy", "full", "full_like", "linspace",
           "ones", "ones_like", "rand", "rand_like", "randint", "randint_like", "randn", "randn_like", "tensor",
           "zeros", "zeros_like"]


# ----------------------------------------------------------------------------- argument checks
def _check_device(device: Any, op: str) -> None:
    """Accept the CPU in any of PyTorch's spellings; refuse any other device, saying why."""
    check_device(device, op)


def _check_pin_memory(pin_memory: bool, op: str) -> None:
    if pin_memory:
        raise RuntimeError(f"{op}: pin_memory=True needs an accelerator; tinygrad_conv only supports the CPU, "
                           "where pinned memory has no use: pass pin_memory=False")


def _generator(generator: Any, op: str) -> np.random.Generator:
    return generator_or_default(generator, op)


def _dtype(dtype: Any, op: str, default: np.dtype) -> np.dtype:
    return default if dtype is None else as_dtype(dtype, op)


def _float_dtype(dtype: Any, op: str, what: str) -> np.dtype:
    dt = _dtype(dtype, op, get_default_dtype())
    if dt.kind != "f":
        raise NotImplementedError(f"{op}: dtype {dt} is not supported: {what} gives floating point numbers, "
                                  "pass a floating dtype such as tinygrad_conv.float32")
    return dt


def _index(x: Any, op: str, arg: str, pos: int, expected: str) -> int:
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{op}(): argument '{arg}' (position {pos}) must be {expected}, not bool")
    try:
        return operator.index(x)
    except TypeError:
        raise TypeError(f"{op}(): argument '{arg}' (position {pos}) must be {expected}, "
                        f"not {type(x).__name__}") from None


def _size_tuple(size: Any, op: str, pos: int = 1) -> tuple[int, ...]:
    """A size given as one tuple/list (``full((2, 3), v)``), checked as PyTorch checks it."""
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"{op}(): argument 'size' (position {pos}) must be tuple of ints, not "
                        f"{type(size).__name__}")
    dims = tuple(_index(d, op, "size", pos, "tuple of ints") for d in size)
    for d in dims:
        if d < 0:
            raise RuntimeError(f"{op}: Dimension size must be non-negative, got size {list(dims)}")
    return dims


def _shape_args(shape: Sequence[Any], op: str = "zeros") -> tuple[int, ...]:
    """``*size`` as PyTorch reads it: ints (``zeros(2, 3)``) or one tuple/list (``zeros((2, 3))``)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return _size_tuple(shape[0], op)
    if not shape:
        raise TypeError(f'{op}() missing 1 required positional arguments: "size"')
    return _size_tuple(tuple(shape), op)


def _check_tensor(input: Any, op: str) -> Tensor:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}")
    return input


def _make(arr: np.ndarray, requires_grad: bool) -> Tensor:
    return Tensor(arr, requires_grad=requires_grad)


# ----------------------------------------------------------------------------- from data
def tensor(data: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:
    """A new Tensor holding a copy of ``data`` (numbers, nested lists, a NumPy array or a Tensor),
    as ``torch.tensor``. Python floats get the default dtype; NumPy arrays keep theirs.

    >>> import numpy as np
    >>> import tinygrad_conv as tc
    >>> a = np.zeros(2); t = tc.tensor(a); a[0] = 5.0
    >>> t.tolist(), t.dtype, tc.tensor([1.5]).dtype, tc.tensor([1, 2]).dtype
    ([0.0, 0.0], dtype('float64'), dtype('float32'), dtype('int64'))
    """
    _check_device(device, "tensor")
    _check_pin_memory(pin_memory, "tensor")
    dt = None if dtype is None else as_dtype(dtype, "tensor")
    if isinstance(data, Tensor):
        warnings.warn("To copy construct from a tensor, it is recommended to use sourceTensor.clone().detach() "
                      "or sourceTensor.clone().detach().requires_grad_(True), rather than tc.tensor(sourceTensor).",
                      UserWarning, stacklevel=2)
        data = data._data
    out = Tensor(data, dtype=dt)
    if not isinstance(data, (list, tuple, int, float, bool)):
        # An array (or anything with __array__) may be shared by Tensor(): torch.tensor never shares.
        out._data = out._data.copy()
    if requires_grad:
        out.requires_grad_(True)
    return out


_FROM_NUMPY_KINDS = "biuf"


def from_numpy(ndarray: Any) -> Tensor:
    """A Tensor that shares ``ndarray``'s memory (a change to one shows in the other), as
    ``torch.from_numpy``.

    >>> import numpy as np
    >>> import tinygrad_conv as tc
    >>> a = np.zeros(2, dtype=np.float32); t = tc.from_numpy(a); a[0] = 5.0
    >>> t.tolist()
    [5.0, 0.0]
    """
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray (got {type(ndarray).__name__})")
    if ndarray.dtype not in dtypes.SUPPORTED:
        names = ", ".join(str(d) for d in dtypes.SUPPORTED)
        raise TypeError(f"from_numpy: can't convert np.ndarray of type numpy.{ndarray.dtype}. The only supported "
                        f"types are: {names}.")
    return Tensor(ndarray)


def as_tensor(data: Any, *, dtype: Any = None, device: Any = None) -> Tensor:
    """``data`` as a Tensor without a copy when it can be (a Tensor or NumPy array already of
    ``dtype`` is shared; a Tensor of another dtype is converted with ``.to``), as ``torch.as_tensor``.

    >>> import numpy as np
    >>> import tinygrad_conv as tc
    >>> a = np.zeros(2, dtype=np.float32)
    >>> tc.as_tensor(a).numpy() is a, tc.as_tensor(a, dtype=tc.float64).dtype
    (True, dtype('float64'))
    """
    _check_device(device, "as_tensor")
    dt = None if dtype is None else as_dtype(dtype, "as_tensor")
    if isinstance(data, Tensor):
        return data if dt is None or data.dtype == dt else data.to(dt)
    if isinstance(data, np.ndarray):
        if data.dtype not in dtypes.SUPPORTED and dt is None:
            return from_numpy(data)  # raises, naming the supported types
        return Tensor(data if dt is None else data.astype(dt, copy=False))
    return Tensor(data, dtype=dt)


# ----------------------------------------------------------------------------- constant fills
def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros, as ``torch.zeros`` (``zeros(2, 3)`` or ``zeros((2, 3))``).

    >>> import tinygrad_conv as tc
    >>> tc.zeros(2, 3).shape, tc.zeros((2,), dtype=tc.int64).tolist()
    ((2, 3), [0, 0])
    """
    _check_device(device, "zeros")
    return _make(np.zeros(_shape_args(size, "zeros"), dtype=_dtype(dtype, "zeros", get_default_dtype())),
                 requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones, as ``torch.ones``.

    >>> import tinygrad_conv as tc
    >>> tc.ones(2).tolist()
    [1.0, 1.0]
    """
    _check_device(device, "ones")
    return _make(np.ones(_shape_args(size, "ones"), dtype=_dtype(dtype, "ones", get_default_dtype())),
                 requires_grad)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False,
          pin_memory: bool = False) -> Tensor:
    """An uninitialised tensor (its values are whatever the memory held), as ``torch.empty``.

    >>> import tinygrad_conv as tc
    >>> tc.empty(2, 3).shape
    (2, 3)
    """
    _check_device(device, "empty")
    _check_pin_memory(pin_memory, "empty")
    return _make(np.empty(_shape_args(size, "empty"), dtype=_dtype(dtype, "empty", get_default_dtype())),
                 requires_grad)


def _fill_dtype(fill_value: Any, op: str) -> np.dtype:
    """The dtype ``full`` infers from its value: bool, int64 or the default float dtype."""
    if isinstance(fill_value, Tensor):
        if fill_value.ndim != 0:
            raise RuntimeError(f"{op}: fill_value must be a number or a 0-d tensor, got a tensor of shape "
                               f"{fill_value.shape}")
        return fill_value.dtype
    if isinstance(fill_value, (bool, np.bool_)):
        return dtypes.bool_
    if isinstance(fill_value, (int, np.integer)):
        return dtypes.int64
    if isinstance(fill_value, (float, np.floating)):
        return get_default_dtype()
    raise TypeError(f"{op}(): argument 'fill_value' must be a Number, not {type(fill_value).__name__}")


def _fill_array(shape: tuple[int, ...], fill_value: Any, dt: np.dtype) -> np.ndarray:
    value = fill_value._data if isinstance(fill_value, Tensor) else fill_value
    out = np.empty(shape, dtype=dt)
    # PyTorch converts the value as C does (1.5 into an int tensor is 1); NumPy's cast does the same.
    out[...] = np.asarray(value).astype(dt)
    return out


def full(size: Any, fill_value: Any, *, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value``, as ``torch.full``; the dtype is inferred from
    the value (bool, int64, or the default float dtype) unless given.

    >>> import tinygrad_conv as tc
    >>> tc.full((2,), 7).tolist(), tc.full((1,), 0.5).dtype
    ([7, 7], dtype('float32'))
    """
    _check_device(device, "full")
    shape = _size_tuple(size, "full")
    dt = as_dtype(dtype, "full") if dtype is not None else _fill_dtype(fill_value, "full")
    return _make(_fill_array(shape, fill_value, dt), requires_grad)


# ----------------------------------------------------------------------------- _like
def zeros_like(input: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with ``input``'s shape and (unless given) dtype, as ``torch.zeros_like``.

    >>> import tinygrad_conv as tc
    >>> tc.zeros_like(tc.ones(2, dtype=tc.int64)).tolist()
    [0, 0]
    """
    input = _check_tensor(input, "zeros_like")
    _check_device(device, "zeros_like")
    return _make(np.zeros(input.shape, dtype=_dtype(dtype, "zeros_like", input.dtype)), requires_grad)


def ones_like(input: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with ``input``'s shape and (unless given) dtype, as ``torch.ones_like``.

    >>> import tinygrad_conv as tc
    >>> tc.ones_like(tc.zeros(2), dtype=tc.float64).dtype
    dtype('float64')
    """
    input = _check_tensor(input, "ones_like")
    _check_device(device, "ones_like")
    return _make(np.ones(input.shape, dtype=_dtype(dtype, "ones_like", input.dtype)), requires_grad)


def empty_like(input: Tensor, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor with ``input``'s shape and (unless given) dtype, as ``torch.empty_like``.

    >>> import tinygrad_conv as tc
    >>> tc.empty_like(tc.zeros(2, 3)).shape
    (2, 3)
    """
    input = _check_tensor(input, "empty_like")
    _check_device(device, "empty_like")
    return _make(np.empty(input.shape, dtype=_dtype(dtype, "empty_like", input.dtype)), requires_grad)


def full_like(input: Tensor, fill_value: Any, *, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    """``fill_value`` with ``input``'s shape and (unless given) dtype, as ``torch.full_like``.

    >>> import tinygrad_conv as tc
    >>> tc.full_like(tc.zeros(2, dtype=tc.int64), 2.7).tolist()
    [2, 2]
    """
    input = _check_tensor(input, "full_like")
    _check_device(device, "full_like")
    _fill_dtype(fill_value, "full_like")  # checks the value's type
    return _make(_fill_array(input.shape, fill_value, _dtype(dtype, "full_like", input.dtype)), requires_grad)


# ----------------------------------------------------------------------------- random
def _uniform(rng: np.random.Generator, shape: tuple[int, ...], dt: np.dtype) -> np.ndarray:
    if dt in (dtypes.float32, dtypes.float64):
        return rng.random(shape, dtype=dt)
    return rng.random(shape, dtype=np.float32).astype(dt)  # NumPy draws only float32/float64


def _normal(rng: np.random.Generator, shape: tuple[int, ...], dt: np.dtype) -> np.ndarray:
    if dt in (dtypes.float32, dtypes.float64):
        return rng.standard_normal(shape, dtype=dt)
    return rng.standard_normal(shape, dtype=np.float32).astype(dt)


def rand(*size: Any, generator: np.random.Generator | None = None, dtype: Any = None, device: Any = None,
         requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """Uniform samples from [0, 1), as ``torch.rand``.

    >>> import tinygrad_conv as tc
    >>> x = tc.rand(1000); bool((x >= 0).all() and (x < 1).all())
    True
    """
    _check_device(device, "rand")
    _check_pin_memory(pin_memory, "rand")
    shape = _shape_args(size, "rand")
    dt = _float_dtype(dtype, "rand", "rand draws uniform samples from [0, 1) and so")
    return _make(_uniform(_generator(generator, "rand"), shape, dt), requires_grad)


def randn(*size: Any, generator: np.random.Generator | None = None, dtype: Any = None, device: Any = None,
          requires_grad: bool = False, pin_memory: bool = False) -> Tensor:
    """Standard normal samples, as ``torch.randn``.

    >>> import tinygrad_conv as tc
    >>> tc.randn(2, 3).shape, tc.randn(2, dtype=tc.float64).dtype
    ((2, 3), dtype('float64'))
    """
    _check_device(device, "randn")
    _check_pin_memory(pin_memory, "randn")
    shape = _shape_args(size, "randn")
    dt = _float_dtype(dtype, "randn", "randn draws normal samples and so")
    return _make(_normal(_generator(generator, "randn"), shape, dt), requires_grad)


def rand_like(input: Tensor, *, generator: np.random.Generator | None = None, dtype: Any = None,
              device: Any = None, requires_grad: bool = False) -> Tensor:
    """``rand`` with ``input``'s shape and (unless given) dtype, as ``torch.rand_like``.

    >>> import tinygrad_conv as tc
    >>> tc.rand_like(tc.zeros(2, 3, dtype=tc.float64)).dtype
    dtype('float64')
    """
    input = _check_tensor(input, "rand_like")
    _check_device(device, "rand_like")
    dt = _float_dtype(dtype if dtype is not None else input.dtype, "rand_like",
                      "rand_like draws uniform samples from [0, 1) and so")
    return _make(_uniform(_generator(generator, "rand_like"), input.shape, dt), requires_grad)


def randn_like(input: Tensor, *, generator: np.random.Generator | None = None, dtype: Any = None,
               device: Any = None, requires_grad: bool = False) -> Tensor:
    """``randn`` with ``input``'s shape and (unless given) dtype, as ``torch.randn_like``.

    >>> import tinygrad_conv as tc
    >>> tc.randn_like(tc.zeros(4)).shape
    (4,)
    """
    input = _check_tensor(input, "randn_like")
    _check_device(device, "randn_like")
    dt = _float_dtype(dtype if dtype is not None else input.dtype, "randn_like",
                      "randn_like draws normal samples and so")
    return _make(_normal(_generator(generator, "randn_like"), input.shape, dt), requires_grad)


def _bounds(op: str, args: tuple[Any, ...], low: Any, high: Any, first_pos: int) -> tuple[int, int]:
    """``(low, high)`` from PyTorch's two call forms, ``(high)`` and ``(low, high)``, positional or
    by keyword."""
    if len(args) > 2:
        raise TypeError(f"{op}() takes at most 2 positional bounds (low, high), got {len(args)}")
    if len(args) == 2:
        if low is not None or high is not None:
            raise TypeError(f"{op}(): low and high given both by position and by keyword")
        low, high = args
    elif len(args) == 1:
        if high is not None:
            if low is not None:
                raise TypeError(f"{op}(): low given both by position and by keyword")
            low = args[0]
        else:
            high = args[0]
    if high is None:
        raise TypeError(f"{op}() missing 1 required argument: 'high'")
    lo = 0 if low is None else _index(low, op, "low", first_pos, "int")
    hi = _index(high, op, "high", first_pos + (0 if low is None else 1), "int")
    if lo >= hi:
        raise RuntimeError(f"{op}: random_ expects 'from' to be less than 'to', but got from={lo} >= to={hi}")
    return lo, hi


def _integers(rng: np.random.Generator, lo: int, hi: int, shape: tuple[int, ...], dt: np.dtype) -> np.ndarray:
    return rng.integers(lo, hi, size=shape, dtype=np.int64).astype(dt, copy=False)


def randint(*args: Any, low: Any = None, high: Any = None, size: Any = None,
            generator: np.random.Generator | None = None, dtype: Any = None, device: Any = None,
            requires_grad: bool = False) -> Tensor:
    """Integers drawn uniformly from [low, high), as ``torch.randint``: ``randint(high, size)`` or
    ``randint(low, high, size)`` (or by keyword); int64 unless ``dtype`` is given.

    >>> import tinygrad_conv as tc
    >>> x = tc.randint(3, 10, (100,)); x.dtype, bool((x >= 3).all() and (x < 10).all())
    (dtype('int64'), True)
    """
    _check_device(device, "randint")
    if size is None:
        if not args:
            raise TypeError("randint() missing 1 required argument: 'size'")
        *rest, size = args
        args = tuple(rest)
    lo, hi = _bounds("randint", args, low, high, 1)
    shape = _size_tuple(size, "randint", pos=len(args) + 1)
    dt = _dtype(dtype, "randint", dtypes.int64)
    return _make(_integers(_generator(generator, "randint"), lo, hi, shape, dt), requires_grad)


def randint_like(input: Tensor, *args: Any, low: Any = None, high: Any = None,
                 generator: np.random.Generator | None = None, dtype: Any = None, device: Any = None,
                 requires_grad: bool = False) -> Tensor:
    """``randint`` with ``input``'s shape and (unless given) dtype: ``randint_like(x, high)`` or
    ``randint_like(x, low, high)``, as ``torch.randint_like``.

    >>> import tinygrad_conv as tc
    >>> tc.randint_like(tc.zeros(3), 1, 2).tolist()
    [1.0, 1.0, 1.0]
    """
    input = _check_tensor(input, "randint_like")
    _check_device(device, "randint_like")
    lo, hi = _bounds("randint_like", args, low, high, 2)
    dt = _dtype(dtype, "randint_like", input.dtype)
    return _make(_integers(_generator(generator, "randint_like"), lo, hi, input.shape, dt), requires_grad)


# ----------------------------------------------------------------------------- ranges
def _number(x: Any, op: str, arg: str) -> int | float:
    if isinstance(x, Tensor):
        if x.numel() != 1:
            raise RuntimeError(f"{op}: {arg} must be a number or a one-element tensor, got shape {x.shape}")
        x = x._data.reshape(()).item()
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}(): argument '{arg}' must be a Number, not {type(x).__name__}")
    return x.item() if isinstance(x, np.generic) else x


def arange(start: Any = 0, end: Any = None, step: Any = 1, *, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Values from ``start`` up to (not including) ``end`` by ``step``, as ``torch.arange``:
    ``arange(end)`` or ``arange(start, end, step)``. int64 when all three are integers, else the
    default float dtype.

    >>> import tinygrad_conv as tc
    >>> tc.arange(4).tolist(), tc.arange(1, 2, 0.5).tolist()
    ([0, 1, 2, 3], [1.0, 1.5])
    """
    _check_device(device, "arange")
    if end is None:
        start, end = 0, start
    lo, hi, st = _number(start, "arange", "start"), _number(end, "arange", "end"), _number(step, "arange", "step")
    if st == 0:
        raise RuntimeError("arange: step must be nonzero")
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise RuntimeError(f"arange: unsupported range: {lo} -> {hi}")
    all_int = all(isinstance(v, int) for v in (lo, hi, st))
    dt = _dtype(dtype, "arange", dtypes.int64 if all_int else get_default_dtype())
    if dt.kind != "f" and not all_int:
        # PyTorch converts the bounds to the integer dtype first (truncating), then counts.
        lo, hi, st = int(lo), int(hi), int(st)
        if st == 0:
            raise ValueError("arange: step must be nonzero (after converting it to the integer dtype "
                             f"{dt}, as PyTorch does)")
        all_int = True
    if (hi - lo) * st < 0:
        raise RuntimeError(f"arange: upper bound and lower bound inconsistent with step sign "
                           f"(start={lo}, end={hi}, step={st})")
    if all_int:
        n = -((lo - hi) // st)  # ceil((hi - lo) / st), exactly
        values = lo + np.arange(n, dtype=np.int64) * st
    else:
        # As PyTorch's CPU kernel: start + i * step in float64, then converted.
        n = math.ceil((hi - lo) / st)
        values = lo + np.arange(n, dtype=np.float64) * st
    return _make(values.astype(dt), requires_grad)


def linspace(start: Any, end: Any, steps: int, *, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive, as ``torch.linspace``
    (the default float dtype unless given; an integer dtype truncates).

    >>> import tinygrad_conv as tc
    >>> tc.linspace(0, 1, 5).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    _check_device(device, "linspace")
    lo, hi = _number(start, "linspace", "start"), _number(end, "linspace", "end")
    n = _index(steps, "linspace", "steps", 3, "int")
    if n < 0:
        raise RuntimeError(f"linspace: number of steps must be non-negative, got {n}")
    dt = _dtype(dtype, "linspace", get_default_dtype())
    if n <= 1:
        return _make(np.full(n, lo).astype(dt), requires_grad)
    # As PyTorch's CPU kernel: the ends converted to the dtype, the step computed in it (in float64
    # for integer dtypes), the first half counted up from start and the second down from end, so
    # that both ends are exact.
    wide = dt if dt.kind == "f" else np.dtype(np.float64)
    a = np.asarray(lo).astype(dt).astype(wide)
    b = np.asarray(hi).astype(dt).astype(wide)
    step = (b - a) / wide.type(n - 1)
    idx = np.arange(n).astype(wide)
    half = n // 2
    values = np.concatenate([a + step * idx[:half], b - step * (wide.type(n - 1) - idx[half:])])
    return _make(values.astype(dt), requires_grad)


def eye(n: int, m: int | None = None, *, dtype: Any = None, device: Any = None,
        requires_grad: bool = False) -> Tensor:
    """An ``n`` x ``m`` (default ``n`` x ``n``) matrix with ones on the diagonal, as ``torch.eye``.

    >>> import tinygrad_conv as tc
    >>> tc.eye(2).tolist(), tc.eye(1, 2, dtype=tc.int64).tolist()
    ([[1.0, 0.0], [0.0, 1.0]], [[1, 0]])
    """
    _check_device(device, "eye")
    rows = _index(n, "eye", "n", 1, "int")
    if rows < 0:
        raise RuntimeError(f"eye: n must be greater or equal to 0, got {rows}")
    cols = rows if m is None else _index(m, "eye", "m", 2, "int")
    if cols < 0:
        raise RuntimeError(f"eye: m must be greater or equal to 0, got {cols}")
    return _make(np.eye(rows, cols, dtype=_dtype(dtype, "eye", get_default_dtype())), requires_grad)

"""Top-level functions that mirror Tensor methods, as ``torch.*`` (``torch.cat``, ``torch.max`` ...).

Most are the registered ops themselves (``tc.exp is tc.functional.exp``); the ones below that are
written out add what PyTorch's top-level function takes beyond the method: a list or tuple of
tensors (``cat``, ``stack``), the one-argument ``where``, the
and comparisons with their error messages.

>>> import tinygrad_conv as tc
>>> a, b = tc.tensor([[1.0, 5.0]]), tc.tensor([[3.0, 2.0]])
>>> tc.cat((a, b), 1).tolist(), tc.max(tc.cat((a, b)), dim=1).indices.tolist(), tc.max(a, b).tolist()
([[1.0, 5.0, 3.0, 2.0]], [1, 0], [[3.0, 5.0]])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .ops import elementwise as _ew
from .ops import trig as _trig
from .ops.elementwise import clamp, maximum, minimum
from .ops.elementwise import where as _where3
from .ops.indexing import Flip, _dims_arg, chunk, gather, scatter, scatter_add, split
from .ops.linalg import bmm, einsum, mm, norm, std, t
from .ops.matmul import matmul
from .ops.reduce import max, mean, min, sum, var
from .ops.shape import cat, flatten, permute, reshape, squeeze, stack, transpose, unsqueeze
from .tensor import Tensor

__all__ = ["abs", "allclose", "argmax", "argmin", "bmm", "cat", "chunk", "clamp", "clip", "concat", "concatenate",
           "cos", "einsum", "eq", "exp", "flatten", "flip", "gather", "ge", "gt", "le", "log", "lt", "matmul", "max",
           "maximum", "mean", "min", "minimum", "mm", "ne", "norm", "numel", "permute", "reshape", "scatter",
           "scatter_add", "sigmoid", "sin", "split", "sqrt", "squeeze", "stack", "std", "sum", "t", "tanh",
           "transpose", "unsqueeze", "var", "where"]

# These are the op functions themselves; listed so that linters see them used.
_REEXPORTED = (bmm, cat, chunk, clamp, einsum, flatten, gather, matmul, max, maximum, min, minimum, mm, norm, permute,
               reshape, scatter, scatter_add, split, squeeze, stack, std, sum, mean, t, transpose, unsqueeze, var)

clip = clamp  # PyTorch's alias


def _tensor(x: Any, op: str, arg: str = "input", pos: int = 1) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument '{arg}' (position {pos}) must be Tensor, not {type(x).__name__}")
    return x


# The elementwise functions under PyTorch's argument name (``torch.exp(input=x)``).
def exp(input: Tensor) -> Tensor:
    """e ** input, elementwise, as ``torch.exp``.

    >>> import tinygrad_conv as tc
    >>> tc.exp(tc.tensor([0.0])).tolist()
    [1.0]
    """
    return _ew.exp(_tensor(input, "exp"))


def log(input: Tensor) -> Tensor:
    """The natural logarithm, elementwise, as ``torch.log``.

    >>> import tinygrad_conv as tc
    >>> tc.log(tc.tensor([1.0])).tolist()
    [0.0]
    """
    return _ew.log(_tensor(input, "log"))


def sqrt(input: Tensor) -> Tensor:
    """The square root, elementwise, as ``torch.sqrt``.

    >>> import tinygrad_conv as tc
    >>> tc.sqrt(tc.tensor([4.0])).tolist()
    [2.0]
    """
    return _ew.sqrt(_tensor(input, "sqrt"))


def abs(input: Tensor) -> Tensor:
    """The absolute value, elementwise, as ``torch.abs``.

    >>> import tinygrad_conv as tc
    >>> tc.abs(tc.tensor([-2, 3])).tolist()
    [2, 3]
    """
    return _ew.abs(_tensor(input, "abs"))


def sin(input: Tensor) -> Tensor:
    """The sine, elementwise, as ``torch.sin``.

    >>> import tinygrad_conv as tc
    >>> tc.sin(tc.tensor([0.0])).tolist()
    [0.0]
    """
    return _trig.sin(_tensor(input, "sin"))


def cos(input: Tensor) -> Tensor:
    """The cosine, elementwise, as ``torch.cos``.

    >>> import tinygrad_conv as tc
    >>> tc.cos(tc.tensor([0.0])).tolist()
    [1.0]
    """
    return _trig.cos(_tensor(input, "cos"))


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + e ** -input), elementwise, as ``torch.sigmoid``.

    >>> import tinygrad_conv as tc
    >>> tc.sigmoid(tc.tensor([0.0])).tolist()
    [0.5]
    """
    return _ew.sigmoid(_tensor(input, "sigmoid"))


def tanh(input: Tensor) -> Tensor:
    """The hyperbolic tangent, elementwise, as ``torch.tanh``.

    >>> import tinygrad_conv as tc
    >>> tc.tanh(tc.tensor([0.0])).tolist()
    [0.0]
    """
    return _ew.tanh(_tensor(input, "tanh"))


def concat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Alias of :func:`cat`, as ``torch.concat``.

    >>> import tinygrad_conv as tc
    >>> tc.concat([tc.zeros(1), tc.ones(1)]).tolist()
    [0.0, 1.0]
    """
    return cat(tensors, dim)


def concatenate(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Alias of :func:`cat` with NumPy's argument name ``axis``, as ``torch.concatenate``.

    >>> import tinygrad_conv as tc
    >>> tc.concatenate([tc.zeros(1, 1), tc.ones(1, 1)], axis=1).tolist()
    [[0.0, 1.0]]
    """
    return cat(tensors, axis)


def flip(input: Tensor, dims: Sequence[int]) -> Tensor:
    """Reverse the order along ``dims`` (a tuple or list), as ``torch.flip`` (the method also takes
    ``x.flip(0, 1)``).

    >>> import tinygrad_conv as tc
    >>> tc.flip(tc.tensor([[1, 2], [3, 4]]), (0, 1)).tolist()
    [[4, 3], [2, 1]]
    """
    _tensor(input, "flip")
    if not isinstance(dims, (tuple, list)):
        raise TypeError(f"flip(): argument 'dims' (position 2) must be tuple of ints, not {type(dims).__name__}")
    return Flip.apply(input, _dims_arg((dims,), "flip"))


def argmax(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """The index of the largest element (of the flattened tensor when ``dim`` is None), as
    ``torch.argmax``.

    >>> import tinygrad_conv as tc
    >>> tc.argmax(tc.tensor([[3, 1], [0, 2]])).item(), tc.argmax(tc.tensor([[3, 1], [0, 2]]), 1).tolist()
    (0, [0, 1])
    """
    return _tensor(input, "argmax").argmax(dim, keepdim)


def argmin(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """The index of the smallest element, as ``torch.argmin``.

    >>> import tinygrad_conv as tc
    >>> tc.argmin(tc.tensor([[3, 1], [0, 2]]), dim=1).tolist()
    [1, 0]
    """
    return _tensor(input, "argmin").argmin(dim, keepdim)


def where(condition: Tensor, input: Any = None, other: Any = None) -> Any:
    """``input`` where ``condition`` holds, else ``other`` (tensors or numbers, broadcast), as
    ``torch.where``; ``where(condition)`` alone gives the indices of the True elements, one index
    tensor per dim (``torch.nonzero(condition, as_tuple=True)``).

    >>> import tinygrad_conv as tc
    >>> c = tc.tensor([[True, False], [False, True]])
    >>> tc.where(c, 1.0, 0.0).tolist(), [i.tolist() for i in tc.where(c)]
    ([[1.0, 0.0], [0.0, 1.0]], [[0, 1], [0, 1]])
    """
    _tensor(condition, "where", "condition")
    if input is None and other is None:
        found = np.nonzero(np.atleast_1d(condition.detach().numpy()))
        return tuple(Tensor._wrap(np.asarray(i, dtype=np.int64)) for i in found)
    if input is None or other is None:
        raise TypeError("where(): pass both input and other, or neither (where(condition) gives the indices)")
    if condition.dtype != np.bool_:
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype "
                           f"{condition.dtype}")
    return _where3(condition, input, other)


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """Whether ``|input - other| <= atol + rtol * |other|`` everywhere (broadcast), as
    ``torch.allclose``; both must have one dtype, as in PyTorch.

    >>> import tinygrad_conv as tc
    >>> tc.allclose(tc.tensor([1.0, 2.0]), tc.tensor([1.0, 2.0 + 1e-7]))
    True
    """
    _tensor(input, "allclose")
    _tensor(other, "allclose", "other", 2)
    if input.dtype != other.dtype:
        raise RuntimeError(f"allclose: {input.dtype} did not match {other.dtype} (convert one with .to())")
    try:
        a, b = input.detach().numpy(), other.detach().numpy()
        return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))
    except ValueError:
        raise RuntimeError(f"allclose: The size of tensor a {list(input.shape)} must match the size of tensor b "
                           f"{list(other.shape)} (they do not broadcast)") from None


def numel(input: Tensor) -> int:
    """The number of elements, as ``torch.numel``.

    >>> import tinygrad_conv as tc
    >>> tc.numel(tc.zeros(2, 3))
    6
    """
    return _tensor(input, "numel").numel()


def eq(input: Tensor, other: Any) -> Tensor:
    """``input == other`` elementwise (broadcast), a bool tensor, as ``torch.eq``.

    >>> import tinygrad_conv as tc
    >>> tc.eq(tc.tensor([[1, 2], [2, 1]]), tc.tensor([1, 1])).tolist()
    [[True, False], [False, True]]
    """
    return _tensor(input, "eq").eq(other)


def ne(input: Tensor, other: Any) -> Tensor:
    """``input != other`` elementwise, as ``torch.ne``.

    >>> import tinygrad_conv as tc
    >>> tc.ne(tc.tensor([1, 2]), 2).tolist()
    [True, False]
    """
    return _tensor(input, "ne").ne(other)


def lt(input: Tensor, other: Any) -> Tensor:
    """``input < other`` elementwise, as ``torch.lt``.

    >>> import tinygrad_conv as tc
    >>> tc.lt(tc.tensor([1, 2]), 2).tolist()
    [True, False]
    """
    return _tensor(input, "lt").lt(other)


def le(input: Tensor, other: Any) -> Tensor:
    """``input <= other`` elementwise, as ``torch.le``.

    >>> import tinygrad_conv as tc
    >>> tc.le(tc.tensor([1, 3]), 2).tolist()
    [True, False]
    """
    return _tensor(input, "le").le(other)


def gt(input: Tensor, other: Any) -> Tensor:
    """``input > other`` elementwise, as ``torch.gt``.

    >>> import tinygrad_conv as tc
    >>> tc.gt(tc.tensor([1, 3]), 2).tolist()
    [False, True]
    """
    return _tensor(input, "gt").gt(other)


def ge(input: Tensor, other: Any) -> Tensor:
    """``input >= other`` elementwise, as ``torch.ge``.

    >>> import tinygrad_conv as tc
    >>> tc.ge(tc.tensor([1, 2]), 2).tolist()
    [False, True]
    """
    return _tensor(input, "ge").ge(other)

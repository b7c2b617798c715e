"""Indexing ops along a dim: gather, scatter, scatter_add, flip, split and chunk (``torch.gather`` ...).

Each backward is again one of these ops, so all of them differentiate twice:

* gather's gradient is a scatter-add of the upstream gradient at the same indices (repeated
  indices add up), and scatter_add's gradient to its source is a gather;
* scatter's gradient to its source is a gather; to its input, the gradient with the overwritten
  places zeroed (a scatter of 0), as PyTorch;
* flip's gradient is the same flip; split and chunk are slices (``getitem``).

>>> import tinygrad_conv as tc
>>> x = tc.tensor([[1.0, 2.0], [3.0, 4.0]])
>>> tc.gather(x, 1, tc.tensor([[1, 1], [0, 1]])).tolist()
[[2.0, 2.0], [3.0, 4.0]]
"""

from __future__ import annotations

import builtins
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..autograd.function import Context, Function
from ..tensor import Tensor
from .registry import Sample, register
from .samples import randn
from .shape import GetItem


def _dim(dim: Any, ndim: int, op: str) -> int:
    """``dim`` checked and made non-negative, with PyTorch's message (a 0-d tensor has dims -1 and 0)."""
    if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}(): argument 'dim' must be int, not {type(dim).__name__}")
    n = builtins.max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return int(dim) % n


def _along(index: np.ndarray, dim: int) -> tuple[np.ndarray, ...]:
    """The fancy index that reads ``a[i0, ..., index[i0, ..., ik], ..., ik]`` for every position of
    ``index``: ``index`` itself along ``dim``, an open grid over the index's own sizes elsewhere (so an
    index smaller than the input reads the leading block, as PyTorch's gather)."""
    parts: list[np.ndarray] = []
    for d, n in enumerate(index.shape):
        if d == dim:
            parts.append(index)
        else:
            shape = [1] * index.ndim
            shape[d] = n
            parts.append(np.arange(n).reshape(shape))
    return tuple(parts)


def _grid(shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """The fancy index of the leading block of this shape (an open grid of aranges)."""
    return tuple(np.arange(n).reshape([-1 if k == j else 1 for k in range(len(shape))]) for j, n in enumerate(shape))


def _pad_to(t: Tensor, shape: tuple[int, ...]) -> Tensor:
    """``t`` (the gradient of the leading block of a larger source) zero-padded to ``shape``."""
    if t.shape == shape:
        return t
    from .shape import pad

    widths: list[int] = []
    for have, want in zip(reversed(t.shape), reversed(shape)):
        widths += [0, want - have]
    return pad(t, widths)


def _check_index(op: str, a: np.ndarray, dim: int, index: np.ndarray, src: np.ndarray | None = None) -> None:
    """PyTorch's rules for gather/scatter indices: an integer tensor with the input's number of dims,
    no larger than the input apart from ``dim`` (and than ``src`` everywhere), values in range."""
    if index.dtype.kind not in "iu":
        raise RuntimeError(f"{op}(): Expected dtype int32/int64 for index, got {index.dtype}")
    if builtins.max(index.ndim, 1) != builtins.max(a.ndim, 1):
        raise RuntimeError(f"{op}: Index tensor must have the same number of dimensions as input tensor "
                           f"(index shape {index.shape}, input shape {a.shape})")
    if index.size == 0:
        return
    if a.ndim and index.ndim:
        for d in range(a.ndim):
            if d != dim and index.shape[d] > a.shape[d]:
                raise RuntimeError(f"{op}: Size does not match at dimension {d} expected index {list(index.shape)} "
                                   f"to be no larger than self {list(a.shape)} apart from dimension {dim}")
            if src is not None and src.ndim == index.ndim and index.shape[d] > src.shape[d]:
                raise RuntimeError(f"{op}: Expected index {list(index.shape)} to be no larger than self "
                                   f"{list(a.shape)} apart from dimension {dim} and to be no larger size than src "
                                   f"{list(src.shape)}")
    size = a.shape[dim] if a.ndim else 1
    lo, hi = int(index.min()), int(index.max())
    bad = lo if lo < 0 else hi if hi >= size else None
    if bad is not None:
        raise RuntimeError(f"{op}: index {bad} is out of bounds for dimension {dim} with size {size}")


def _index_array(index: Any, op: str) -> np.ndarray:
    if not isinstance(index, (Tensor, np.ndarray)):
        raise TypeError(f"{op}(): argument 'index' must be Tensor, not {type(index).__name__}")
    return np.asarray(index.detach().numpy() if isinstance(index, Tensor) else index)


# ------------------------------------------------------------------------ gather and scatter_add
def _gather_samples(rng: np.random.Generator, dtype: Any) -> Any:
    x = randn(rng, dtype, 3, 4)
    yield Sample((x, 1, rng.integers(0, 4, (3, 5))), name="columns, repeats")
    yield Sample((x, 0, rng.integers(0, 3, (2, 3))), name="rows, smaller index")
    yield Sample((randn(rng, dtype, 2, 3, 4), -1, rng.integers(0, 4, (2, 3, 2))), name="3d, last dim")


class Gather(Function):
    """``out[i][j] = input[i][index[i][j]]`` (for dim 1), as ``torch.gather``."""

    array_forward = True

    @staticmethod
    def forward(ctx: Context, input: Any, dim: int, index: Any, *, sparse_grad: bool = False) -> Any:
        d = _dim(dim, input.ndim, "gather")
        index = _index_array(index, "gather")
        _check_index("gather", input, d, index)
        ctx.dim, ctx.index, ctx.shape = d, index, input.shape
        if input.ndim == 0 or index.ndim == 0:
            return input.reshape(-1)[index.reshape(-1)].reshape(index.shape)
        return input[_along(index, d)]

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        zeros = Tensor._wrap(np.zeros(ctx.shape, dtype=g.dtype))
        return ScatterAdd.apply(zeros, ctx.dim, Tensor._wrap(ctx.index), g), None, None


register("gather", samples=_gather_samples,
         reference=lambda torch, a, dim, index: torch.gather(a, dim, index))(Gather)


def _scatter_add_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 3, 4), 1, rng.integers(0, 4, (3, 5)), randn(rng, dtype, 3, 5)),
                 name="columns, repeats add")
    # (A src larger than the index is tested by finite differences in tests/test_torch_functions.py:
    # PyTorch 2.13's own backward fails there, returning the gradient in the index's shape.)
    yield Sample((randn(rng, dtype, 3, 4), 0, rng.integers(0, 3, (2, 3)), randn(rng, dtype, 2, 3)),
                 name="rows, smaller index")


def _check_src(op: str, input: np.ndarray, index: np.ndarray, src: np.ndarray) -> None:
    """scatter's and scatter_add's rules for ``src``: the input's dtype, and the index's number of dims."""
    if src.dtype != input.dtype:
        raise RuntimeError(f"{op}(): Expected self.dtype to be equal to src.dtype (self {input.dtype}, "
                           f"src {src.dtype})")
    if src.ndim != index.ndim and index.size:
        raise RuntimeError(f"{op}: Index tensor must have the same number of dimensions as src tensor "
                           f"(index shape {index.shape}, src shape {src.shape})")


class ScatterAdd(Function):
    """A copy of ``input`` with ``src`` added at ``index`` along ``dim`` (repeats add up), as
    ``torch.scatter_add``; gradient: the upstream one to ``input``, its gather to ``src``."""

    array_forward = True

    @staticmethod
    def forward(ctx: Context, input: Any, dim: int, index: Any, src: Any) -> Any:
        d = _dim(dim, input.ndim, "scatter_add")
        index = _index_array(index, "scatter_add")
        _check_src("scatter_add", input, index, src)
        _check_index("scatter_add", input, d, index, src)
        ctx.dim, ctx.index, ctx.src_shape = d, index, src.shape
        out = input.copy()
        if index.size:
            flat = not index.ndim or not input.ndim
            where = (index.reshape(-1),) if flat else _along(index, d)
            part = src.reshape(-1)[:index.size] if flat else src[_grid(index.shape)]
            np.add.at(out.reshape(-1) if flat else out, where, part)
        return out

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        g_src = None
        if ctx.needs_input_grad[3]:
            g_src = _pad_to(Gather.apply(g, ctx.dim, Tensor._wrap(ctx.index)), ctx.src_shape)
        return g, None, None, g_src


register("scatter_add", samples=_scatter_add_samples,
         reference=lambda torch, a, dim, index, src: torch.scatter_add(a, dim, index, src))(ScatterAdd)


# ------------------------------------------------------------------------ scatter
def _unique_index(rng: np.random.Generator, size: int, shape: tuple[int, ...], dim: int) -> np.ndarray:
    """An index without repeats along ``dim`` (where a repeat makes scatter's result depend on the
    order of writes, and PyTorch's gradient is documented only for unique indices)."""
    moved = list(shape)
    n = moved.pop(dim)
    rows = [rng.permutation(size)[:n] for _ in range(int(np.prod(moved)) if moved else 1)]
    return np.moveaxis(np.array(rows).reshape(moved + [n]), -1, dim)


def _scatter_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 3, 5), 1, _unique_index(rng, 5, (3, 2), 1), randn(rng, dtype, 3, 2)),
                 name="columns")
    yield Sample((randn(rng, dtype, 4, 3), 0, _unique_index(rng, 4, (2, 3), 0), randn(rng, dtype, 2, 3)),
                 name="rows")
    yield Sample((randn(rng, dtype, 4, 3), 0, _unique_index(rng, 4, (3, 3), 0)), {"value": 1.5}, name="value")


_REDUCE = (None, "add", "multiply")


class Scatter(Function):
    """A copy of ``input`` with ``src`` (or the number ``value``) written at ``index`` along ``dim``, as
    ``torch.scatter``; ``reduce='add'``/``'multiply'`` combine instead of overwrite (forward only,
    as PyTorch, which has no derivative for them)."""

    array_forward = True

    @staticmethod
    def forward(ctx: Context, input: Any, dim: int, index: Any, src: Any = None, *, value: Any = None,
                reduce: str | None = None) -> Any:
        d = _dim(dim, input.ndim, "scatter")
        index = _index_array(index, "scatter")
        if reduce not in _REDUCE:
            raise RuntimeError(f"scatter: reduce argument must be either add or multiply (or None), got {reduce!r}")
        if (src is None) == (value is None):
            raise TypeError("scatter(): pass exactly one of src (a Tensor) and value (a number)")
        if src is not None:
            _check_src("scatter", input, index, src)
        _check_index("scatter", input, d, index, src)
        ctx.dim, ctx.index, ctx.reduce = d, index, reduce
        ctx.src_shape = None if src is None else src.shape
        out = input.copy()
        if not index.size:
            return out
        flat = not index.ndim or not input.ndim
        target = out.reshape(-1) if flat else out
        where = (index.reshape(-1),) if flat else _along(index, d)
        if src is not None:
            part = src.reshape(-1)[:index.size] if flat else src[_grid(index.shape)]
        else:
            part = np.asarray(value).astype(input.dtype)
        if reduce is None:
            target[where] = part
        elif reduce == "add":
            np.add.at(target, where, np.broadcast_to(part, index.shape if not flat else (index.size,)))
        else:
            np.multiply.at(target, where, np.broadcast_to(part, index.shape if not flat else (index.size,)))
        return out

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        if ctx.reduce is not None:
            raise RuntimeError(f"scatter: the derivative of scatter with reduce={ctx.reduce!r} is not implemented "
                               "(as in PyTorch); use scatter_add, or scatter without reduce")
        index = Tensor._wrap(ctx.index)
        g_input = Scatter.apply(g, ctx.dim, index, value=0.0) if ctx.needs_input_grad[0] else None
        g_src = None
        if len(ctx.needs_input_grad) > 3 and ctx.needs_input_grad[3]:
            g_src = _pad_to(Gather.apply(g, ctx.dim, index), ctx.src_shape)
        return (g_input, None, None, g_src)[:len(ctx.needs_input_grad)]


def scatter(input: Tensor, dim: int, index: Tensor, src: Any = None, *, value: Any = None,
            reduce: str | None = None) -> Tensor:
    """``input`` with ``src`` (a Tensor) or ``value`` (a number) written at ``index`` along ``dim``, as
    ``torch.scatter``: ``out[i][index[i][j]] = src[i][j]`` for dim 1. A number in place of ``src``
    is taken as ``value``.

    >>> import tinygrad_conv as tc
    >>> tc.zeros(2, 3).scatter(1, tc.tensor([[2], [0]]), 1.0).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    if src is not None and not isinstance(src, Tensor):
        if value is not None:
            raise TypeError("scatter(): got both a number for src and value=; pass one of them")
        src, value = None, src
    if src is None:
        return Scatter.apply(input, dim, index, value=value, reduce=reduce)
    return Scatter.apply(input, dim, index, src, reduce=reduce)


def _torch_scatter(torch: Any, a: Any, dim: int, index: Any, src: Any = None, value: Any = None) -> Any:
    return torch.scatter(a, dim, index, src) if src is not None else torch.scatter(a, dim, index, value)


register("scatter", samples=_scatter_samples, nodes=(Scatter,), reference=_torch_scatter)(scatter)


# ------------------------------------------------------------------------ flip
def _dims_arg(dims: tuple[Any, ...], op: str) -> tuple[int, ...]:
    """``flip(x, (0, 1))``, ``flip(x, [0])`` and the method's ``x.flip(0, 1)`` alike."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    out = []
    for d in dims:
        if isinstance(d, (bool, np.bool_)):
            raise TypeError(f"{op}(): argument 'dims' must be tuple of ints, not bool")
        try:
            out.append(operator.index(d))
        except TypeError:
            raise TypeError(f"{op}(): argument 'dims' must be tuple of ints, not {type(d).__name__}") from None
    return tuple(out)


def _flip_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 3, 4), (0,)), name="rows")
    yield Sample((randn(rng, dtype, 2, 3, 4), (-1, 0)), name="two dims")


class Flip(Function):
    """Reverse the order along ``dims`` (a copy, as ``torch.flip``); backward is the same flip."""

    array_forward = True

    @staticmethod
    def forward(ctx: Context, input: Any, dims: tuple[int, ...]) -> Any:
        axes = tuple(_dim(d, input.ndim, "flip") for d in dims)
        for k, a in enumerate(axes):
            if a in axes[:k]:
                raise RuntimeError(f"flip: dim {a} appears multiple times in the list of dims {tuple(dims)}")
        ctx.dims = axes
        if input.ndim == 0 or not axes:
            return input.copy()
        return np.flip(input, axes).copy()  # a copy: PyTorch's flip does not share memory

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        return Flip.apply(g, ctx.dims), None


def flip(input: Tensor, *dims: Any) -> Tensor:
    """Reverse the order of elements along ``dims``, as ``torch.flip`` (``x.flip(0, 1)`` also works).

    >>> import tinygrad_conv as tc
    >>> tc.tensor([[1, 2], [3, 4]]).flip(1).tolist()
    [[2, 1], [4, 3]]
    """
    return Flip.apply(input, _dims_arg(dims, "flip"))


register("flip", samples=_flip_samples, nodes=(Flip,),
         reference=lambda torch, a, dims: torch.flip(a, dims))(flip)


# ------------------------------------------------------------------------ split and chunk
def _slices(input: Tensor, d: int, bounds: Sequence[tuple[int, int]]) -> tuple[Tensor, ...]:
    lead = (slice(None),) * d
    return tuple(GetItem.apply(input, lead + (slice(a, b),)) for a, b in bounds)


def split(tensor: Tensor, split_size_or_sections: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    """Cut ``tensor`` along ``dim`` into pieces of ``split_size_or_sections`` elements (the last may be
    smaller) or into pieces of the listed sizes, as ``torch.split``. The pieces are views.

    >>> import tinygrad_conv as tc
    >>> [p.tolist() for p in tc.arange(5).split(2)]
    [[0, 1], [2, 3], [4]]
    >>> [p.shape for p in tc.zeros(2, 5).split([1, 4], dim=1)]
    [(2, 1), (2, 4)]
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"split(): argument 'tensor' must be Tensor, not {type(tensor).__name__}")
    if tensor.ndim == 0:
        raise RuntimeError("split: split expects at least a 1-dimensional tensor")
    d = _dim(dim, tensor.ndim, "split")
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, (list, tuple)):
        sizes = [operator.index(s) for s in split_size_or_sections]
        if any(s < 0 for s in sizes):
            raise RuntimeError(f"split_with_sizes expects split_sizes have only non-negative entries, but got "
                               f"split_sizes={sizes}")
        if builtins.sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
                               f"dimension {d}), but got split_sizes={sizes}")
        starts = np.cumsum([0] + sizes)
        return _slices(tensor, d, [(int(starts[k]), int(starts[k + 1])) for k in range(len(sizes))])
    if isinstance(split_size_or_sections, (bool, np.bool_)):
        raise TypeError("split(): argument 'split_size' must be int or a list of ints, not bool")
    # (a list was handled above; operator.index raises a TypeError for any other non-integer)
    size = operator.index(split_size_or_sections)  # type: ignore[arg-type]
    if size < 0:
        raise RuntimeError(f"split expects split_size be non-negative, but got split_size={size}")
    if size == 0:
        if n != 0:
            raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}")
        return _slices(tensor, d, [(0, 0)])
    return _slices(tensor, d, [(a, builtins.min(a + size, n)) for a in range(0, builtins.max(n, 1), size)])


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """Cut ``input`` along ``dim`` into ``chunks`` views of ``ceil(size / chunks)`` elements (the last
    smaller, and fewer pieces when the size runs out first), as ``torch.chunk``.

    >>> import tinygrad_conv as tc
    >>> [p.tolist() for p in tc.arange(5).chunk(3)]
    [[0, 1], [2, 3], [4]]
    """
    if isinstance(chunks, (bool, np.bool_)):
        raise TypeError("chunk(): argument 'chunks' must be int, not bool")
    chunks = operator.index(chunks)
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    if not isinstance(input, Tensor):
        raise TypeError(f"chunk(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input.ndim == 0:
        raise RuntimeError("chunk: chunk expects at least a 1-dimensional tensor")
    d = _dim(dim, input.ndim, "chunk")
    n = input.shape[d]
    return split(input, -(-n // chunks) if n else 0, d) if n else _slices(input, d, [(0, 0)] * chunks)


def _split_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 5, 3), 2), name="size 2")
    yield Sample((randn(rng, dtype, 3, 6), [1, 3, 2]), {"dim": 1}, name="sections")


def _chunk_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 5, 3), 3), name="3 of 5 rows")
    yield Sample((randn(rng, dtype, 2, 6), 4), {"dim": -1}, name="4 of 6 columns")


register("split", samples=_split_samples, nodes=(GetItem,),
         reference=lambda torch, a, s, dim=0: torch.split(a, s, dim))(split)
register("chunk", samples=_chunk_samples, nodes=(GetItem,),
         reference=lambda torch, a, c, dim=0: torch.chunk(a, c, dim))(chunk)


def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
    """Pick values along ``dim`` at ``index``: ``out[i][j] = input[i][index[i][j]]`` for dim 1, as
    ``torch.gather`` (the gradient is dense; ``sparse_grad`` is accepted and changes nothing else)."""
    return Gather.apply(input, dim, index, sparse_grad=sparse_grad)


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """A copy of ``input`` with ``src`` added at ``index`` along ``dim`` (repeated indices add up), as
    ``torch.scatter_add``.

    >>> import tinygrad_conv as tc
    >>> tc.scatter_add(tc.zeros(3), 0, tc.tensor([0, 0, 2]), tc.ones(3)).tolist()
    [2.0, 0.0, 1.0]
    """
    return ScatterAdd.apply(input, dim, index, src)

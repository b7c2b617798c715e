"""Shape ops: reshape/view, permute, transpose, squeeze/unsqueeze, expand, indexing, cat, stack, pad.

Each one's backward is again a shape op (reshape undoes reshape, a scatter-add undoes indexing,
pad with negated widths undoes pad), so all of them are twice-differentiable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..autograd.function import Context, Function
from ..autograd.inplace import replay_view, replay_view_array
from ..dtypes import promote_types
from ..tensor import Tensor
from .registry import Sample, register
from .samples import randn


def _sizes(shape: tuple[Any, ...]) -> tuple[int, ...]:
    """Accept f(2, 3) and f((2, 3)) alike, as PyTorch does."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(int(s) for s in shape[0])
    return tuple(int(s) for s in shape)


class _View(Function):
    array_forward = True
    view_op = True


def _reshape_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 2, 3, 4), (6, 4)), name="merge")
    yield Sample((randn(rng, dtype, 2, 6), (3, -1)), name="infer")


class Reshape(_View):
    """Same elements, new shape (one dimension may be -1)."""

    @staticmethod
    def forward(ctx: Context, a: Any, shape: tuple[int, ...]) -> Any:
        ctx.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: shape {tuple(shape)} is invalid for an input of shape "
                             f"{a.shape} ({a.size} elements)") from None

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        return reshape(g, ctx.shape), None


def reshape(input: Tensor, *shape: Any) -> Tensor:
    """``input`` with a new shape, as ``torch.reshape`` (accepts ``reshape(2, 3)`` and ``((2, 3))``)."""
    target = _sizes(shape)
    return input if input.shape == target else Reshape.apply(input, target)


def view(input: Tensor, *shape: Any) -> Tensor:
    """The same as ``reshape`` (NumPy arrays need no contiguity for it)."""
    return reshape(input, *shape)


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim..end_dim`` into one, as ``torch.flatten`` (a 0-d tensor becomes 1-d)."""
    nd = max(input.ndim, 1)
    for d in (start_dim, end_dim):
        if not -nd <= d < nd:
            raise IndexError(f"flatten: Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], "
                             f"but got {d})")
    s, e = start_dim % nd, end_dim % nd
    if s > e:
        raise RuntimeError(f"flatten() has invalid args: start_dim cannot come after end_dim (start_dim {start_dim}, "
                           f"end_dim {end_dim} of a {input.ndim}-d tensor)")
    shape = input.shape if input.ndim else (1,)
    merged = int(np.prod(shape[s:e + 1]))
    return reshape(input, tuple(shape[:s]) + (merged,) + tuple(shape[e + 1:]))


def _permute_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 2, 3, 4), (2, 0, 1)), name="rotate")


class Permute(_View):
    """Reorder dims; backward applies the inverse permutation."""

    @staticmethod
    def forward(ctx: Context, a: Any, dims: tuple[int, ...]) -> Any:
        axes = [d % max(a.ndim, 1) for d in dims]
        if sorted(axes) != list(range(a.ndim)):
            raise ValueError(f"permute: dims {tuple(dims)} are not a permutation of the "
                             f"{a.ndim} dims of a tensor of shape {a.shape}")
        inverse = [0] * a.ndim  # (in Python: np.argsort of a short list costs microseconds)
        for i, d in enumerate(axes):
            inverse[d] = i
        ctx.inverse = tuple(inverse)
        return a.transpose(axes)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        return Permute.apply(g, ctx.inverse), None


def permute(input: Tensor, *dims: Any) -> Tensor:
    """Reorder the dims, as ``torch.permute``."""
    return Permute.apply(input, _sizes(dims))


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dims."""
    dims = list(range(input.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return Permute.apply(input, tuple(dims))


def _T(self: Tensor) -> Tensor:
    """Reverse the dims (the matrix transpose for 2-d tensors)."""
    return Permute.apply(self, tuple(range(self.ndim - 1, -1, -1)))


def squeeze(input: Tensor, dim: int | None = None) -> Tensor:
    """Drop size-1 dims (only ``dim`` when given, if it has size 1)."""
    if dim is None:
        shape = tuple(s for s in input.shape if s != 1)
    else:
        d = dim % max(input.ndim, 1)
        shape = input.shape if input.ndim == 0 or input.shape[d] != 1 else \
            input.shape[:d] + input.shape[d + 1:]
    return reshape(input, shape)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Insert a size-1 dim at ``dim`` (negative counts from the end, as PyTorch)."""
    nd = input.ndim + 1
    if not -nd <= dim < nd:
        raise IndexError(f"unsqueeze: dim {dim} out of range for a result with {nd} dims")
    d = dim % nd
    return reshape(input, input.shape[:d] + (1,) + input.shape[d:])


def _expand_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 3, 1), (2, 3, 4)), name="new and stretched dims")
    yield Sample((randn(rng, dtype, 3, 1), (2, -1, 4)), name="keep with -1")


class Expand(_View):
    """Broadcast to a larger shape without copying (-1 keeps a dim); backward sums back."""

    @staticmethod
    def forward(ctx: Context, a: Any, shape: tuple[int, ...]) -> Any:
        lead = len(shape) - a.ndim
        if lead < 0:
            raise ValueError(f"expand: the target {tuple(shape)} has fewer dims than the input {a.shape}")
        target = tuple(a.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(shape))
        ctx.shape = a.shape
        try:
            return np.broadcast_to(a, target)
        except ValueError:
            raise ValueError(f"expand: cannot expand shape {a.shape} to {tuple(shape)}: each dim must "
                             "match or be 1 in the input") from None

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        from .reduce import sum_to_size

        return sum_to_size(g, ctx.shape), None


def expand(input: Tensor, *shape: Any) -> Tensor:
    """Broadcast to ``shape`` (a view), as ``torch.Tensor.expand``."""
    target = _sizes(shape)
    return input if input.shape == target else Expand.apply(input, target)


# ------------------------------------------------------------------- indexing
def _index_key(key: Any) -> Any:
    """Tensors inside an index become arrays; lists stay (NumPy treats them as advanced)."""
    if isinstance(key, tuple):
        return tuple(k._data if isinstance(k, Tensor) else k for k in key)
    return key._data if isinstance(key, Tensor) else key


def _is_basic(key: Any) -> bool:
    """Basic indexing (ints, slices, None, ...) never repeats an element, so a plain assignment
    undoes it; advanced indexing may repeat, so its adjoint must add."""
    parts = key if isinstance(key, tuple) else (key,)
    return all(isinstance(k, (int, np.integer, slice)) or k is None or k is Ellipsis for k in parts)


def _getitem_samples(rng: np.random.Generator, dtype: Any) -> Any:
    x = randn(rng, dtype, 4, 5)
    yield Sample((x, (slice(1, 3), 2)), name="basic")
    yield Sample((x, (np.array([0, 2, 2]),)), name="advanced with repeats")
    yield Sample((x, (slice(None), np.array([1, 1, 4]))), name="advanced columns")
    yield Sample((x, (x > 0,)), name="boolean mask")


@register("getitem", method="__getitem__", samples=_getitem_samples,
          reference=lambda torch, a, key: a[tuple(torch.as_tensor(k) if isinstance(k, np.ndarray) else k
                                                  for k in key)])
class GetItem(_View):
    """x[key]: NumPy's basic and advanced indexing; the gradient scatters and adds."""

    @staticmethod
    def forward(ctx: Context, a: Any, key: Any) -> Any:
        key = _index_key(key)
        ctx.key, ctx.shape = key, a.shape
        try:
            return a[key]
        except IndexError as exc:
            raise IndexError(f"getitem: index {key!r} is invalid for a tensor of shape {a.shape}: "
                             f"{exc}") from None

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        return IndexScatter.apply(g, ("key", ctx.key), ctx.shape), None


def getitem(input: Tensor, key: Any) -> Tensor:
    return GetItem.apply(input, key)


class IndexScatter(Function):
    """The adjoint of indexing: zeros of ``shape`` with ``g`` added at the indexed places.

    ``where`` is ``("key", key)`` for x[key] or ``("along", dim, idx)`` for max/min along a dim.
    Its own backward is the gather at the same places.
    """

    name = "index_scatter"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, g: Any, where: Any, shape: tuple[int, ...]) -> Any:
        ctx.where = where
        out = np.zeros(shape, dtype=g.dtype)
        if where[0] == "along":
            np.put_along_axis(out, where[2], g, where[1])
        elif _is_basic(where[1]):
            out[where[1]] = g
        else:
            np.add.at(out, where[1], g)
        return out

    @staticmethod
    def backward(ctx: Context, gg: Tensor) -> tuple[Any, ...]:
        where = ctx.where
        if where[0] == "along":
            return Gather.apply(gg, where[1], where[2]), None, None
        return GetItem.apply(gg, where[1]), None, None


class Gather(Function):
    """Pick one element along ``dim`` at ``idx`` (keepdim form); backward scatters back."""

    name = "gather_along"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, a: Any, dim: int, idx: Any) -> Any:
        ctx.dim, ctx.idx, ctx.shape = dim, idx, a.shape
        return np.take_along_axis(a, idx, dim)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        return IndexScatter.apply(g, ("along", ctx.dim, ctx.idx), ctx.shape), None, None


def _index_put_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 4, 3), (slice(1, 3),), randn(rng, dtype, 2, 3)), name="rows")
    yield Sample((randn(rng, dtype, 4, 3), (np.array([0, 3]), 1), randn(rng, dtype, 2)), name="points")


@register("index_put", method=False, samples=_index_put_samples,
          reference=lambda torch, a, key, v: _torch_index_put(torch, a, key, v))
class IndexPut(Function):
    """A copy of x with x[key] = value: what ``x[key] = v`` records on the tape."""

    array_forward = True
    promotes_dtypes = True

    @staticmethod
    def forward(ctx: Context, a: Any, key: Any, value: Any) -> Any:
        key = _index_key(key)
        out = a.copy()
        out[key] = value
        ctx.key = key
        ctx.vshape = np.shape(value)
        return out

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        ga = gv = None
        if ctx.needs_input_grad[0]:
            ga = IndexPut.apply(g, ctx.key, 0.0)
        if ctx.needs_input_grad[2]:
            gv = GetItem.apply(g, ctx.key)
        return ga, None, gv


def _torch_index_put(torch: Any, a: Any, key: Any, v: Any) -> Any:
    out = a.clone()
    out[tuple(torch.as_tensor(k) if isinstance(k, np.ndarray) else k for k in key)] = v
    return out


def index_put(input: Tensor, key: Any, value: Any) -> Tensor:
    return IndexPut.apply(input, key, value)


# ------------------------------------------------------------------- writing through a view
def _copy_slices_samples(rng: np.random.Generator, dtype: Any) -> Any:
    rows: tuple[Any, ...] = ((GetItem, ((slice(1, 3),),), {}),)
    yield Sample((randn(rng, dtype, 4, 3), randn(rng, dtype, 2, 3)), {"chain": rows}, name="rows")
    column_of_t: tuple[Any, ...] = ((Permute, ((1, 0),), {}), (GetItem, ((1,),), {}))
    yield Sample((randn(rng, dtype, 4, 3), randn(rng, dtype, 4)), {"chain": column_of_t},
                 name="a column of the transpose")


def _torch_copy_slices(torch: Any, base: Any, src: Any, chain: Any) -> Any:
    out = base.clone()
    view = out
    for cls, rest, _ in chain:
        view = view[rest[0]] if cls is GetItem else view.permute(rest[0]) if cls is Permute \
            else view.reshape(rest[0])
    view.copy_(src)
    return out


@register("copy_slices", method=False, functional=False, samples=_copy_slices_samples,
          reference=_torch_copy_slices)
class CopySlices(Function):
    """What an in-place change of a view records on its base (PyTorch's ``CopySlices``): a copy of
    ``base`` whose region ``chain`` (a sequence of view ops) holds ``src``.

    The gradient of the region goes to ``src`` (the view ops applied to the gradient), the rest to
    the old base (the gradient with the region zeroed: copy_slices again).
    """

    array_forward = True

    @staticmethod
    def forward(ctx: Context, base: Any, src: Any, chain: tuple[Any, ...] = ()) -> Any:
        ctx.chain, ctx.src_shape = chain, np.shape(src)
        out = base.copy()
        replay_view_array(out, chain)[...] = src
        return out

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        g_base = g_src = None
        if ctx.needs_input_grad[0]:
            zeros = Tensor._wrap(np.zeros(ctx.src_shape, dtype=g.dtype))
            g_base = CopySlices.apply(g, zeros, chain=ctx.chain)
        if ctx.needs_input_grad[1]:
            g_src = replay_view(g, ctx.chain)
        return g_base, g_src


def copy_slices(base: Tensor, src: Tensor, chain: tuple[Any, ...]) -> Tensor:
    return CopySlices.apply(base, src, chain=chain)


# ------------------------------------------------------------------- joining
def _join_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 2, 3), randn(rng, dtype, 2, 3)), {"dim": 0}, name="two")
    yield Sample((randn(rng, dtype, 2, 3), randn(rng, dtype, 2, 3), randn(rng, dtype, 2, 3)),
                 {"dim": 1}, name="three")


def _cat_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 2, 3), randn(rng, dtype, 4, 3)), {"dim": 0}, name="rows")
    yield Sample((randn(rng, dtype, 2, 1), randn(rng, dtype, 2, 3)), {"dim": -1}, name="columns")


class Cat(Function):
    """Join along an existing dim; backward slices the gradient back into pieces."""

    name = "cat"
    array_forward = True
    promotes_dtypes = True

    @staticmethod
    def forward(ctx: Context, *arrays: Any, dim: int = 0) -> Any:
        dtype = arrays[0].dtype if arrays else None
        for a in arrays[1:]:  # PyTorch's promotion (float32 with int64 is float32), not NumPy's
            dtype = promote_types(dtype, a.dtype)
        try:
            out = np.concatenate(arrays, axis=dim, dtype=dtype, casting="unsafe")
        except ValueError:
            raise ValueError(f"cat: the shapes {[a.shape for a in arrays]} must match except in dim "
                             f"{dim}") from None
        ctx.sizes, ctx.dim = [a.shape[dim] for a in arrays], dim % out.ndim
        return out

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        grads, start = [], 0
        for n in ctx.sizes:
            key = (slice(None),) * ctx.dim + (slice(start, start + n),)
            grads.append(GetItem.apply(g, key))
            start += n
        return tuple(grads)


def _tensor_list(op: str, tensors: Any) -> list[Tensor]:
    """The sequence of Tensors ``cat``/``stack`` take (a list or a tuple), checked as PyTorch checks it."""
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{op}(): argument 'tensors' (position 1) must be tuple of Tensors, not "
                        f"{type(tensors).__name__}")
    for k, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}(): expected Tensor as element {k} in argument 0, but got {type(t).__name__}")
    return list(tensors)


def _join_dim(op: str, dim: Any, ndim: int) -> int:
    if isinstance(dim, (bool, np.bool_)) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}(): argument 'dim' must be int, not {type(dim).__name__}")
    if not -ndim <= dim < ndim:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], "
                         f"but got {dim})")
    return int(dim) % ndim


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Concatenate a list or tuple of tensors along ``dim``, as ``torch.cat`` (dtypes promote; 1-d
    empty tensors are skipped, as PyTorch's legacy rule).

    >>> import tinygrad_conv as tc
    >>> tc.cat((tc.zeros(1, 2), tc.ones(1, 2)), 1).tolist()
    [[0.0, 0.0, 1.0, 1.0]]
    """
    ts = _tensor_list("cat", tensors)
    if not ts:
        raise ValueError("cat(): expected a non-empty list of Tensors")
    for k, t in enumerate(ts):
        if t.ndim == 0:
            raise RuntimeError(f"cat: zero-dimensional tensor (at position {k}) cannot be concatenated")
    kept = [t for t in ts if not (t.ndim == 1 and t.shape[0] == 0)] or ts[:1]
    d = _join_dim("cat", dim, kept[0].ndim)
    for k, t in enumerate(kept):
        if t.ndim != kept[0].ndim:
            raise RuntimeError(f"cat: Tensors must have same number of dimensions: got {kept[0].ndim} and {t.ndim}")
        for ax in range(t.ndim):
            if ax != d and t.shape[ax] != kept[0].shape[ax]:
                raise RuntimeError(f"cat: Sizes of tensors must match except in dimension {d}. Expected size "
                                   f"{kept[0].shape[ax]} but got size {t.shape[ax]} for tensor number {k} in the list.")
    return Cat.apply(*kept, dim=d)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join a list or tuple of same-shape tensors along a new dim, as ``torch.stack``.

    >>> import tinygrad_conv as tc
    >>> tc.stack((tc.zeros(2), tc.ones(2)), dim=1).tolist()
    [[0.0, 1.0], [0.0, 1.0]]
    """
    ts = _tensor_list("stack", tensors)
    if not ts:
        raise RuntimeError("stack expects a non-empty TensorList")
    for k, t in enumerate(ts):
        if t.shape != ts[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(ts[0].shape)} at entry 0 "
                               f"and {list(t.shape)} at entry {k}")
    d = _join_dim("stack", dim, ts[0].ndim + 1)
    return Cat.apply(*[unsqueeze(t, d) for t in ts], dim=d)


def _sequence_form(args: tuple[Any, ...], dim: Any) -> tuple[Any, Any]:
    """The registered entries take the tensors as arguments (``F.cat(a, b, dim=1)``, what the op
    checker passes) or PyTorch's way, one list or tuple (``F.cat((a, b), 1)``)."""
    if args and isinstance(args[0], (list, tuple)):
        if len(args) > 2:
            raise TypeError(f"cat/stack: after the sequence of tensors only dim may follow, got {len(args) - 1} "
                            "more arguments")
        return args[0], (args[1] if len(args) == 2 else dim)
    return args, dim


def _cat_entry(*tensors: Any, dim: int = 0) -> Tensor:
    """Concatenate along ``dim``: ``cat((a, b), 1)`` as ``torch.cat``, or ``cat(a, b, dim=1)``."""
    seq, d = _sequence_form(tensors, dim)
    return cat(seq, d)


def _stack_entry(*tensors: Any, dim: int = 0) -> Tensor:
    """Join along a new dim: ``stack((a, b), 1)`` as ``torch.stack``, or ``stack(a, b, dim=1)``."""
    seq, d = _sequence_form(tensors, dim)
    return stack(seq, d)


_cat_entry.__name__, _stack_entry.__name__ = "cat", "stack"
register("cat", method=False, samples=_cat_samples, nodes=(Cat,),
         reference=lambda torch, *ts, dim=0: torch.cat(ts, dim=dim))(_cat_entry)
register("stack", method=False, samples=_join_samples, nodes=(Cat,),
         reference=lambda torch, *ts, dim=0: torch.stack(ts, dim=dim))(_stack_entry)


# ------------------------------------------------------------------- padding
_PAD_MODES = ("constant", "reflect", "replicate", "circular")
_NON_CONSTANT_HELP = ("Supported combinations for non-constant padding: 2-d or 3-d input: padding size 2 (pads the "
                      "last dimension); 3-d or 4-d input: padding size 4 (pads the last 2 dimensions); 4-d or 5-d "
                      "input: padding size 6 (pads the last 3 dimensions)")


def _pad_samples(rng: np.random.Generator, dtype: Any) -> Any:
    x = randn(rng, dtype, 2, 3, 4)
    yield Sample((x, (1, 2)), name="last dim")
    yield Sample((x, (1, 0, 0, 2)), {"value": 0.5}, name="two dims with value")
    yield Sample((x, (-1, 1, 1, -1)), name="negative crops")
    yield Sample((randn(rng, dtype, 2, 2, 4, 5), (3, 1, 2, 3)), {"mode": "reflect"}, name="reflect 2 dims")
    yield Sample((x, (-1, 3)), {"mode": "reflect"}, name="reflect 1 dim, crop left")
    yield Sample((randn(rng, dtype, 2, 3, 4), (2, 5, 0, 3)), {"mode": "replicate"},
                 name="replicate unbatched, pad past the size")
    yield Sample((randn(rng, dtype, 1, 2, 3, 4, 3), (1, 2, 2, 0, 1, 3)), {"mode": "replicate"},
                 name="replicate 3 dims")
    yield Sample((randn(rng, dtype, 2, 2, 3, 4), (4, 2, 1, 3)), {"mode": "circular"},
                 name="circular 2 dims, a whole period")
    yield Sample((x, (-2, 1)), {"mode": "circular"}, name="circular crop then wrap")


def _pad_index(size: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """For each position along one padded axis (``size + lo + hi`` of them), the input position it
    copies. Reflect and replicate map the padded positions onto the input as it is (so a negative
    width crops what the other side reflects from, as in PyTorch); circular first crops the
    negative widths and then wraps what is left, which is what PyTorch does."""
    out = size + lo + hi
    if mode == "circular":
        start, stop = max(-lo, 0), size - max(-hi, 0)
        return start + (np.arange(out, dtype=np.int64) - max(lo, 0)) % (stop - start) if out else \
            np.zeros(0, dtype=np.int64)
    pos = np.arange(out, dtype=np.int64) - lo
    if mode == "replicate":
        return np.clip(pos, 0, size - 1)
    pos = np.abs(pos)  # reflect: mirror at 0, then at size - 1 (the edge itself is not repeated)
    return np.where(pos >= size, 2 * (size - 1) - pos, pos)


def _pad_runs(index: np.ndarray) -> list[tuple[int, int, int]]:
    """Split an index map into runs (start, stop, step) with step +1, -1 or 0, so that its adjoint
    is a few slice adds instead of a scatter over every element (reflect: 3 runs, replicate: 3)."""
    runs = []
    start, n = 0, len(index)
    while start < n:
        stop, step = start + 1, 0
        if stop < n and abs(int(index[stop] - index[start])) <= 1:
            step = int(index[stop] - index[start])
            while stop < n and index[stop] - index[stop - 1] == step:
                stop += 1
        runs.append((start, stop, step))
        start = stop
    return runs


def _padded_axes(ndim: int, pad: Sequence[int]) -> list[tuple[int, int, int]]:
    """(axis, before, after) for each axis ``pad`` names, last dim first as in PyTorch."""
    return [(ndim - 1 - i, pad[2 * i], pad[2 * i + 1]) for i in range(len(pad) // 2)]


class Pad(Function):
    """Padding, widths given last dim first as (left, right, top, bottom, ...) like
    ``torch.nn.functional.pad``; negative widths crop. Constant mode's backward pads by the negated
    widths; the other modes copy input positions, so their backward adds the gradient back onto
    them (``pad_backward``), whose backward is this op again."""

    array_forward = True

    @staticmethod
    def forward(ctx: Context, a: Any, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Any:
        ctx.pad, ctx.mode, ctx.input_shape = tuple(pad), mode, a.shape
        if mode != "constant":
            out = a
            for axis, lo, hi in _padded_axes(a.ndim, pad):
                out = np.take(out, _pad_index(a.shape[axis], lo, hi, mode), axis=axis)
            return out if out is not a else a.copy()
        widths = [(0, 0)] * a.ndim
        for axis, lo, hi in _padded_axes(a.ndim, pad):
            widths[axis] = (lo, hi)
        # Crop first (negative widths), then pad (positive ones).
        crop = tuple(slice(-lo if lo < 0 else 0, s + hi if hi < 0 else s)
                     for s, (lo, hi) in zip(a.shape, widths))
        pos = [(lo if lo > 0 else 0, hi if hi > 0 else 0) for lo, hi in widths]
        cropped = a[crop]
        if not any(lo or hi for lo, hi in pos):
            return cropped.copy()
        return np.pad(cropped, pos, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        if ctx.mode == "constant":
            return Pad.apply(g, tuple(-p for p in ctx.pad)), None
        return PadBackward.apply(g, input_shape=ctx.input_shape, pad=ctx.pad, mode=ctx.mode), None


class PadBackward(Function):
    """The adjoint of a reflect, replicate or circular pad: each input position gets the sum of the
    gradient at every output position that copied it. Its backward is the pad itself."""

    name = "pad_backward"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, g: Any, input_shape: tuple[int, ...], pad: Sequence[int], mode: str) -> Any:
        ctx.pad, ctx.mode = tuple(pad), mode
        out = g
        # Undo the axes in the reverse of the order forward padded them (any order is right: the
        # axes are independent; this one keeps each step's shape easy to follow).
        for axis, lo, hi in reversed(_padded_axes(g.ndim, pad)):
            size = input_shape[axis]
            if out.shape[axis] != size + lo + hi:
                raise ValueError(f"pad_backward: the gradient has {out.shape[axis]} elements along dim {axis} but "
                                 f"an input of {size} padded by ({lo}, {hi}) has {size + lo + hi}")
            index = _pad_index(size, lo, hi, mode)
            acc = np.zeros(out.shape[:axis] + (size,) + out.shape[axis + 1:], dtype=g.dtype)
            lead = (slice(None),) * axis
            for start, stop, step in _pad_runs(index):
                part = out[lead + (slice(start, stop),)]
                first = int(index[start])
                if step == 1:
                    acc[lead + (slice(first, first + stop - start),)] += part
                elif step == -1:
                    acc[lead + (slice(first - (stop - start) + 1, first + 1),)] += np.flip(part, axis)
                else:
                    acc[lead + (slice(first, first + 1),)] += part.sum(axis=axis, keepdims=True)
            out = acc
        return out

    @staticmethod
    def backward(ctx: Context, gg: Tensor) -> tuple[Any, ...]:
        return Pad.apply(gg, ctx.pad, mode=ctx.mode),


def _check_pad(input: Any, pad: Any, mode: Any, value: Any) -> tuple[tuple[int, ...], float]:
    """PyTorch's rules for F.pad (and its exception types), with the numbers in the message."""
    if not isinstance(input, Tensor):
        raise TypeError(f"pad: input must be a Tensor, got {type(input).__name__}")
    if not isinstance(pad, (tuple, list)):
        raise TypeError(f"pad: pad must be a tuple of ints, got {type(pad).__name__}")
    for i, p in enumerate(pad):
        if not isinstance(p, (int, np.integer)) or isinstance(p, (bool, np.bool_)):
            raise TypeError(f"pad: pad must be a tuple of ints, but found element of type {type(p).__name__} at "
                            f"pos {i} ({tuple(pad)!r})")
    widths = tuple(int(p) for p in pad)
    if len(widths) % 2:
        raise RuntimeError(f"pad: padding length must be divisible by 2 (a (before, after) pair per dimension), "
                           f"got {len(widths)} values {widths}")
    if mode not in _PAD_MODES:
        raise NotImplementedError(f"pad: unrecognised padding mode {mode!r}; use one of {', '.join(_PAD_MODES)}")
    shape, ndim = input.shape, input.ndim
    if mode == "constant":
        if len(widths) // 2 > ndim:
            raise RuntimeError(f"pad: padding length should be less than or equal to two times the input dimension, "
                               f"but got padding length {len(widths)} and an input of dimension {ndim} (shape {shape})")
        for axis, lo, hi in _padded_axes(ndim, widths):
            # Negative widths crop before positive ones pad, so the crop alone must leave >= 0.
            cropped = shape[axis] + min(lo, 0) + min(hi, 0)
            if cropped < 0:
                raise RuntimeError(f"pad: padding ({lo}, {hi}) of dim {axis} (size {shape[axis]}) crops it to a "
                                   f"negative size {cropped}")
        return widths, 0.0 if value is None else value
    if value is not None and value != 0:
        raise RuntimeError(f'pad: padding mode "{mode}" doesn\'t take in value argument (got value={value!r}); '
                           "only mode='constant' fills with a value")
    k = len(widths) // 2
    if k not in (1, 2, 3) or ndim not in (k + 1, k + 2):
        raise NotImplementedError(f"pad: padding size {len(widths)} is not supported for a {ndim}-d input tensor "
                                  f"(shape {shape}) in mode {mode!r}. {_NON_CONSTANT_HELP}")
    if mode != "circular":
        first = 1 if ndim == k + 2 else 0  # a batch dim may be empty, nothing else
        if 0 in shape[first:]:
            raise RuntimeError(f"pad: mode {mode!r} expects a {k + 1}-d or {k + 2}-d (batch mode) tensor with possibly "
                               f"0 batch size and other non-zero dimensions, got shape {shape}")
    for axis, lo, hi in _padded_axes(ndim, widths):
        size, out = shape[axis], shape[axis] + lo + hi
        if mode == "reflect" and (lo >= size or hi >= size):
            raise RuntimeError(f"pad: reflect padding must be less than the input size along each padded dimension, "
                               f"but got padding ({lo}, {hi}) at dimension {axis} of input {shape}")
        if mode == "circular":
            kept = size - max(-lo, 0) - max(-hi, 0)
            if lo > size or hi > size:
                raise RuntimeError(f"pad: circular padding ({lo}, {hi}) at dimension {axis} of input {shape} wraps "
                                   f"around more than once (each width must be at most the size {size})")
            if out < 0 or (out > 0 and max(lo, hi) > kept):
                # PyTorch returns uninitialised memory or fails inside its kernel here.
                raise RuntimeError(f"pad: circular padding ({lo}, {hi}) at dimension {axis} of input {shape} crops the "
                                   f"dimension to {max(kept, 0)} and then wraps more than that around it; each "
                                   "positive width must be at most what the negative ones leave")
        elif out < (1 if axis == ndim - 1 else 0):
            # PyTorch's rule: the last dimension must keep at least one element, the others may be empty.
            raise RuntimeError(f"pad: input (size {size} along dim {axis}) is too small for padding ({lo}, {hi}): "
                               f"calculated output size {out}")
    return widths, 0.0


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad (or, with negative widths, crop) as ``torch.nn.functional.pad``.

    ``pad`` lists (before, after) widths from the last dimension backwards. ``mode='constant'``
    fills with ``value`` (default 0) and pads any number of dimensions; ``'reflect'`` mirrors
    without repeating the edge, ``'replicate'`` repeats the edge and ``'circular'`` wraps around,
    for the last 1, 2 or 3 dimensions of a (batched) input, as in PyTorch.

    >>> import tinygrad_conv as tc
    >>> import tinygrad_conv.functional as F
    >>> F.pad(tc.Tensor([[1.0, 2.0]]), (1, -1)).tolist()
    [[0.0, 1.0]]
    >>> x = tc.Tensor([[[0.0, 1.0, 2.0, 3.0]]])
    >>> F.pad(x, (2, 1), mode="reflect").tolist(), F.pad(x, (2, 1), mode="circular").tolist()
    ([[[2.0, 1.0, 0.0, 1.0, 2.0, 3.0, 2.0]]], [[[2.0, 3.0, 0.0, 1.0, 2.0, 3.0, 0.0]]])
    """
    widths, fill = _check_pad(input, pad, mode, value)
    return Pad.apply(input, widths, mode=mode, value=fill)


def _torch_pad(torch: Any, a: Any, pad: Any, mode: str = "constant", value: Any = None) -> Any:
    return torch.nn.functional.pad(a, pad, mode=mode, value=value)


register("pad", method=False, samples=_pad_samples, nodes=(Pad, PadBackward), reference=_torch_pad)(pad)


def _pad_backward_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 2, 2, 7, 10),), {"input_shape": (2, 2, 4, 5), "pad": (3, 2, 2, 1),
                                                       "mode": "reflect"}, name="reflect")
    yield Sample((randn(rng, dtype, 2, 3, 9),), {"input_shape": (2, 3, 4), "pad": (2, 3, 0, 0),
                                                   "mode": "replicate"}, name="replicate")
    yield Sample((randn(rng, dtype, 2, 5, 5),), {"input_shape": (2, 3, 4), "pad": (-1, 2, 1, 1),
                                                   "mode": "circular"}, name="circular with a crop")


def _torch_pad_backward(torch: Any, g: Any, input_shape: tuple[int, ...], pad: Any, mode: str) -> Any:
    # pad's input gradient, kept differentiable in g (create_graph) for parity of its own gradient.
    x = torch.zeros(input_shape, dtype=g.dtype, requires_grad=True)
    y = torch.nn.functional.pad(x, pad, mode=mode)
    return torch.autograd.grad(y, x, g, create_graph=True)[0]


register("pad_backward", method=False, functional=False, samples=_pad_backward_samples,
         reference=_torch_pad_backward)(PadBackward)


def _one(make_args: Any) -> Any:
    """Samples from a function of (rng, dtype) returning one argument tuple per case."""

    def samples(rng: np.random.Generator, dtype: Any) -> Any:
        for name, args in make_args(rng, dtype):
            yield Sample(args, name=name)

    return samples


register("reshape", samples=_reshape_samples, nodes=(Reshape,),
         reference=lambda torch, a, shape: a.reshape(shape))(reshape)
register("view", samples=_reshape_samples, nodes=(Reshape,),
         reference=lambda torch, a, shape: a.reshape(shape))(view)
register("flatten", nodes=(Reshape,), reference=lambda torch, a, *d: torch.flatten(a, *d),
         samples=_one(lambda rng, dt: [("all", (randn(rng, dt, 2, 3, 4),)),
                                       ("middle", (randn(rng, dt, 2, 3, 4, 2), 1, 2))]))(flatten)
register("squeeze", nodes=(Reshape,), reference=lambda torch, a, *d: torch.squeeze(a, *d),
         samples=_one(lambda rng, dt: [("all", (randn(rng, dt, 2, 1, 3, 1),)),
                                       ("one dim", (randn(rng, dt, 2, 1, 3, 1), -1))]))(squeeze)
register("unsqueeze", nodes=(Reshape,), reference=lambda torch, a, d: torch.unsqueeze(a, d),
         samples=_one(lambda rng, dt: [("front", (randn(rng, dt, 2, 3), 0)),
                                       ("back", (randn(rng, dt, 2, 3), -1))]))(unsqueeze)
register("permute", samples=_permute_samples, nodes=(Permute,),
         reference=lambda torch, a, dims: a.permute(dims))(permute)
register("transpose", nodes=(Permute,), reference=lambda torch, a, d0, d1: torch.transpose(a, d0, d1),
         samples=_one(lambda rng, dt: [("swap", (randn(rng, dt, 2, 3, 4), 0, 2))]))(transpose)
register("expand", samples=_expand_samples, nodes=(Expand,),
         reference=lambda torch, a, shape: a.expand(*shape))(expand)
Tensor.T = property(_T)  # type: ignore[attr-defined]

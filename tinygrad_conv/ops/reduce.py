"""Reductions: sum, mean, var, max/min, logsumexp, softmax, log_softmax, and sum_to_size.

``sum_to_size`` is the one place where a broadcast gradient is summed back to an input's shape;
the engine calls it for every op.
"""

from __future__ import annotations

import builtins
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ..autograd.function import Context, Function
from ..kernels.reduce import sum_axes
from ..tensor import Tensor
from .elementwise import maximum, minimum
from .registry import Sample, register
from .samples import distinct, randn
from .shape import IndexScatter, expand, reshape  # (shape.py imports this module at call time only)

Dim = int | Sequence[int] | None


def _axes(dim: Dim, ndim: int, op: str) -> tuple[int, ...]:
    """Normalise ``dim`` (None = all) to a sorted tuple of non-negative axes, with a clear error."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    out = []
    for d in dims:
        lo, hi = (-ndim, ndim - 1) if ndim else (-1, 0)
        if not lo <= d <= hi:
            raise IndexError(f"{op}: dim {d} is out of range for a tensor with {ndim} dimensions "
                             f"(expected a value in [{lo}, {hi}])")
        out.append(int(d) % builtins.max(ndim, 1))
    return tuple(sorted(set(out)))


def _numpy_axes(dim: Dim, ndim: int, op: str) -> tuple[int, ...]:
    """:func:`_axes` for a NumPy reduction: a 0-d tensor accepts dim 0 or -1, as in PyTorch, but a
    0-d array has no axis to reduce, so it reduces over none."""
    axes = _axes(dim, ndim, op)
    return axes if ndim else ()


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _expand_back(g: Tensor, shape: tuple[int, ...], axes: tuple[int, ...]) -> Tensor:
    """Undo a reduction's shape change: reshape to keepdim form, then broadcast."""
    kept = _kept_shape(shape, axes)
    if g.shape != kept:
        g = reshape(g, kept)
    return expand(g, shape)


def _reduce_samples(rng: np.random.Generator, dtype: Any) -> Any:
    x = randn(rng, dtype, 3, 4, 2)
    yield Sample((x,), name="all")
    yield Sample((x,), {"dim": 1}, name="dim 1")
    yield Sample((x,), {"dim": (0, 2), "keepdim": True}, name="dims keepdim")
    yield Sample((x,), {"dim": -1}, name="negative dim")


class Sum(Function):
    """Sum over ``dim`` (all dims when None)."""

    array_forward = True

    @staticmethod
    def forward(ctx: Context, a: Any, dim: Dim = None, keepdim: bool = False) -> Any:
        axes = _numpy_axes(dim, a.ndim, "sum")
        ctx.shape, ctx.axes = a.shape, axes
        # Integer and bool sums are int64, as in PyTorch (NumPy would give uint64 for unsigned ones).
        return sum_axes(a, axes, keepdim, dtype=np.int64 if a.dtype.kind in "biu" else None)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        return _expand_back(g, ctx.shape, ctx.axes)


class Mean(Function):
    """Mean over ``dim`` (all dims when None)."""

    array_forward = True

    @staticmethod
    def forward(ctx: Context, a: Any, dim: Dim = None, keepdim: bool = False) -> Any:
        axes = _numpy_axes(dim, a.ndim, "mean")
        ctx.shape, ctx.axes = a.shape, axes
        ctx.count = int(np.prod([a.shape[i] for i in axes])) if axes else 1
        if a.dtype.kind == "f" and a.dtype.itemsize >= 4:  # (np.mean sums float16 in float32)
            return sum_axes(a, axes, keepdim) / np.asarray(ctx.count, dtype=a.dtype)
        return np.mean(a, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        return _expand_back(g, ctx.shape, ctx.axes) / float(ctx.count)


def sum(input: Tensor, dim: Dim = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Sum over ``dim`` (every dim when None), as ``torch.sum``; ``dtype`` converts the input first,
    and integer and bool tensors sum to int64, as in PyTorch.

    >>> import tinygrad_conv as tc
    >>> tc.Tensor([[1.0, 2.0], [3.0, 4.0]]).sum(dim=0).tolist(), tc.tensor([True, True]).sum().item()
    ([4.0, 6.0], 2)
    """
    if dtype is not None:
        input = input.to(dtype)
    elif input.dtype.kind in "biu" and input.dtype != np.int64:
        input = input.to(np.int64)  # NumPy would sum uint8 into uint64
    return Sum.apply(input, dim=dim, keepdim=keepdim)


def mean(input: Tensor, dim: Dim = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Mean over ``dim`` (every dim when None), as ``torch.mean``; integer tensors need a float
    ``dtype`` (or ``.float()`` first), as in PyTorch.

    >>> import tinygrad_conv as tc
    >>> tc.tensor([1, 2]).mean(dtype=tc.float64).item()
    1.5
    """
    if dtype is not None:
        input = input.to(dtype)
    if input.dtype.kind != "f":
        raise RuntimeError(f"mean(): could not infer output dtype. Input dtype must be either a floating point or "
                           f"complex dtype. Got: {input.dtype} (pass dtype=tinygrad_conv.float32, or convert with "
                           ".float())")
    return Mean.apply(input, dim=dim, keepdim=keepdim)


def _torch_reduce(name: str) -> Any:
    def ref(torch: Any, a: Any, dim: Dim = None, keepdim: bool = False) -> Any:
        fn = getattr(torch, name)
        return fn(a) if dim is None else fn(a, dim=dim, keepdim=keepdim)

    return ref


register("sum", samples=_reduce_samples, nodes=(Sum,), reference=_torch_reduce("sum"))(sum)
register("mean", samples=_reduce_samples, nodes=(Mean,), reference=_torch_reduce("mean"))(mean)


def _var_samples(rng: np.random.Generator, dtype: Any) -> Any:
    x = randn(rng, dtype, 3, 4)
    yield Sample((x,), name="all")
    yield Sample((x,), {"dim": 1}, name="dim 1")
    yield Sample((x,), {"dim": 0, "keepdim": True, "correction": 0}, name="biased keepdim")


def var(input: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None) -> Tensor:
    """Variance over ``dim`` with Bessel's ``correction`` (1 unless ``unbiased=False`` or
    ``correction=`` says otherwise), as ``torch.var`` and its overloads: ``var(x, unbiased)`` (a bool
    in place of ``dim``), ``var(x, dim, unbiased, keepdim)``, ``var(x, dim, *, correction, keepdim)``.

    >>> import tinygrad_conv as tc
    >>> tc.Tensor([1.0, 2.0, 3.0, 4.0]).var().item(), tc.tensor([1.0, 3.0]).var(False).item()
    (1.6666666269302368, 1.0)
    """
    if isinstance(dim, (bool, np.bool_)):
        if unbiased is not None:
            raise TypeError("var: got a bool for dim (read as unbiased) and unbiased= as well; pass unbiased once")
        dim, unbiased = None, bool(dim)
    if unbiased is not None and correction is not None:
        raise RuntimeError("var: cannot specify both unbiased and correction")
    if correction is None:
        correction = 0 if unbiased is False else 1
    axes = _axes(dim, input.ndim, "var")
    n = int(np.prod([input.shape[i] for i in axes])) if axes else 1
    centered = input - input.mean(dim=axes, keepdim=True)
    return (centered * centered).sum(dim=axes, keepdim=keepdim) / float(builtins.max(n - correction, 0))


register("var", samples=_var_samples, nodes=(Mean, Sum),
         reference=lambda torch, a, dim=None, keepdim=False, correction=1:
         torch.var(a, dim=dim, keepdim=keepdim, correction=correction))(var)


class MinMax(NamedTuple):
    """What ``max(dim)``/``min(dim)`` return: the values and the indices of the winners."""

    values: Tensor
    indices: Tensor


class _Extreme(Function):
    """max/min over all elements (gradient shared evenly by ties, as PyTorch) or along a dim
    (values and indices; gradient to the index returned, the first winner)."""

    array_forward = True
    pick: Any = np.argmax
    take: Any = np.max

    @classmethod
    def forward(cls, ctx: Context, a: Any, dim: int | None = None, keepdim: bool = False) -> Any:
        ctx.shape = a.shape
        if dim is None:
            if a.size == 0:
                raise RuntimeError(f"{cls.name}(): Expected reduction dim to be specified for input.numel() == 0. "
                                   "Specify the reduction dim with the 'dim' argument.")
            out = cls.take(a)
            ctx.dim = None
            winners = a == out
            ctx.weights = winners / np.asarray(winners.sum(), dtype=a.dtype)
            return out
        (axis,) = _axes(dim, a.ndim, cls.name)
        idx = np.expand_dims(cls.pick(a, axis=axis), axis)
        values = np.take_along_axis(a, idx, axis)
        ctx.dim, ctx.idx = axis, idx
        if not keepdim:
            values, idx = np.squeeze(values, axis), np.squeeze(idx, axis)
        return values, idx.astype(np.int64)

    @staticmethod
    def backward(ctx: Context, g: Tensor, *unused: Any) -> Any:
        if ctx.dim is None:
            return _expand_back(g, ctx.shape, tuple(range(len(ctx.shape)))) * Tensor(ctx.weights)
        kept = _kept_shape(ctx.shape, (ctx.dim,))
        return IndexScatter.apply(reshape(g, kept), ("along", ctx.dim, ctx.idx), ctx.shape)


def _extreme_samples(rng: np.random.Generator, dtype: Any) -> Any:
    x = distinct(rng, dtype, 3, 4, 2)
    yield Sample((x,), name="all")
    yield Sample((x,), {"dim": 1}, name="dim 1")
    yield Sample((x,), {"dim": -1, "keepdim": True}, name="keepdim")


class Max(_Extreme):
    name = "max"
    pick, take = np.argmax, np.max


class Min(_Extreme):
    name = "min"
    pick, take = np.argmin, np.min


def max(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:
    """The largest element, or ``(values, indices)`` along ``dim``, or with a Tensor in place of
    ``dim`` the elementwise maximum, as ``torch.max``.

    >>> import tinygrad_conv as tc
    >>> tc.Tensor([[1.0, 5.0], [7.0, 2.0]]).max(dim=1).indices.tolist()
    [1, 0]
    """
    if isinstance(dim, Tensor):  # torch.max(input, other)
        return maximum(input, dim)
    if dim is None:
        return Max.apply(input)
    return MinMax(*Max.apply(input, dim=dim, keepdim=keepdim))


def min(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:
    """The smallest element, or ``(values, indices)`` along ``dim``, or with a Tensor in place of
    ``dim`` the elementwise minimum, as ``torch.min``."""
    if isinstance(dim, Tensor):  # torch.min(input, other)
        return minimum(input, dim)
    if dim is None:
        return Min.apply(input)
    return MinMax(*Min.apply(input, dim=dim, keepdim=keepdim))


def _torch_extreme(name: str) -> Any:
    def ref(torch: Any, a: Any, dim: int | None = None, keepdim: bool = False) -> Any:
        fn = getattr(torch, name)
        return fn(a) if dim is None else tuple(fn(a, dim=dim, keepdim=keepdim))

    return ref


register("max", samples=_extreme_samples, nodes=(Max,), reference=_torch_extreme("max"),
         nondifferentiable_points=True)(max)
register("min", samples=_extreme_samples, nodes=(Min,), reference=_torch_extreme("min"),
         nondifferentiable_points=True)(min)


def logsumexp(input: Tensor, dim: Dim, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) over ``dim``, stable for large inputs (the max is subtracted first)."""
    axes = _axes(dim, input.ndim, "logsumexp")
    m = Tensor(np.max(input._data, axis=axes, keepdims=True))
    m = Tensor(np.where(np.isfinite(m._data), m._data, 0).astype(input.dtype))  # constant shift
    out = (input - m).exp().sum(dim=axes, keepdim=True).log() + m
    if not keepdim:
        out = reshape(out, tuple(s for i, s in enumerate(input.shape) if i not in axes))
    return out


def _lse_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 3, 4) * 3,), {"dim": 1}, name="dim 1")
    yield Sample((randn(rng, dtype, 2, 3, 2),), {"dim": (0, 2), "keepdim": True}, name="dims")


register("logsumexp", samples=_lse_samples, nodes=(Sum,),
         reference=lambda torch, a, dim, keepdim=False: torch.logsumexp(a, dim=dim, keepdim=keepdim)
         )(logsumexp)


def _softmax_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 3, 5) * 3,), {"dim": 1}, name="rows")
    yield Sample((randn(rng, dtype, 2, 3, 4),), {"dim": 0}, name="dim 0")


# The softmax kernels below write their passes into one output array through ``out=``. NumPy reduces a 0-d
# array to a scalar, not an array, so a 0-d input (a valid softmax over dim 0 or -1, as PyTorch's) runs on
# np.atleast_1d's 1-element views of its arrays: the writes land in the 0-d output.


class Softmax(Function):
    """exp(x) / sum(exp(x)) along ``dim``; backward is y * (g - sum(g * y)) (``softmax_backward``).

    Computed in one output array (shift, exp and scale in place) rather than three temporaries.
    """

    array_forward = True

    @staticmethod
    def forward(ctx: Context, a: Any, dim: int) -> Any:
        (axis,) = _axes(dim, a.ndim, "softmax")
        dtype = a.dtype if a.dtype.kind == "f" else np.exp(np.zeros(1, a.dtype)).dtype  # as np.exp would give
        out = np.empty(a.shape, dtype=dtype)
        if a.size:  # (an empty input has nothing to normalise, and np.max refuses an empty axis)
            a1, o = np.atleast_1d(a, out)  # 0-d: 1-element views, see above Softmax
            np.subtract(a1, np.max(a1, axis=axis, keepdims=True), out=o, dtype=dtype)
            np.exp(o, out=o)
            total = np.sum(o, axis=axis, keepdims=True)
            np.divide(1.0, total, out=total)  # a small array: one product per element below, no divide
            o *= total
        ctx.axis = axis
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        (y,) = ctx.saved_tensors
        return SoftmaxBackward.apply(g, y, axis=ctx.axis)


class SoftmaxBackward(Function):
    """y * (g - sum(g * y)) along ``axis``: softmax's input gradient in one output array (two
    temporaries fewer than the same expression in Tensor ops). Its own gradients, in registered
    ops: the Jacobian diag(y) - y y^T is symmetric, so the one for g is this op again; the one for
    y is gg (g - S) - g sum(gg y), S = sum(g y)."""

    name = "softmax_backward"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, g: Any, y: Any, axis: int) -> Any:
        ctx.save_for_backward(g, y)
        ctx.axis = axis
        out = np.empty(np.broadcast_shapes(np.shape(g), np.shape(y)), dtype=np.result_type(g, y))
        g1, y1, o = np.atleast_1d(g, y, out)  # 0-d: 1-element views, see above Softmax
        np.multiply(g1, y1, out=o)
        total = np.sum(o, axis=axis, keepdims=True)
        np.subtract(g1, total, out=o)
        o *= y1
        return out

    @staticmethod
    def backward(ctx: Context, gg: Tensor) -> Any:
        g, y = ctx.saved_tensors
        axis = ctx.axis
        d_g = SoftmaxBackward.apply(gg, y, axis=axis) if ctx.needs_input_grad[0] else None
        d_y = None
        if ctx.needs_input_grad[1]:
            d_y = gg * (g - (g * y).sum(dim=axis, keepdim=True)) - g * (gg * y).sum(dim=axis, keepdim=True)
        return d_g, d_y


class LogSoftmax(Function):
    """x - logsumexp(x) along ``dim``; backward is g - softmax(x) * sum(g) (``log_softmax_backward``).

    One output array holds the shifted input and then the result. When a backward will run, the
    exponentials the sum needs become softmax(x) in place and are kept for it: NumPy's float32 exp
    is the costliest pass here, and the backward then needs none.
    """

    array_forward = True

    @staticmethod
    def forward(ctx: Context, a: Any, dim: int) -> Any:
        (axis,) = _axes(dim, a.ndim, "log_softmax")
        dtype = a.dtype if a.dtype.kind == "f" else np.exp(np.zeros(1, a.dtype)).dtype  # as np.exp would give
        out = np.empty(a.shape, dtype=dtype)
        e = np.empty(a.shape, dtype=dtype)
        ctx.axis = axis
        if ctx.needs_input_grad[0]:
            ctx.softmax = e  # filled below
            ctx.save_for_backward(out)
        if not a.size:  # (an empty input has nothing to normalise, and np.max refuses an empty axis)
            return out
        a1, o, e1 = np.atleast_1d(a, out, e)  # 0-d: 1-element views, see above Softmax
        np.subtract(a1, np.max(a1, axis=axis, keepdims=True), out=o, dtype=dtype)
        np.exp(o, out=e1)
        total = np.sum(e1, axis=axis, keepdims=True)
        if ctx.needs_input_grad[0]:
            e1 *= np.divide(1.0, total)  # softmax(x)
        o -= np.log(total, out=total)
        return out

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        (y,) = ctx.saved_tensors
        return LogSoftmaxBackward.apply(g, y, Tensor._wrap(ctx.softmax), axis=ctx.axis)


class LogSoftmaxBackward(Function):
    """g - exp(y) * sum(g) along ``axis`` in one output array; ``softmax`` (optional, a constant) is
    exp(y) kept from the forward. Its own gradients, in registered ops: for g, gg - sum(gg * exp(y));
    for y, -gg * exp(y) * sum(g)."""

    name = "log_softmax_backward"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, g: Any, y: Any, softmax: Any = None, axis: int = -1) -> Any:
        ctx.save_for_backward(g, y)
        ctx.axis, ctx.softmax = axis, softmax
        dtype = np.result_type(g, y)
        out = np.empty(np.broadcast_shapes(np.shape(g), np.shape(y)), dtype=dtype)
        g1, y1, o = np.atleast_1d(g, y, out)  # 0-d: 1-element views, see above Softmax
        total = np.sum(g1, axis=axis, keepdims=True, dtype=dtype)
        if softmax is None:
            np.exp(y1, out=o, dtype=dtype)
            o *= total
        else:
            np.multiply(np.atleast_1d(softmax), total, out=o, dtype=dtype)
        np.subtract(g1, o, out=o)
        return out

    @staticmethod
    def backward(ctx: Context, gg: Tensor) -> Any:
        g, y = ctx.saved_tensors
        axis = ctx.axis
        p = y.exp()
        d_g = (gg - (gg * p).sum(dim=axis, keepdim=True)) if ctx.needs_input_grad[0] else None
        d_y = -(gg * p * g.sum(dim=axis, keepdim=True)) if ctx.needs_input_grad[1] else None
        return (d_g, d_y, None)[:len(ctx.needs_input_grad)]  # none for softmax, when it was passed


def _sum_to_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 2, 3, 4), (3, 1)), name="to (3, 1)")
    yield Sample((randn(rng, dtype, 3, 4), (4,)), name="drop leading")


@register("sum_to_size", samples=_sum_to_samples,
          reference=lambda torch, a, shape: a.sum_to_size(shape))
class SumToSize(Function):
    """Sum a broadcast array back down to ``shape`` (the adjoint of ``expand``)."""

    array_forward = True

    @staticmethod
    def forward(ctx: Context, a: Any, shape: tuple[int, ...]) -> Any:
        shape = tuple(shape)
        lead = a.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, s in enumerate(shape) if s == 1 and a.shape[lead + i] != 1)
        ctx.shape = a.shape
        out = np.sum(a, axis=axes, keepdims=True) if axes else a
        return out.reshape(shape)

    @staticmethod
    def backward(ctx: Context, g: Tensor, *unused: Any) -> Any:
        return expand(g, ctx.shape), None


def sum_to_size(a: Tensor, shape: tuple[int, ...]) -> Tensor:
    return a if a.shape == tuple(shape) else SumToSize.apply(a, tuple(shape))


def _implicit_softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    """torch.nn.functional's deprecated choice when ``dim`` is None: 0 for 0-, 1- and 3-d input, else 1."""
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
                  "dim=X as an argument.", UserWarning, stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def _softmax_input(input: Tensor, dim: int | None, dtype: Any, op: str, stacklevel: int) -> tuple[Tensor, int]:
    """What softmax and log_softmax do before their op: PyTorch's implicit ``dim`` (warning at the
    caller's ``stacklevel``), then the ``dtype`` conversion, then the floating-point check."""
    if dim is None:
        dim = _implicit_softmax_dim(op, input.ndim, stacklevel)
    if dtype is not None:
        input = input.to(dtype)
    _check_float_input(input, op)
    return input, dim


def _check_float_input(input: Tensor, op: str) -> None:
    """softmax and log_softmax take floating-point input, as PyTorch's kernels do (they raise
    NotImplementedError for the other dtypes; ``dtype=`` converts first)."""
    if isinstance(input, Tensor) and input.dtype.kind != "f":
        raise NotImplementedError(f"{op}: not implemented for {input.dtype} input of shape {input.shape}; "
                                  f"pass dtype=tc.float32 (or convert with .float()) to compute it in floating point")


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """Softmax along ``dim``, as ``torch.nn.functional.softmax``: ``dtype`` converts the input first
    (the gradient comes back in the input's dtype); ``dim=None`` takes PyTorch's deprecated implicit
    dim, with its warning.

    >>> import tinygrad_conv as tc
    >>> softmax(tc.Tensor([[0.0, 0.0]]), dim=1, dtype=tc.float64).tolist()
    [[0.5, 0.5]]
    """
    input, dim = _softmax_input(input, dim, dtype, "softmax", _stacklevel + 1)
    return Softmax.apply(input, dim=dim)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """Log-softmax along ``dim``, stable for logits of any size, as ``torch.nn.functional.log_softmax``
    (``dtype`` and ``dim=None`` as in :func:`softmax`).

    >>> import tinygrad_conv as tc
    >>> log_softmax(tc.Tensor([[0.0, 0.0]]), dim=1).exp().tolist()
    [[0.5, 0.5]]
    """
    input, dim = _softmax_input(input, dim, dtype, "log_softmax", _stacklevel + 1)
    return LogSoftmax.apply(input, dim=dim)


register("softmax", samples=_softmax_samples, nodes=(Softmax,),
         reference=lambda torch, a, dim: torch.softmax(a, dim=dim))(softmax)
register("log_softmax", samples=_softmax_samples, nodes=(LogSoftmax,),
         reference=lambda torch, a, dim: torch.log_softmax(a, dim=dim))(log_softmax)


def _softmax_backward_samples(rng: np.random.Generator, dtype: Any) -> Any:
    # y need not be a softmax output: the formulas (and PyTorch's kernels) hold for any y.
    yield Sample((randn(rng, dtype, 3, 5), rng.uniform(0.05, 0.6, (3, 5)).astype(dtype)), {"axis": 1}, name="rows")
    yield Sample((randn(rng, dtype, 2, 3, 4), rng.uniform(0.05, 0.6, (2, 3, 4)).astype(dtype)), {"axis": 0},
                 name="dim 0")


def _log_softmax_backward_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 3, 5), -rng.uniform(0.2, 3.0, (3, 5)).astype(dtype)), {"axis": 1}, name="rows")
    yield Sample((randn(rng, dtype, 2, 3, 4), -rng.uniform(0.2, 3.0, (2, 3, 4)).astype(dtype)), {"axis": 0},
                 name="dim 0")


register("softmax_backward", method=False, functional=False, samples=_softmax_backward_samples,
         reference=lambda torch, g, y, axis: torch.ops.aten._softmax_backward_data(g, y, axis, y.dtype)
         )(SoftmaxBackward)
register("log_softmax_backward", method=False, functional=False, samples=_log_softmax_backward_samples,
         reference=lambda torch, g, y, axis=-1: torch.ops.aten._log_softmax_backward_data(g, y, axis, y.dtype)
         )(LogSoftmaxBackward)

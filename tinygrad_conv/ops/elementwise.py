"""Elementwise ops: arithmetic, exp/log family, comparisons that select (maximum, where, clamp).

Each op is a Function with forward (on arrays) and backward (on Tensors) side by side, like
micrograd's engine. Gradients may keep a broadcast shape: the engine sums them down.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.function import Context, Function
from ..autograd.grad_mode import _state as _grad_state
from ..dtypes import as_dtype, get_default_dtype, promote_operands
from ..kernels.activation import sigmoid as _sigmoid_kernel
from ..tensor import Tensor
from .registry import Sample, register
from .samples import away_from_zero, binary, distinct, positive, randn, unary


class _Binary(Function):
    """Shared by the arithmetic ops: array forward, PyTorch's type promotion (``tc.result_type``);
    the engine casts each input's gradient back to that input's dtype."""

    array_forward = True
    promotes_dtypes = True


def _result(out: Any, dt: np.dtype) -> np.ndarray:
    """``out`` as an array of ``dt`` (NumPy may return a scalar, or widen where PyTorch does not)."""
    if type(out) is np.ndarray and out.dtype == dt:
        return out
    return np.asarray(out, dtype=dt)


# The native float dtypes, which NumPy's arrays share (other floats, e.g. byte-swapped, take the
# general path of _arithmetic, which gives the same result).
_FLOAT16, _FLOAT32, _FLOAT64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)


def _arithmetic(ufunc: np.ufunc, a: Any, b: Any, true_divide: bool = False) -> np.ndarray:
    """``ufunc(a, b)`` in PyTorch's result dtype (``tc.result_type``), for the arithmetic ops.

    A (native) float array with a Python number (on either side), or two float arrays of one dtype,
    keep that dtype, in NumPy as in PyTorch: these (the commonest operands) call the ufunc at once,
    where ``promote_operands`` would return the same dtype and the operands unchanged, with more
    steps than a small array's ufunc takes. Every other case goes through ``promote_operands``.
    """
    ta, tb = type(a), type(b)
    if ta is np.ndarray and (tb is float or tb is int or (tb is np.ndarray and b.dtype is a.dtype)):
        dt = a.dtype
    elif tb is np.ndarray and (ta is float or ta is int):
        dt = b.dtype
    else:
        dt = None
    if dt is _FLOAT32 or dt is _FLOAT64 or dt is _FLOAT16:  # (identity: cheaper than reading dt.kind)
        # A Python number as its kept 0-d array (the lookup inline: _number_operand fills the table)
        if tb is float or tb is int:
            operand = _NUMBER_OPERANDS[0 if dt is _FLOAT32 else 1 if dt is _FLOAT64 else 2].get(b)
            b = operand if operand is not None else _number_operand(b, dt)
        elif ta is float or ta is int:
            operand = _NUMBER_OPERANDS[0 if dt is _FLOAT32 else 1 if dt is _FLOAT64 else 2].get(a)
            a = operand if operand is not None else _number_operand(a, dt)
        out = ufunc(a, b)
        # (the operands share dt, so the result has it: only a 0-d result, which NumPy returns as
        # a scalar, needs making an array)
        return out if type(out) is np.ndarray else _result(out, dt)
    dt, (a, b) = promote_operands(a, b, true_divide=true_divide)
    return _result(ufunc(a, b), dt)


# Python numbers met as operands of float arrays, as read-only 0-d arrays of the array's dtype, per
# dtype. A ufunc takes a 0-d operand of the array's own dtype straight to its loop, while a Python
# number first goes through NumPy's weak-scalar conversion (NEP 50), which costs about as much again
# as a small array's whole op (benchmarks/RESULTS.md, "The arithmetic ops' Python number operand").
# The conversion is the same one (round to nearest), so are the values, dtypes and warnings: only
# finite nonzero numbers that stay finite in the dtype are kept (0.0 and -0.0 are one key; a NaN
# never equals itself; an overflow warns at each call), the others go to the ufunc as they are. The
# few numbers of a model's expressions repeat at every step; the table starts over when full.
# (One table per dtype, chosen by identity: hashing a dtype as a key costs more than the lookup.)
_NUMBER_OPERANDS: tuple[dict[float | int, np.ndarray], ...] = ({}, {}, {})
_NUMBER_OPERANDS_KEPT = 64


def _number_operand(value: float | int, dt: np.dtype) -> Any:
    """``value`` as a 0-d array of ``dt`` (a native float dtype) when it converts exactly as
    NumPy's ufuncs would convert it, else ``value`` itself (see ``_NUMBER_OPERANDS``)."""
    kept = _NUMBER_OPERANDS[0 if dt is _FLOAT32 else 1 if dt is _FLOAT64 else 2]
    operand = kept.get(value)
    if operand is not None:
        return operand
    if value == 0 or not -1e300 < value < 1e300:  # (False for a NaN; large ints never reach float())
        return value
    with np.errstate(over="ignore"):
        operand = np.array(value, dtype=dt)
    if not np.isfinite(operand):
        return value
    operand.flags.writeable = False
    if len(kept) >= _NUMBER_OPERANDS_KEPT:
        kept.clear()
    kept[value] = operand
    return operand


def _times(g: Tensor, b: Any) -> Tensor:
    """``g * b`` for a backward rule: the registered op when it would be recorded (grad mode on, as
    under create_graph, and an operand requires grad), else the arrays multiplied as Mul's forward
    multiplies them (same values and dtype) and wrapped, without the op call, whose context and
    input checks nothing would read."""
    b_is_tensor = isinstance(b, Tensor)
    # (requires_grad first: reading the per-thread grad mode costs more than the two flags)
    if (g._requires_grad or (b_is_tensor and b._requires_grad)) and _grad_state.enabled:
        return g * b
    return _wrap(_arithmetic(np.multiply, g._data, b._data if b_is_tensor else b))


# Tensor's wrapper for results outside the graph, bound once (a classmethod looked up on the class
# builds a bound method at each call; _times runs in every Mul backward).
_wrap = Tensor._wrap


def _float_input(a: np.ndarray) -> np.ndarray:
    """Integer and bool inputs of the float functions (exp, log...) are computed in the default
    float dtype, as PyTorch does (NumPy would give float64)."""
    return a if a.dtype.kind == "f" else a.astype(get_default_dtype())


def _is_bool(x: Any) -> bool:
    return isinstance(x, (bool, np.bool_)) or getattr(x, "dtype", None) == np.bool_


def _no_bool_sub(a: Any, b: Any) -> None:
    """PyTorch refuses bool operands (Python's True included) in subtraction; NumPy only some."""
    if _is_bool(a) and _is_bool(b):
        raise RuntimeError("sub: Subtraction, the `-` operator, with two bool tensors is not supported. "
                           "Use the `^` or `logical_xor()` operator instead.")
    if _is_bool(a) or _is_bool(b):
        raise RuntimeError("sub: Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
                           "trying to invert a mask, use the `~` or `logical_not()` operator instead.")


def _int_power(a: np.ndarray, b: Any) -> np.ndarray:
    """Integer ``a ** b`` as PyTorch computes it: a negative exponent in a tensor gives 1 for a base
    of 1, +-1 for -1 and 0 otherwise (C's integer division), where NumPy raises; a negative Python
    int exponent is refused, as PyTorch refuses it."""
    negative = np.asarray(b) < 0
    if not negative.any():
        return np.power(a, b)
    out = np.power(a, np.where(negative, 0, b))
    odd = np.asarray(b) % 2 == 1
    reciprocal = np.where(a == 1, 1, np.where(a == -1, np.where(odd, -1, 1), 0)).astype(out.dtype)
    return np.where(negative, reciprocal, out)


def _arith(dunder: str, rdunder: str) -> dict[str, str]:
    return {dunder: "forward", rdunder: "reflected"}


@register("add", broadcasts=True, operators=_arith("__add__", "__radd__"), samples=binary(),
          reference=lambda torch, a, b: torch.add(a, b))
class Add(_Binary):
    """a + b, broadcasting as NumPy."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        return _arithmetic(np.add, a, b)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        return g, g


@register("sub", broadcasts=True, operators=_arith("__sub__", "__rsub__"), samples=binary(),
          reference=lambda torch, a, b: torch.sub(a, b))
class Sub(_Binary):
    """a - b."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        if type(a) is not np.ndarray or type(b) is not np.ndarray or a.dtype.kind == "b" or b.dtype.kind == "b":
            _no_bool_sub(a, b)
        return _arithmetic(np.subtract, a, b)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        return g, (-g if ctx.needs_input_grad[1] else None)


@register("mul", broadcasts=True, operators=_arith("__mul__", "__rmul__"), samples=binary(),
          reference=lambda torch, a, b: torch.mul(a, b))
class Mul(_Binary):
    """a * b."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        # Each operand's gradient needs only the other operand: one is kept only when the other
        # takes a gradient, as PyTorch does (x * 2 keeps nothing of x alive for backward).
        needs = ctx.needs_input_grad
        ctx.save_for_backward(a if needs[1] else None, b if needs[0] else None)
        return _arithmetic(np.multiply, a, b)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        a, b = ctx.saved_tensors  # Tensors, the Python scalars passed, or None where not kept
        return (_times(g, b) if ctx.needs_input_grad[0] else None,
                _times(g, a) if ctx.needs_input_grad[1] else None)


@register("div", broadcasts=True, operators=_arith("__truediv__", "__rtruediv__"),
          samples=binary(randn, away_from_zero, scalar=1.5),
          reference=lambda torch, a, b: torch.div(a, b))
class Div(_Binary):
    """a / b (true division: integers give the default float dtype, as in PyTorch)."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)  # (a: only for b's gradient)
        return _arithmetic(np.true_divide, a, b, true_divide=True)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        a, b = ctx.saved_tensors  # Tensors, or the Python scalars passed
        ga = g / b if ctx.needs_input_grad[0] else None
        gb = -g * a / (b * b) if ctx.needs_input_grad[1] else None
        return ga, gb


def _pow_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((positive(rng, dtype, 3, 4), randn(rng, dtype, 3, 4)), name="tensor exponent")
    yield Sample((randn(rng, dtype, 3, 4), 2.0), name="square")
    yield Sample((positive(rng, dtype, 3, 4), -0.5), name="negative power")
    yield Sample((positive(rng, dtype, 2, 1), randn(rng, dtype, 3)), name="broadcast")


@register("pow", broadcasts=True, operators=_arith("__pow__", "__rpow__"), samples=_pow_samples,
          reference=lambda torch, a, b: torch.pow(a, b))
class Pow(_Binary):
    """a ** b. The exponent's gradient uses log(a); where a == 0 it is taken as 0 (as PyTorch)."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        if type(b) is int and b < 0 and getattr(a, "dtype", np.dtype(np.float64)).kind in "biu":
            raise RuntimeError(f"pow: Integers to negative integer powers are not allowed (an integer tensor "
                               f"to the power {b}); use a float base, e.g. x.double() ** {b}")
        if type(b) is bool and type(a) is np.ndarray and a.dtype.kind == "b":
            # PyTorch's special cases of a scalar exponent: x ** 1 is x, x ** 0 is ones.
            return a.copy() if b else np.ones_like(a)
        dt, (a, b) = promote_operands(a, b)
        if dt.kind == "b":
            raise NotImplementedError("pow: \"pow\" not implemented for 'Bool' (both operands are bool); "
                                      "convert one with .long() or .float()")
        if dt.kind in "iu":
            return _result(_int_power(a, b), dt)
        if type(b) in (int, float) and b == 2 and type(a) is np.ndarray:
            # np.square: the same products as np.power's, in a faster loop (benchmarks/RESULTS.md).
            return _result(np.square(a), dt)
        return _result(np.power(a, b), dt)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        a, b = ctx.saved_tensors  # Tensors, or the Python scalars passed
        ga = gb = None
        if ctx.needs_input_grad[0]:
            # x ** 2: g * 2x (two passes; a ** 1 would be another pow)
            ga = g * (a * 2.0) if type(b) in (int, float) and b == 2 and isinstance(a, Tensor) \
                else g * b * a ** (b - 1)
        if ctx.needs_input_grad[1]:
            a_t = a if isinstance(a, Tensor) else Tensor(np.asarray(a, dtype=g.dtype))
            zero = a_t.detach() == 0
            safe = where(zero, 1.0, a_t)  # log(0) would give -inf * 0 = nan
            gb = where(zero, 0.0, g * (a_t ** b) * log(safe))
        return ga, gb


@register("neg", operators={"__neg__": "forward"}, samples=unary(),
          reference=lambda torch, a: torch.neg(a))
class Neg(Function):
    """-a."""

    array_forward = True

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        if a.dtype == np.bool_:
            raise RuntimeError("neg: Negation, the `-` operator, on a bool tensor is not supported. If you are "
                               "trying to invert a mask, use the `~` or `logical_not()` operator instead.")
        return np.negative(a)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        return -g


@register("exp", samples=unary(), reference=lambda torch, a: torch.exp(a))
class Exp(Function):
    """e ** a; backward reuses the output."""

    array_forward = True

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        out = np.exp(_float_input(a))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        (out,) = ctx.saved_tensors
        return g * out


@register("log", samples=unary(positive), reference=lambda torch, a: torch.log(a))
class Log(Function):
    """Natural logarithm."""

    array_forward = True

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return np.log(_float_input(a))

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        (a,) = ctx.saved_tensors
        return g / a


@register("sqrt", samples=unary(positive), reference=lambda torch, a: torch.sqrt(a))
class Sqrt(Function):
    """Square root; backward is g / (2 sqrt(a))."""

    array_forward = True

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        out = np.sqrt(_float_input(a))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        (out,) = ctx.saved_tensors
        return g / (out * 2.0)


@register("abs", samples=unary(away_from_zero), reference=lambda torch, a: torch.abs(a),
          nondifferentiable_points=True)
class Abs(Function):
    """|a|; the gradient at 0 is 0 (sign(0)), as PyTorch."""

    array_forward = True

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        (a,) = ctx.saved_tensors
        return g * Tensor(np.sign(a._data))


@register("tanh", samples=unary(), reference=lambda torch, a: torch.tanh(a))
class Tanh(Function):
    """Hyperbolic tangent; backward is g (1 - tanh^2)."""

    array_forward = True

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        out = np.tanh(_float_input(a))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        (out,) = ctx.saved_tensors
        return g * (1.0 - out * out)


@register("sigmoid", samples=unary(), reference=lambda torch, a: torch.sigmoid(a))
class Sigmoid(Function):
    """1 / (1 + e^-a), computed without overflow for large |a|."""

    array_forward = True

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        # 1 / (1 + exp(-a)) in cache-sized blocks over threads (exp(-a) = inf gives the limit 0);
        # not np.where over the two branches, which branches on every element (issue 15).
        out = _sigmoid_kernel(_float_input(a))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        (out,) = ctx.saved_tensors
        return SigmoidBackward.apply(g, out)


def _sigmoid_backward_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 3, 4), rng.uniform(0.05, 0.95, (3, 4)).astype(dtype)), name="matrix")
    yield Sample((randn(rng, dtype, 2, 3, 2), rng.uniform(0.05, 0.95, (2, 3, 2)).astype(dtype)), name="3d")


@register("sigmoid_backward", method=False, functional=False, samples=_sigmoid_backward_samples,
          reference=lambda torch, g, y: torch.ops.aten.sigmoid_backward(g, y))
class SigmoidBackward(_Binary):
    """g * y * (1 - y), y = sigmoid(x): sigmoid's gradient in one output array (three passes, where
    the same Tensor expression made three arrays). Its own gradients: for g this op again, for y
    gg * g * (1 - 2y)."""

    @staticmethod
    def forward(ctx: Context, g: Any, y: Any) -> Any:
        ctx.save_for_backward(g, y)
        dt, (g, y) = promote_operands(g, y)
        out = np.empty(np.broadcast_shapes(np.shape(g), np.shape(y)), dtype=dt)
        np.subtract(1.0, y, out=out)
        out *= y
        out *= g
        return out

    @staticmethod
    def backward(ctx: Context, gg: Tensor) -> tuple[Any, ...]:
        g, y = ctx.saved_tensors
        return (SigmoidBackward.apply(gg, y) if ctx.needs_input_grad[0] else None,
                gg * g * (1.0 - y * 2.0) if ctx.needs_input_grad[1] else None)


def _select_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((distinct(rng, dtype, 3, 4), distinct(rng, dtype, 3, 4) + 0.1), name="same shape")
    yield Sample((distinct(rng, dtype, 3, 1), distinct(rng, dtype, 4) + 0.1), name="broadcast")


@register("maximum", broadcasts=True, samples=_select_samples, reference=lambda torch, a, b: torch.maximum(a, b),
          nondifferentiable_points=True)
class Maximum(_Binary):
    """Elementwise max; at ties each side gets half the gradient (as PyTorch)."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        dt, (a, b) = promote_operands(a, b)
        return _result(np.maximum(a, b), dt)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        a, b = (np.asarray(t._data if isinstance(t, Tensor) else t) for t in ctx.saved_tensors)
        return _split_by(g, a > b, a == b, ctx.needs_input_grad)


@register("minimum", broadcasts=True, samples=_select_samples, reference=lambda torch, a, b: torch.minimum(a, b),
          nondifferentiable_points=True)
class Minimum(_Binary):
    """Elementwise min; at ties each side gets half the gradient (as PyTorch)."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        dt, (a, b) = promote_operands(a, b)
        return _result(np.minimum(a, b), dt)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        a, b = (np.asarray(t._data if isinstance(t, Tensor) else t) for t in ctx.saved_tensors)
        return _split_by(g, a < b, a == b, ctx.needs_input_grad)


def _split_by(g: Tensor, a_wins: np.ndarray, tie: np.ndarray, needs: tuple[bool, ...]) -> tuple[Any, Any]:
    """Route g to the winning side of a selection; ties split it evenly. The masks are constants
    (a Python-scalar side gets no gradient)."""
    dtype = g.dtype
    wa = np.where(tie, 0.5, a_wins).astype(dtype)
    wb = np.where(tie, 0.5, ~a_wins & ~tie).astype(dtype)
    return (g * Tensor(wa) if needs[0] else None), (g * Tensor(wb) if needs[1] else None)


def _where_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((rng.random((3, 4)) < 0.5, randn(rng, dtype, 3, 4), randn(rng, dtype, 3, 4)),
                 name="same shape")
    yield Sample((rng.random((3, 1)) < 0.5, randn(rng, dtype, 4), randn(rng, dtype, 3, 4)),
                 name="broadcast")


@register("where", broadcasts=True, method=False, samples=_where_samples,
          reference=lambda torch, c, a, b: torch.where(c, a, b))
class Where(_Binary):
    """where(condition, a, b): a where condition holds, else b."""

    @staticmethod
    def forward(ctx: Context, cond: Any, a: Any, b: Any) -> Any:
        ctx.cond = np.asarray(cond, dtype=bool)
        dt, (a, b) = promote_operands(a, b)
        return _result(np.where(ctx.cond, a, b), dt)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        cond = Tensor(ctx.cond)
        ga = where(cond, g, 0.0) if ctx.needs_input_grad[1] else None
        gb = where(cond, 0.0, g) if ctx.needs_input_grad[2] else None
        return None, ga, gb


where = Where.apply


def _clamp_samples(rng: np.random.Generator, dtype: Any) -> Any:
    x = distinct(rng, dtype, 3, 4) + 0.01  # no element sits exactly on a bound
    yield Sample((x,), {"min": -0.5, "max": 0.7}, name="both bounds")
    yield Sample((x,), {"min": 0.1}, name="min only")
    yield Sample((x,), {"max": 0.3}, name="max only")


class Clamp(Function):
    """Limit values to [min, max]; the gradient passes where min <= a <= max (as PyTorch)."""

    array_forward = True

    @staticmethod
    def forward(ctx: Context, a: Any, min: float | None = None, max: float | None = None) -> Any:
        if min is None and max is None:
            raise RuntimeError("clamp: At least one of 'min' or 'max' must not be None")
        # A Tensor bound is used as a constant (its value, no gradient).
        bounds = [getattr(v, "_data", v) for v in (min, max) if v is not None]
        dt, (a, *bounds) = promote_operands(a, *bounds)
        lo = bounds.pop(0) if min is not None else None
        hi = bounds.pop(0) if max is not None else None
        if ctx.needs_input_grad[0]:  # the mask only when a backward will read it
            mask = np.ones(a.shape, dtype=bool)
            if lo is not None:
                mask &= a >= lo
            if hi is not None:
                mask &= a <= hi
            ctx.mask = mask
        if dt.kind == "f" and (lo is None or hi is None):
            # A missing float bound as an infinite one: np.clip(a, lo, None) takes NumPy's slow
            # scalar loop (np.maximum), where the two-sided clip has a SIMD one.
            lo, hi = (-np.inf if lo is None else lo), (np.inf if hi is None else hi)
        return _result(np.clip(a, lo, hi), dt)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        return g * Tensor(ctx.mask.astype(g.dtype))


def _cast_samples(rng: np.random.Generator, dtype: Any) -> Any:
    # The checker expects outputs in the sample's dtype; casts across dtypes have their own tests.
    yield Sample((randn(rng, dtype, 3, 4), dtype), name="same dtype")


@register("cast", method=False, functional=False, samples=_cast_samples,
          reference=lambda torch, a, dtype: a.to({np.dtype("float32"): torch.float32,
                                                 np.dtype("float64"): torch.float64}[np.dtype(dtype)]))
class Cast(Function):
    """Convert to another dtype; the gradient is cast back."""

    array_forward = True

    @staticmethod
    def forward(ctx: Context, a: Any, dtype: Any) -> Any:
        ctx.dtype = a.dtype
        return a.astype(dtype, copy=False)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        return cast(g, ctx.dtype), None


def cast(a: Tensor, dtype: Any) -> Tensor:
    dt = as_dtype(dtype, "to")
    if a.dtype == dt:
        return a
    return Cast.apply(a, dt)


@register("clone", samples=unary(), reference=lambda torch, a: a.clone())
class Clone(Function):
    """A copy with its own memory; the gradient passes through."""

    array_forward = True

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        return a.copy()

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        return g


clone = Clone.apply
add, sub, mul, div, neg, exp = Add.apply, Sub.apply, Mul.apply, Div.apply, Neg.apply, Exp.apply
log, sqrt, tanh, sigmoid, maximum, minimum = Log.apply, Sqrt.apply, Tanh.apply, Sigmoid.apply, \
    Maximum.apply, Minimum.apply
pow = Pow.apply


def clamp(input: Tensor, min: Any = None, max: Any = None) -> Tensor:
    """Limit values to [min, max], as ``torch.clamp``: numbers, or tensors that broadcast (which then
    get their gradient where they bound the result; where min > max the result is max).

    >>> import tinygrad_conv as tc
    >>> tc.tensor([-1.0, 0.5, 2.0]).clamp(0.0, 1.0).tolist()
    [0.0, 0.5, 1.0]
    >>> tc.clamp(tc.tensor([1.0, 5.0]), max=tc.tensor(2.0)).tolist()
    [1.0, 2.0]
    """
    if min is None and max is None:
        raise RuntimeError("clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        # Tensor bounds take part in the gradient: two selections, ties going to the input (as PyTorch).
        out = input
        if min is not None:
            out = where(Tensor._wrap(np.asarray(_value(out) < _value(min))), min, out)
        if max is not None:
            out = where(Tensor._wrap(np.asarray(_value(out) > _value(max))), max, out)
        return out
    return Clamp.apply(input, min=min, max=max)


def _value(x: Any) -> Any:
    return x.detach().numpy() if isinstance(x, Tensor) else x


register("clamp", samples=_clamp_samples, nondifferentiable_points=True, nodes=(Clamp,),
         reference=lambda torch, a, min=None, max=None: torch.clamp(a, min=min, max=max))(clamp)
abs = Abs.apply

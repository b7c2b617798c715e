"""Elementwise kernels for the activations: sigmoid, silu, softplus, log-sigmoid, elu (selu, celu),
gelu (exact and tanh), hardswish, leaky_relu, prelu, and their slopes.

Each is a short chain of fast NumPy ufuncs (exp, log, tanh have SIMD loops) written into one output
buffer, instead of ``np.where`` on a random mask (tens of ufunc passes' time: it branches on every
element) or ``np.logaddexp`` / ``np.log1p`` (slow loops; benchmarks/RESULTS.md has the timings);
branches become arithmetic (max(x, s x), relu(x) - |x| Phi(-|x|), trunc of a clip) or a select on
the bits. Long chains on large contiguous arrays run in cache-sized blocks split over the threads of
:mod:`.parallel`; chains of a few passes (``split=False``) and anything else run on the whole array,
which gives the same values. ``reference.py`` holds the textbook formula of each, and
tests/kernels/test_activation_kernels.py holds them equal.

>>> import numpy as np
>>> [round(v, 4) for v in sigmoid(np.array([-1.0, 0.0, 2.0])).tolist()]
[0.2689, 0.5, 0.8808]
>>> float(softplus(np.array([-100.0]), 1.0, 20.0)[0]) > 0
True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from .parallel import parallel_for


@lru_cache(maxsize=8)
def _zeros(n: int, dtype: np.dtype) -> np.ndarray:
    # np.maximum(x, 0) takes NumPy's slow loop for a scalar operand (several times an array
    # operand's), so the kernels compare with a cached zero block.
    z = np.zeros(n, dtype=dtype)
    z.flags.writeable = False
    return z


def _zero_like(x: np.ndarray) -> np.ndarray:
    """Zeros that broadcast against ``x`` cheaply: a cached flat block for 1-d blocks."""
    if x.ndim == 1 and x.size <= _BLOCK:
        return _zeros(_BLOCK, x.dtype)[:x.size]
    return np.zeros((), dtype=x.dtype)

# 64K elements: 256 KiB per float32 operand, so an output and a scratch block stay in L2 between
# the passes of a chain, while a 1.2M-element array still makes only ~18 blocks of Python calls.
_BLOCK = 1 << 16
_MIN_FAST = 1 << 15


def blockwise(fn: Callable[..., None], out: np.ndarray, *arrays: Any, split: bool = True) -> np.ndarray:
    """Run ``fn(out_block, *in_blocks)`` over matching flat blocks of ``out`` and ``arrays``.

    ``fn`` must write its result into ``out_block`` and touch nothing else; it runs with floating
    point warnings off (exp overflowing to inf is part of these formulas). Inputs of another
    shape or layout (broadcast, strided, small) get one call on the whole arrays, and so does
    every call with ``split=False``: a chain of a few passes over an array that fits the last
    level cache runs faster as whole-array ufunc calls on one thread than as blocks handed to
    threads (the per-block Python calls and the thread handoff cost more than they save).
    """
    fast = (split and out.size >= _MIN_FAST and out.flags.c_contiguous
            and all(isinstance(a, np.ndarray) and a.shape == out.shape and a.flags.c_contiguous for a in arrays))
    if not fast:
        with np.errstate(all="ignore"):
            if out.ndim == 0:  # ufuncs on 0-d arrays return scalars, which cannot take out=
                fn(out.reshape(1), *(np.reshape(a, 1) for a in arrays))
            else:
                fn(out, *arrays)
        return out
    flat_out = out.reshape(-1)
    flat = [a.reshape(-1) for a in arrays]

    def body(start: int, stop: int) -> None:
        # errstate is per thread (a context variable): set it in the pool thread itself.
        with np.errstate(all="ignore"):
            for lo in range(start, stop, _BLOCK):
                hi = min(stop, lo + _BLOCK)
                fn(flat_out[lo:hi], *(a[lo:hi] for a in flat))

    parallel_for(flat_out.size, body, grain=_MIN_FAST // 2)
    return out


def _sigmoid_into(o: np.ndarray, x: np.ndarray) -> None:
    # 1 / (1 + exp(-x)): exp(-x) overflows to inf for x < -88 (float32) and 1 / inf = 0, the
    # limit; relative accuracy holds in both tails (no cancellation), unlike 0.5 * tanh(x/2) + 0.5.
    np.negative(x, out=o)
    np.exp(o, out=o)
    o += 1.0
    # np.divide(1, o) has a SIMD loop, np.reciprocal does not (timings: benchmarks/RESULTS.md, Activations)
    np.divide(1.0, o, out=o)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) in x's dtype."""
    x = np.asarray(x)
    return blockwise(_sigmoid_into, np.empty(x.shape, dtype=x.dtype), x)


def _log1p_of_exp_into(o: np.ndarray, e: np.ndarray) -> None:
    """o = log(1 + e) for 0 <= e <= 1, accurate for tiny e without np.log1p (about ten times
    np.log's time in NumPy 2.4): log(u) + (e - (u - 1)) / u with u = 1 + e rounded, the
    second term correcting the rounding of u to first order. ``e`` is used as scratch."""
    u = e + 1.0
    np.subtract(u, 1.0, out=o)
    np.subtract(e, o, out=o)
    o /= u
    np.log(u, out=u)
    o += u


def _softplus_into(o: np.ndarray, x: np.ndarray, beta: float, threshold: float) -> None:
    # log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)), z = beta * x; x itself where z > threshold.
    z = np.multiply(x, beta, dtype=x.dtype) if beta != 1.0 else x
    e = np.abs(z)
    np.negative(e, out=e)
    np.exp(e, out=e)
    _log1p_of_exp_into(o, e)
    o += np.maximum(z, _zero_like(z))
    if beta != 1.0:
        o /= beta
    # Where z > threshold the result is x exactly (PyTorch's linear region): copyto with a mask
    # writes only those elements, far cheaper than np.where over the whole block.
    np.copyto(o, x, where=z > threshold)


def softplus(x: np.ndarray, beta: float, threshold: float) -> np.ndarray:
    """log(1 + exp(beta x)) / beta, and x where beta x > threshold (PyTorch's softplus)."""
    x = np.asarray(x)
    return blockwise(lambda o, a: _softplus_into(o, a, beta, threshold), np.empty(x.shape, dtype=x.dtype), x)


def _softplus_grad_into(o: np.ndarray, g: np.ndarray, x: np.ndarray, beta: float, threshold: float) -> None:
    # g * sigmoid(beta x) = g / (1 + exp(-beta x)), and g itself where beta x > threshold (PyTorch's
    # linear region; -(beta x) is exact, so the test is PyTorch's own). exp overflowing to inf gives 0.
    np.multiply(x, -beta, out=o)
    linear = np.less(o, -threshold)
    np.exp(o, out=o)
    o += 1.0
    np.divide(g, o, out=o)
    if linear.any():  # usually none: a masked copy of a few elements
        np.copyto(o, g, where=linear)


def softplus_grad(g: np.ndarray, x: np.ndarray, beta: float, threshold: float) -> np.ndarray:
    """g * softplus'(x): g * sigmoid(beta x), or g where beta x > threshold.

    >>> softplus_grad(np.array([1.0, 1.0, 2.0]), np.array([0.0, 30.0, 0.0]), 1.0, 20.0).tolist()
    [0.5, 1.0, 1.0]
    """
    return _grad_blockwise(lambda o, a, b: _softplus_grad_into(o, a, b, beta, threshold), g, x)


def _log_sigmoid_grad_into(o: np.ndarray, g: np.ndarray, x: np.ndarray) -> None:
    # g * sigmoid(-x) = g / (1 + exp(x))
    np.exp(x, out=o)
    o += 1.0
    np.divide(g, o, out=o)


def log_sigmoid_grad(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """g * d/dx log(sigmoid(x)) = g * sigmoid(-x).

    >>> log_sigmoid_grad(np.array([1.0, 2.0]), np.array([0.0, 0.0])).tolist()
    [0.5, 1.0]
    """
    return _grad_blockwise(_log_sigmoid_grad_into, g, x)


def _log_sigmoid_into(o: np.ndarray, x: np.ndarray) -> None:
    # log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)): no overflow, accurate in both tails.
    e = np.abs(x)
    np.negative(e, out=e)
    np.exp(e, out=e)
    _log1p_of_exp_into(o, e)
    np.subtract(np.minimum(x, _zero_like(x)), o, out=o)


def log_sigmoid(x: np.ndarray) -> np.ndarray:
    """log(1 / (1 + exp(-x))) in x's dtype."""
    x = np.asarray(x)
    return blockwise(_log_sigmoid_into, np.empty(x.shape, dtype=x.dtype), x)


def _elu_into(o: np.ndarray, x: np.ndarray, alpha: float, scale: float, input_scale: float) -> None:
    # scale * (max(x, 0) + alpha * expm1(input_scale * min(x, 0))): NaN stays NaN (both parts
    # propagate it); the scales fold into the passes that exist anyway.
    zero = _zero_like(x)
    np.minimum(x, zero, out=o)
    if input_scale != 1.0:
        o *= input_scale
    np.expm1(o, out=o)
    if alpha * scale != 1.0:
        o *= alpha * scale
    pos = np.maximum(x, zero)
    if scale != 1.0:
        pos *= scale
    o += pos


def elu(x: np.ndarray, alpha: float, scale: float = 1.0, input_scale: float = 1.0) -> np.ndarray:
    """scale * x where x > 0, else scale * alpha * (exp(input_scale * x) - 1) (PyTorch's elu kernel,
    which selu and celu call with their constants)."""
    x = np.asarray(x)
    return blockwise(lambda o, a: _elu_into(o, a, alpha, scale, input_scale), np.empty(x.shape, dtype=x.dtype), x)


def elu_is_continuous(alpha: float, input_scale: float) -> bool:
    """Whether elu's slope is continuous at 0 (alpha * input_scale == 1, to rounding): elu with
    alpha 1 and every celu. Then the slope is scale * exp(input_scale * min(x, 0)) everywhere, 1 at 0,
    with no mask; otherwise it jumps at 0 and x > 0 selects the branch.

    >>> elu_is_continuous(1.0, 1.0), elu_is_continuous(2.0, 0.5), elu_is_continuous(1.6732632423543772, 1.0)
    (True, True, False)
    """
    return abs(alpha * input_scale - 1.0) <= 1e-15


def _elu_grad_into(o: np.ndarray, g: np.ndarray, x: np.ndarray, alpha: float, scale: float,
                   input_scale: float) -> None:
    # slope = scale where x > 0, else scale * alpha * input_scale * exp(input_scale * x) (that at 0, NaN
    # at NaN, as PyTorch); the exp is of min(x, 0), so the branch not taken never holds inf.
    continuous = elu_is_continuous(alpha, input_scale)
    np.minimum(x, _zero_like(x), out=o)
    if input_scale != 1.0:
        o *= input_scale
    np.exp(o, out=o)
    if continuous:
        # exp(0) = 1 for every x >= 0: the formula is already the slope on both sides.
        if scale != 1.0:
            o *= scale
        o *= g
        return
    pos = np.greater(x, 0)
    o *= alpha * scale * input_scale
    # A select without a branch (np.copyto(where=) on a random mask costs 10x): zero the slope
    # where x > 0, then add the positive slope there; both exact.
    np.multiply(o, np.logical_not(pos), out=o)
    if scale != 1.0:
        np.add(o, np.multiply(pos, scale, dtype=o.dtype), out=o)
    else:
        np.add(o, pos, out=o)
    o *= g


def _grad_blockwise(fn: Callable[..., None], g: Any, x: Any, split: bool = True) -> np.ndarray:
    """``fn(out, g, x)`` blockwise for a gradient kernel: g and x in their common dtype and shape."""
    dtype = np.result_type(g, x)
    g = np.asarray(g, dtype=dtype)
    x = np.asarray(x, dtype=dtype)
    if g.shape != x.shape:
        g, x = np.broadcast_arrays(g, x)
    return blockwise(fn, np.empty(x.shape, dtype=dtype), g, x, split=split)


def elu_grad(g: np.ndarray, x: np.ndarray, alpha: float, scale: float = 1.0, input_scale: float = 1.0) -> np.ndarray:
    """g * elu'(x) for :func:`elu` with the same constants."""
    return _grad_blockwise(lambda o, a, b: _elu_grad_into(o, a, b, alpha, scale, input_scale), g, x)


# erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z / 2), z >= 0: Numerical Recipes' Chebyshev fit
# (erfcc), fractional error below 1.2e-7 everywhere, i.e. float32's own precision. Evaluated in
# float32 it needs ~20 cheap passes and one exp, against ~40 float64 passes of the exact erfc.
_ERFCC = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587,
          -0.82215223, 0.17087277)
_SQRT_HALF = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327


# gelu = relu(x) - |x| Phi(-|x|) = relu(x) - |x| erfc(|x| / sqrt 2) / 2 for every sign of x: no mask and no
# select. With the erfcc fit, |x| erfc(z) / 2 = |x| t exp(P(t) - z^2 + ln 1/2): the 1/2 folds into P's constant.
_GELU_C0 = _ERFCC[0] + math.log(0.5)
# x is clipped to this before |x| for the erfc part, so +inf gives relu(inf) - 0 = inf instead of
# inf * 0; -inf still gives NaN (-inf * Phi(-inf)), as the float64 formula and PyTorch do.
_GELU_BIG = 1e10


def _erfcc_exponent_into(o: np.ndarray, z: np.ndarray) -> np.ndarray:
    """o = P(t) + ln(1/2), the erfcc fit's exponent without its -z^2 and with Phi's 1/2 folded in, for
    float32 z >= 0; returns t = 1 / (1 + z / 2) (a new array), which the fit multiplies by."""
    t = np.multiply(z, 0.5)
    t += 1.0
    np.divide(1.0, t, out=t)
    np.multiply(t, _ERFCC[-1], out=o)
    for c in _ERFCC[-2:0:-1]:
        o += c
        o *= t
    o += _GELU_C0
    return t


def _gelu_tail_into(o: np.ndarray, x: np.ndarray) -> np.ndarray:
    """o = |x'| Phi(-|x'|) with x' = min(x, 1e10), for float32 x; returns the scratch array |x'|."""
    a = np.clip(x, -np.inf, _GELU_BIG)
    np.abs(a, out=a)
    z = np.multiply(a, _SQRT_HALF)
    t = _erfcc_exponent_into(o, z)
    np.multiply(z, z, out=z)
    o -= z
    np.exp(o, out=o)
    o *= t
    o *= a
    return a


def gelu_f32(x: np.ndarray) -> np.ndarray:
    """x * Phi(x) for float32 x (exact gelu to float32 precision, relative in both tails)."""
    def body(o: np.ndarray, xb: np.ndarray) -> None:
        a = _gelu_tail_into(o, xb)
        np.maximum(xb, _zero_like(xb), out=a)
        np.subtract(a, o, out=o)
    return blockwise(body, np.empty(x.shape, dtype=x.dtype), x)


def gelu_grad_f32(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """g * (Phi(x) + x phi(x)) for float32 g and x.

    With a = |x|, D = Phi(-a) - a phi(a) is the slope for x <= 0, and 1 - D for x > 0; D comes from
    the same erfc fit, exp(-z^2) (t exp(P(t)) / 2 - a / sqrt(2 pi)), and the sign of x selects
    between D and 1 - D on the bits (both agree at 0, where the slope is continuous).
    """
    def body(o: np.ndarray, gb: np.ndarray, xb: np.ndarray) -> None:
        a = np.abs(xb)
        z = np.multiply(a, _SQRT_HALF)
        t = _erfcc_exponent_into(o, z)
        np.exp(o, out=o)
        o *= t  # Phi(-a) exp(z^2)
        a *= _INV_SQRT_2PI
        o -= a  # (Phi(-a) - a phi(a)) exp(z^2)
        np.multiply(z, z, out=z)
        np.negative(z, out=z)
        np.exp(z, out=z)
        o *= z  # D
        np.subtract(1.0, o, out=t)  # 1 - D
        ints = np.dtype(np.int32)
        bits, other = o.view(ints), t.view(ints)
        sign = np.right_shift(xb.view(ints), 31, out=a.view(ints))  # -1 where x's sign bit is set, else 0
        bits ^= other
        bits &= sign
        bits ^= other  # D where x <= 0, 1 - D where x >= 0
        o *= gb
    if g.shape != x.shape:
        g, x = np.broadcast_arrays(g, x)
    return blockwise(body, np.empty(x.shape, dtype=np.float32), g, x)


# gelu's tanh approximation: 0.5 x (1 + tanh(c (x + k x^3))), PyTorch's constants.
_TANH_C = math.sqrt(2.0 / math.pi)
_TANH_K = 0.044715


def _gelu_tanh_into(o: np.ndarray, x: np.ndarray) -> None:
    np.multiply(x, x, out=o)
    o *= _TANH_K
    o += 1.0
    o *= x
    o *= _TANH_C  # c (x + k x^3)
    np.tanh(o, out=o)
    o += 1.0
    o *= x
    o *= 0.5


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))) in x's dtype, in one output array.

    >>> gelu_tanh(np.array([-1.0, 0.0, 1.0])).round(4).tolist()
    [-0.1588, 0.0, 0.8412]
    """
    x = np.asarray(x)
    return blockwise(_gelu_tanh_into, np.empty(x.shape, dtype=x.dtype), x, split=False)


def _gelu_tanh_grad_into(o: np.ndarray, g: np.ndarray, x: np.ndarray) -> None:
    # slope = (1 + t) / 2 + x (1 - t^2) c (1 + 3 k x^2) / 2, t = tanh(c (x + k x^3))
    sq = np.multiply(x, x)
    np.multiply(sq, _TANH_K, out=o)
    o += 1.0
    o *= x
    o *= _TANH_C
    np.tanh(o, out=o)  # t
    sq *= 1.5 * _TANH_K * _TANH_C
    sq += 0.5 * _TANH_C
    sq *= x  # x c (1 + 3 k x^2) / 2
    r = np.multiply(o, o)
    np.subtract(1.0, r, out=r)
    r *= sq
    o += 1.0
    o *= 0.5
    o += r
    o *= g


def gelu_tanh_grad(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """g * d/dx of :func:`gelu_tanh`.

    >>> gelu_tanh_grad(np.array([1.0, 2.0]), np.array([0.0, 0.0])).tolist()
    [0.5, 1.0]
    """
    return _grad_blockwise(_gelu_tanh_grad_into, g, x)


def _silu_grad_into(o: np.ndarray, g: np.ndarray, x: np.ndarray) -> None:
    # s * (1 + x * (1 - s)) * g, s = sigmoid(x)
    _sigmoid_into(o, x)
    _silu_slope_times_g(o, g, x)


def _silu_slope_times_g(o: np.ndarray, g: np.ndarray, x: np.ndarray) -> None:
    """o = g * s * (1 + x * (1 - s)), with o holding s = sigmoid(x) on entry."""
    t = np.subtract(1.0, o, dtype=o.dtype)
    t *= x
    t += 1.0
    o *= t
    o *= g


def silu_grad(g: np.ndarray, x: np.ndarray, sig: np.ndarray | None = None) -> np.ndarray:
    """g * silu'(x); ``sig``, when given, is sigmoid(x) kept from the forward (four passes fewer)."""
    if sig is None or sig.shape != np.broadcast_shapes(np.shape(g), np.shape(x)):
        return _grad_blockwise(_silu_grad_into, g, x)
    dtype = np.result_type(g, x, sig)
    out = np.empty(sig.shape, dtype=dtype)
    with np.errstate(all="ignore"):  # g * s * (1 + x * (1 - s)): five passes, one array
        np.subtract(1.0, sig, out=out)
        out *= x
        out += 1.0
        out *= sig
        out *= g
    return out


def _select_into(o: np.ndarray, cond: np.ndarray, a: float, b: float) -> None:
    """o = a where cond else b, exactly, without a branch per element: on the integer view of the
    bits, b ^ (mask & (a ^ b)) with mask all ones where cond (np.copyto(where=) or np.where on a
    random mask cost ~10x a plain pass)."""
    ints = np.dtype(f"i{o.dtype.itemsize}")
    ab = np.array([a, b], dtype=o.dtype).view(ints)
    bits = o.view(ints)
    np.negative(cond.view(np.int8), out=bits, casting="unsafe")  # true -> -1: all bits set
    bits &= ab[0] ^ ab[1]
    bits ^= ab[1]


def leaky_relu_factor(x: np.ndarray, negative_slope: float) -> np.ndarray:
    """1 where x > 0, else negative_slope (NaN too), in x's dtype: leaky_relu's slope."""
    x = np.asarray(x)
    out = np.empty(x.shape, dtype=x.dtype)
    return blockwise(lambda o, a: _select_into(o, np.greater(a, 0), 1.0, negative_slope), out, x, split=False)


def leaky_relu(x: np.ndarray, negative_slope: float) -> np.ndarray:
    """x where x > 0, else negative_slope * x, in x's dtype (PyTorch's leaky_relu, NaN and inf included).

    Two passes and no mask: for a slope s <= 1, x > 0 gives x >= s x and x < 0 gives s x > x, so the
    result is max(x, s x); for s > 1 the order flips and it is min(x, s x). Both pick exactly x or
    the product PyTorch computes, and NaN propagates. A zero or non-finite slope goes through the
    factor instead (0 * inf is NaN where PyTorch keeps inf).

    >>> leaky_relu(np.array([-2.0, 0.0, 3.0]), 0.5).tolist()
    [-1.0, 0.0, 3.0]
    """
    x = np.asarray(x)
    s = float(negative_slope)
    if s == 0.0 or not math.isfinite(s):
        return np.multiply(x, leaky_relu_factor(x, s), dtype=x.dtype)

    def body(o: np.ndarray, a: np.ndarray) -> None:
        np.multiply(a, s, out=o)
        (np.maximum if s <= 1.0 else np.minimum)(a, o, out=o)
    return blockwise(body, np.empty(x.shape, dtype=x.dtype), x, split=False)


def prelu(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x where x > 0, else w * x, with ``w`` broadcast against ``x`` (one slope, or one per channel).

    Where every slope is finite, nonzero and on the same side of 1, this is max(x, w x) (or min,
    for slopes above 1): two passes, as :func:`leaky_relu`. Otherwise the plain select.

    >>> prelu(np.array([[-2.0, 3.0], [-4.0, 5.0]]), np.array([[0.5], [2.0]])).tolist()
    [[-1.0, 3.0], [-8.0, 5.0]]
    """
    x = np.asarray(x)
    w = np.asarray(w, dtype=x.dtype)
    finite = bool(np.all(np.isfinite(w))) and bool(np.all(w != 0))
    below, above = bool(np.all(w <= 1)), bool(np.all(w > 1))
    if not (finite and (below or above)):
        with np.errstate(all="ignore"):
            return np.where(np.greater(x, 0), x, np.multiply(w, x, dtype=x.dtype))
    out = np.empty(np.broadcast_shapes(x.shape, w.shape), dtype=x.dtype)
    with np.errstate(all="ignore"):
        np.multiply(x, w, out=out)
        (np.maximum if below else np.minimum)(x, out, out=out)
    return out


def _hardswish_into(o: np.ndarray, x: np.ndarray) -> None:
    # x * min(max(x + 3, 0), 6) / 6: np.clip with scalar bounds has a SIMD loop, np.minimum(o, 6.0)
    # does not (a scalar operand takes NumPy's slow generic loop; benchmarks/RESULTS.md, Activations).
    np.add(x, 3.0, out=o)
    np.clip(o, 0.0, 6.0, out=o)
    o *= x
    o /= 6.0


def hardswish(x: np.ndarray) -> np.ndarray:
    """x * relu6(x + 3) / 6 in x's dtype."""
    x = np.asarray(x)
    return blockwise(_hardswish_into, np.empty(x.shape, dtype=x.dtype), x, split=False)


def _hardswish_grad_into(o: np.ndarray, g: np.ndarray, x: np.ndarray) -> None:
    # PyTorch's slope: 0 up to -3, x / 3 + 0.5 strictly between, 1 from 3 up. With q = clip(x, -3, 3) / 3,
    # trunc(q) is -1 or 1 exactly at and beyond the kinks and 0 strictly between (a correctly rounded
    # divide never reaches 1 below 3), so slope = q + 0.5 - trunc(q) / 2: float passes, no mask.
    np.clip(x, -3.0, 3.0, out=o)
    np.divide(o, 3.0, out=o)
    step = np.trunc(o)
    o += 0.5
    step *= 0.5
    o -= step
    o *= g


def hardswish_grad(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """g * hardswish'(x)."""
    return _grad_blockwise(_hardswish_grad_into, g, x, split=False)


def _silu_into(o: np.ndarray, x: np.ndarray) -> None:
    # x / (1 + exp(-x)): one divide instead of sigmoid's 1 / (...) and a product
    np.negative(x, out=o)
    np.exp(o, out=o)
    o += 1.0
    np.divide(x, o, out=o)


def silu(x: np.ndarray) -> np.ndarray:
    """x * sigmoid(x) in x's dtype."""
    x = np.asarray(x)
    return blockwise(_silu_into, np.empty(x.shape, dtype=x.dtype), x, split=False)


def silu_and_sigmoid(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(silu(x), sigmoid(x)): silu's forward when its backward will need the sigmoid.

    Both come from d = 1 + exp(-x), as x / d and 1 / d: exactly :func:`silu`'s and :func:`sigmoid`'s
    values, so silu's forward is the same whether or not a backward will run (x * (1 / d) would round
    differently).

    >>> [a.round(4).tolist() for a in silu_and_sigmoid(np.array([0.0, 1.0]))]
    [[0.0, 0.7311], [0.5, 0.7311]]
    """
    x = np.asarray(x)

    def denominator(o: np.ndarray, a: np.ndarray) -> None:
        np.negative(a, out=o)
        np.exp(o, out=o)
        o += 1.0
    sig = blockwise(denominator, np.empty(x.shape, dtype=x.dtype), x, split=False)
    with np.errstate(all="ignore"):  # -inf / inf is NaN, as silu's
        out = np.divide(x, sig, dtype=x.dtype)
        np.divide(1.0, sig, out=sig)
    return out, sig

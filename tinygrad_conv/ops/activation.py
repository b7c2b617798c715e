"""Activations as registered ops: relu, leaky_relu, elu, gelu, silu, softplus, hardtanh, relu6, dropout.

PyTorch's conventions at the kinks (pinned against PyTorch 2.13 in tests/test_activation.py):

* relu'(0) = 0; hardtanh and relu6 pass no gradient at either bound; leaky_relu'(0) is the slope;
  elu'(0) = alpha.
* NaN propagates through every forward. At NaN, relu passes the gradient and leaky_relu passes
  it times the slope (as PyTorch, always); hardtanh and relu6 pass nothing and elu gives NaN, as
  PyTorch's vectorised CPU kernels do (its scalar tail loop, used for the last few elements of an
  array, passes the gradient instead: PyTorch itself is not consistent there).

Each backward is written with registered ops: masks are constants, so every op can be
differentiated again where the maths allows (the piecewise-linear ones have a zero second
derivative).

Dropout draws its mask from a NumPy generator: the ``generator`` argument, or a module-level
default that :func:`manual_seed` re-seeds.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..autograd.function import Context, Function
from ..autograd.grad_mode import is_grad_enabled
from ..kernels import activation as smooth
from ..kernels import elementwise as kernels
from ..kernels import pick
from ..kernels.special import erfc as _erfc
from ..random import default_generator
from ..random import manual_seed as manual_seed  # re-exported: dropout masks follow it
from ..tensor import Tensor
from .elementwise import clamp, exp, sigmoid, tanh, where
from .registry import Sample, register
from .samples import away_from_zero, randn, unary


def _const(a: np.ndarray) -> Tensor:
    """A constant Tensor around an array (no copy, no gradient)."""
    return Tensor._wrap(a)


def _check_tensor(x: Any, op: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor as input, got {type(x).__name__}")


def _check_float(x: Any, op: str) -> None:
    _check_tensor(x, op)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, got dtype {x.dtype}; convert it "
                        "with .float() or .double()")


def _check_real(x: Any, op: str) -> None:
    """Float or integer input, as PyTorch's clamping activations take (integers are clipped in their
    own dtype, and take no gradient); bool is refused with PyTorch's message."""
    _check_tensor(x, op)
    if x.dtype.kind == "b":
        raise RuntimeError(f"{op}: Bool inputs not supported for {op} (input of shape {x.shape}); convert it "
                           "with .float() or .int()")
    if x.dtype.kind not in "fiu":
        raise TypeError(f"{op}: expected a real (floating-point or integer) input, got dtype {x.dtype}")


def _inplace_input(input: Tensor, inplace: bool) -> Tensor:
    """What an op with ``inplace=True`` reads: a clone of a tracked input, so that what the op saves
    for backward is not the tensor about to be overwritten (PyTorch's in-place kernels save their
    result instead; computing out of place, the clone is how we keep the saved input intact)."""
    if inplace and input.requires_grad and is_grad_enabled():
        return input.clone()
    return input


def _maybe_inplace(input: Tensor, out: Tensor, inplace: bool) -> Tensor:
    """``out``, or with ``inplace=True`` ``input`` overwritten with it (PyTorch's ``inplace=``).

    The result is computed out of place and copied back through ``Tensor.copy_``, which records
    the copy on the tape (or writes the array directly under no_grad), bumps the version counter
    and refuses a leaf that requires grad, as PyTorch's in-place activations do. It saves no
    memory; it gives PyTorch's semantics: the input tensor holds the result afterwards.
    """
    if not inplace:
        return out
    return input.copy_(out)


# ----------------------------------------------------------------------------------------------
# relu and the piecewise-linear family


class MaskedGrad(Function):
    """g where a constant mask is nonzero, else 0: the backward of relu and hardtanh.

    The mask is a boolean array, or relu's output itself (nonzero where x > 0, and at NaN). A
    select, as PyTorch's threshold_backward: 0 where the mask is false even if g is inf or NaN
    there. Linear in g with a constant mask, so its own backward is itself.
    """

    name = "masked_grad"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, g: Any, mask: Any) -> Any:
        ctx.save_for_backward(mask)
        return pick(kernels).masked(g, mask)

    @staticmethod
    def backward(ctx: Context, gg: Tensor) -> Any:
        (mask,) = ctx.saved_tensors
        return MaskedGrad.apply(gg, mask), None


def masked_grad(g: Tensor, mask: Tensor) -> Tensor:
    """g where the boolean ``mask`` is true, else 0 (the mask takes no gradient).

    >>> import numpy as np, tinygrad_conv as tc
    >>> masked_grad(tc.Tensor([1.0, 2.0]), tc.Tensor(np.array([True, False]))).tolist()
    [1.0, 0.0]
    """
    return MaskedGrad.apply(g, mask)


class Relu(Function):
    """max(x, 0); the gradient passes where x > 0 (0 at 0, as PyTorch), and at NaN."""

    name = "relu"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, x: Any) -> Any:
        out = pick(kernels).relu(x)
        # The output, not the input or a mask: it is alive anyway (the next layer's input), so
        # this costs no memory, and an in-place change to it is caught at backward. (A one-byte
        # mask kept instead makes the backward one pass; through the op it gained about the 10% a
        # trick must, for a byte an element kept alive and without that check:
        # benchmarks/experiments/relu_mask.py, benchmarks/RESULTS.md.)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        (out,) = ctx.saved_tensors
        # The output is the mask: "out != 0" is x > 0, and also true at NaN, where PyTorch passes
        # the gradient. No bool array is made (the kernel compares a block at a time), and the
        # detached output keeps its version counter, so a double backward after an in-place
        # change to it raises, as PyTorch's does.
        return MaskedGrad.apply(g, out.detach())


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(input, 0) elementwise, as ``torch.nn.functional.relu``.

    >>> import tinygrad_conv as tc
    >>> x = tc.Tensor([-1.0, 0.0, 2.0], requires_grad=True)
    >>> y = relu(x)
    >>> y.backward(tc.Tensor([1.0, 1.0, 1.0]))
    >>> y.tolist(), x.grad.tolist()
    ([0.0, 0.0, 2.0], [0.0, 0.0, 1.0])
    """
    source = input  # the op saves a mask or its output, not the input: no clone needed
    return _maybe_inplace(input, Relu.apply(source), inplace)


class LeakyRelu(Function):
    """x where x > 0, else negative_slope * x; the gradient at 0 is the slope (as PyTorch)."""

    name = "leaky_relu"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, x: Any, negative_slope: float) -> Any:
        # factor = 1 where x > 0, else the slope (NaN too, so NaN * slope stays NaN and its
        # gradient is the slope, as PyTorch): the np.where below. For float16/32/64 the same select
        # runs on the bits, several times faster than np.where's branch on every element; other
        # floats (long double) have no integer view of their width, so they take the np.where.
        if not ctx.needs_input_grad[0]:
            # No backward: max(x, slope x) (or min), two passes and no factor array.
            return smooth.leaky_relu(x, negative_slope)
        if x.dtype.kind == "f" and x.dtype.itemsize in (2, 4, 8):
            factor = smooth.leaky_relu_factor(x, negative_slope)
        else:
            factor = np.where(np.greater(x, 0), np.ones((), x.dtype), np.asarray(negative_slope, x.dtype))
        ctx.factor = factor
        return x * factor

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        return g * _const(ctx.factor)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """input where input > 0, else negative_slope * input, as ``torch.nn.functional.leaky_relu``.

    >>> import tinygrad_conv as tc
    >>> leaky_relu(tc.Tensor([-2.0, 3.0]), 0.1).tolist()
    [-0.20000000298023224, 3.0]
    """
    _check_float(input, "leaky_relu")
    source = input  # the op saves a mask or its output, not the input: no clone needed
    return _maybe_inplace(input, LeakyRelu.apply(source, negative_slope=float(negative_slope)), inplace)


class Hardtanh(Function):
    """Clip to [min_val, max_val]; no gradient at or beyond either bound (as PyTorch)."""

    name = "hardtanh"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, x: Any, min_val: float, max_val: float) -> Any:
        if ctx.needs_input_grad[0]:
            inside = np.asarray(np.greater(x, min_val))  # strictly inside: NaN is not
            inside &= np.less(x, max_val)
            ctx.inside = inside
        return np.clip(x, min_val, max_val).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        return MaskedGrad.apply(g, _const(ctx.inside))


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """Clip to [min_val, max_val], as ``torch.nn.functional.hardtanh``.

    >>> import tinygrad_conv as tc
    >>> hardtanh(tc.Tensor([-3.0, 0.5, 3.0])).tolist()
    [-1.0, 0.5, 1.0]
    """
    _check_real(input, "hardtanh")
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val cannot be greater than max_val, got min_val={min_val}, "
                         f"max_val={max_val}")
    if input.dtype.kind == "u" and min(min_val, max_val) < 0:
        raise RuntimeError(f"hardtanh: cannot do hardtanh on an unsigned type with negative limits (input "
                           f"{input.dtype}, min_val={min_val}, max_val={max_val})")
    source = input  # the op saves a mask or its output, not the input: no clone needed
    return _maybe_inplace(input, Hardtanh.apply(source, min_val=float(min_val), max_val=float(max_val)), inplace)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(input, 0), 6), as ``torch.nn.functional.relu6`` (hardtanh(input, 0, 6)).

    The gradient is 0 at 0 and at 6.

    >>> import tinygrad_conv as tc
    >>> relu6(tc.Tensor([-1.0, 3.0, 7.0])).tolist()
    [0.0, 3.0, 6.0]
    """
    _check_real(input, "relu6")
    source = input  # the op saves a mask or its output, not the input: no clone needed
    return _maybe_inplace(input, Hardtanh.apply(source, min_val=0.0, max_val=6.0), inplace)


class Elu(Function):
    """scale * x where x > 0, else scale * alpha * (exp(input_scale * x) - 1): PyTorch's elu kernel,
    which elu (scale 1), selu (its constants) and celu (input_scale 1 / alpha) share, so each is one
    op with one output array. The gradient at 0 is the exp side's (alpha for elu, 1 for celu)."""

    name = "elu"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, x: Any, alpha: float, scale: float = 1.0, input_scale: float = 1.0) -> Any:
        if ctx.needs_input_grad[0]:
            ctx.alpha, ctx.scale, ctx.input_scale = alpha, scale, input_scale
            ctx.save_for_backward(x)
        return smooth.elu(x, alpha, scale, input_scale)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        (x,) = ctx.saved_tensors
        return EluBackward.apply(g, x, alpha=ctx.alpha, scale=ctx.scale, input_scale=ctx.input_scale)


class EluBackward(Function):
    """g * elu'(x): g * scale where x > 0, else g * scale * alpha * input_scale * exp(input_scale * x)
    (that at 0; NaN at NaN, as PyTorch's vectorised CPU loop gives; its scalar loop for an array's
    last few elements passes g instead, so PyTorch itself is not consistent there).

    One array pass instead of a select over a random mask (which branches on every element); its
    own backward is written with registered ops.
    """

    name = "elu_backward"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, g: Any, x: Any, alpha: float = 1.0, scale: float = 1.0, input_scale: float = 1.0) -> Any:
        ctx.save_for_backward(g, x)
        ctx.alpha, ctx.scale, ctx.input_scale = alpha, scale, input_scale
        return smooth.elu_grad(g, x, alpha, scale, input_scale)

    @staticmethod
    def backward(ctx: Context, gg: Tensor) -> Any:
        g, x = ctx.saved_tensors
        alpha, scale, k = ctx.alpha, ctx.scale, ctx.input_scale
        d_g = EluBackward.apply(gg, x, alpha=alpha, scale=scale, input_scale=k) if ctx.needs_input_grad[0] else None
        d_x = None
        if ctx.needs_input_grad[1]:
            # d/dx (g * scale * alpha * k * exp(k x)) on the exp side, 0 on the linear side; x is
            # clamped to <= 0 so that the branch not taken never holds inf (inf * 0 would give NaN).
            neg = _const(np.logical_not(np.greater(x._data, 0)))
            exp_side = exp(clamp(x, max=0.0) * k) if k != 1.0 else exp(clamp(x, max=0.0))
            d_x = where(neg, gg * g * exp_side * (scale * alpha * k * k), 0.0)
        return d_g, d_x


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """input where input > 0, else alpha * (exp(input) - 1), as ``torch.nn.functional.elu``.

    >>> import tinygrad_conv as tc
    >>> [round(v, 4) for v in elu(tc.Tensor([-1.0, 2.0])).tolist()]
    [-0.6321, 2.0]
    """
    _check_float(input, "elu")
    source = _inplace_input(input, inplace)
    return _maybe_inplace(input, Elu.apply(source, alpha=float(alpha)), inplace)


# ----------------------------------------------------------------------------------------------
# gelu: exact (with the erfc of kernels/special.py, NumPy has none) and tanh approximation

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TANH_C = math.sqrt(2.0 / math.pi)
_TANH_K = 0.044715


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """Phi(x) = erfc(-x / sqrt 2) / 2 in float64."""
    return 0.5 * _erfc(-np.asarray(x, dtype=np.float64) * _SQRT_HALF)


def _normal_pdf(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-0.5 * x * x) * _INV_SQRT_2PI


class Gelu(Function):
    """x * Phi(x) (Phi the standard normal CDF), or its tanh approximation."""

    name = "gelu"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, x: Any, approximate: str) -> Any:
        if ctx.needs_input_grad[0]:
            ctx.approximate = approximate
            ctx.save_for_backward(x)
        if approximate == "tanh":
            return smooth.gelu_tanh(x)
        if x.dtype == np.float32:
            # A float32-accurate erfc in float32 passes, many times faster than the float64 erfc
            # below, whose extra digits float32 cannot hold (timings: benchmarks/RESULTS.md).
            return smooth.gelu_f32(x)
        return (x * _normal_cdf(x)).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        (x,) = ctx.saved_tensors
        if ctx.approximate == "none":
            return GeluBackward.apply(g, x)
        # d/dx 0.5 x (1 + tanh(u)) = 0.5 (1 + t) + 0.5 x (1 - t^2) u', t = tanh(u). A first-order
        # backward (grad mode off in the rule) takes the one-array kernel; under create_graph the
        # same formula is written with registered ops, so it differentiates again.
        if not is_grad_enabled():
            return Tensor._wrap(smooth.gelu_tanh_grad(g._data, x._data))
        t = tanh((x + x * x * x * _TANH_K) * _TANH_C)
        du = (x * x * (3.0 * _TANH_K) + 1.0) * _TANH_C
        return g * ((t + 1.0) * 0.5 + x * (1.0 - t * t) * du * 0.5)


class GeluBackward(Function):
    """g * gelu'(x) = g * (Phi(x) + x phi(x)); its own backward uses gelu''(x) = phi(x) (2 - x^2)."""

    name = "gelu_backward"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, g: Any, x: Any) -> Any:
        ctx.save_for_backward(g, x)
        if g.dtype == np.float32 and x.dtype == np.float32:
            return smooth.gelu_grad_f32(g, x)
        slope = _normal_cdf(x) + x * _normal_pdf(x)
        return (g * slope).astype(np.result_type(g, x), copy=False)

    @staticmethod
    def backward(ctx: Context, gg: Tensor) -> Any:
        g, x = ctx.saved_tensors
        d_g = GeluBackward.apply(gg, x) if ctx.needs_input_grad[0] else None
        d_x = None
        if ctx.needs_input_grad[1]:
            pdf = exp(x * x * -0.5) * _INV_SQRT_2PI
            d_x = gg * g * pdf * (2.0 - x * x)
        return d_g, d_x


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit, as ``torch.nn.functional.gelu``.

    ``approximate='none'``: input * Phi(input) with the exact normal CDF; ``'tanh'``:
    0.5 * input * (1 + tanh(sqrt(2/pi) * (input + 0.044715 * input^3))).

    >>> import tinygrad_conv as tc
    >>> [round(v, 4) for v in gelu(tc.Tensor([-1.0, 1.0])).tolist()]
    [-0.1587, 0.8413]
    >>> [round(v, 4) for v in gelu(tc.Tensor([-1.0, 1.0]), approximate="tanh").tolist()]
    [-0.1588, 0.8412]
    """
    _check_float(input, "gelu")
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(input, approximate=approximate)


# ----------------------------------------------------------------------------------------------
# silu, softplus


class Silu(Function):
    """x * sigmoid(x); backward: sigmoid(x) * (1 + x * (1 - sigmoid(x))), with the sigmoid kept from
    the forward."""

    name = "silu"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, x: Any) -> Any:
        if not ctx.needs_input_grad[0]:
            return smooth.silu(x)
        ctx.save_for_backward(x)
        out, ctx.sig = smooth.silu_and_sigmoid(x)
        return out

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        (x,) = ctx.saved_tensors
        return SiluBackward.apply(g, x, _const(ctx.sig))


class SiluBackward(Function):
    """g * silu'(x) = g * s * (1 + x * (1 - s)), s = sigmoid(x), in one array chain (the same
    expression in Tensor ops made five full-size temporaries); its own backward uses
    silu''(x) = s (1 - s) (2 + x (1 - 2 s)), written with registered ops.

    ``sig`` (optional, a constant): sigmoid(x) from silu's forward, so it is not computed again.
    """

    name = "silu_backward"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, g: Any, x: Any, sig: Any = None) -> Any:
        ctx.save_for_backward(g, x)
        ctx.sig = sig
        return smooth.silu_grad(g, x, sig)

    @staticmethod
    def backward(ctx: Context, gg: Tensor) -> Any:
        g, x = ctx.saved_tensors
        sig = None if ctx.sig is None else _const(ctx.sig)
        d_g = SiluBackward.apply(gg, x, sig) if ctx.needs_input_grad[0] else None
        d_x = None
        if ctx.needs_input_grad[1]:
            s = sigmoid(x)
            d_x = gg * g * s * (1.0 - s) * (x * (1.0 - s * 2.0) + 2.0)
        return (d_g, d_x, None)[:len(ctx.needs_input_grad)]  # none for sig, when it was passed


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """input * sigmoid(input), as ``torch.nn.functional.silu``.

    >>> import tinygrad_conv as tc
    >>> [round(v, 4) for v in silu(tc.Tensor([-1.0, 2.0])).tolist()]
    [-0.2689, 1.7616]
    """
    _check_float(input, "silu")
    source = _inplace_input(input, inplace)
    return _maybe_inplace(input, Silu.apply(source), inplace)


class Softplus(Function):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (as PyTorch)."""

    name = "softplus"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, x: Any, beta: float, threshold: float) -> Any:
        if ctx.needs_input_grad[0]:
            ctx.beta, ctx.threshold = beta, threshold
            ctx.save_for_backward(x)
        return smooth.softplus(x, beta, threshold)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        (x,) = ctx.saved_tensors
        return SoftplusBackward.apply(g, x, beta=ctx.beta, threshold=ctx.threshold)


class SoftplusBackward(Function):
    """g * sigmoid(beta x), and g itself where beta x > threshold (softplus' linear region)."""

    name = "softplus_backward"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, g: Any, x: Any, beta: float = 1.0, threshold: float = 20.0) -> Any:
        ctx.save_for_backward(g, x)
        ctx.beta, ctx.threshold = beta, threshold
        return smooth.softplus_grad(g, x, beta, threshold)

    @staticmethod
    def backward(ctx: Context, gg: Tensor) -> Any:
        g, x = ctx.saved_tensors
        beta, threshold = ctx.beta, ctx.threshold
        d_g = SoftplusBackward.apply(gg, x, beta=beta, threshold=threshold) if ctx.needs_input_grad[0] else None
        d_x = None
        if ctx.needs_input_grad[1]:
            s = sigmoid(x * beta)
            linear = _const(np.asarray(x._data * beta > threshold))
            d_x = where(linear, 0.0, gg * g * s * (1.0 - s) * beta)
        return d_g, d_x


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """A smooth relu: log(1 + exp(beta * input)) / beta, as ``torch.nn.functional.softplus``.

    Where beta * input > threshold it returns input itself (and passes the gradient unchanged).

    >>> import tinygrad_conv as tc
    >>> [round(v, 4) for v in softplus(tc.Tensor([0.0, 30.0])).tolist()]
    [0.6931, 30.0]
    """
    _check_float(input, "softplus")
    if beta == 0:
        raise ValueError("softplus: beta must not be zero (the output divides by it)")
    return Softplus.apply(input, beta=float(beta), threshold=float(threshold))


# ----------------------------------------------------------------------------------------------
# dropout

class Dropout(Function):
    """x * mask, where mask holds 0 or 1 / (1 - p); the mask is a constant for every order."""

    name = "dropout"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, x: Any, mask: Any) -> Any:
        if ctx.needs_input_grad[0]:
            ctx.mask = mask
        return x * mask

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        return g * _const(ctx.mask), None


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False, *,
            generator: np.random.Generator | None = None) -> Tensor:
    """Zero each element with probability p and scale the rest by 1 / (1 - p), as
    ``torch.nn.functional.dropout``; the identity when ``training`` is False or p is 0.

    The mask comes from ``generator`` (a ``numpy.random.Generator``) or the default one, which
    :func:`manual_seed` re-seeds.

    >>> import numpy as np, tinygrad_conv as tc
    >>> y = dropout(tc.ones(1000), p=0.25, generator=np.random.default_rng(0))
    >>> sorted(set(y.tolist())), round(float((y.numpy() == 0).mean()), 1)
    ([0.0, 1.3333333730697632], 0.2)
    """
    _check_float(input, "dropout")
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)) \
            or not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"dropout: p is the probability of zeroing an element and must be between "
                         f"0 and 1, got p={p!r}")
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise TypeError(f"dropout: generator must be a numpy.random.Generator (np.random.default_rng"
                        f"(seed)), got {type(generator).__name__}")
    p = float(p)
    if not training or p == 0.0:
        return input
    rng = generator if generator is not None else default_generator()
    if p == 1.0:
        mask = np.zeros(input.shape, dtype=input.dtype)
    else:
        # float32 draws are half the work of float64 ones; P(u >= p) = 1 - p either way.
        keep = rng.random(input.shape, dtype=np.float32) >= np.float32(p)
        mask = keep.astype(input.dtype)
        mask *= input.dtype.type(1.0 / (1.0 - p))
    source = input  # the op saves a mask or its output, not the input: no clone needed
    return _maybe_inplace(input, Dropout.apply(source, _const(mask)), inplace)


# ----------------------------------------------------------------------------------------------
# registration: samples keep gradcheck away from the kinks (PyTorch parity covers the kinks in
# tests/test_activation.py)


def _scaled(scale: float) -> Any:
    def make(rng: np.random.Generator, dtype: Any, *shape: int) -> np.ndarray:
        return np.asarray(away_from_zero(rng, dtype, *shape) * scale, dtype=dtype)
    return make


def _kwarg_samples(make: Any, *kwargs: dict[str, Any]) -> Any:
    def samples(rng: np.random.Generator, dtype: Any) -> Any:
        yield from unary(make)(rng, dtype)
        for kw in kwargs:
            yield Sample((make(rng, dtype, 2, 3, 4),), dict(kw), name=str(kw))
    return samples


def _away_from(points: tuple[float, ...], scale: float) -> Any:
    """Samples spread over [-scale, scale] but at least 0.05 from each kink."""
    def make(rng: np.random.Generator, dtype: Any, *shape: int) -> np.ndarray:
        v = rng.uniform(-scale, scale, shape)
        for k in points:
            close = np.abs(v - k) < 0.05
            v = np.where(close, k + np.where(v >= k, 0.05, -0.05), v)
        return np.asarray(v, dtype=dtype)
    return make


register("relu", samples=unary(away_from_zero), nondifferentiable_points=True,
         reference=lambda torch, x: torch.nn.functional.relu(x), nodes=(Relu, MaskedGrad))(relu)


def _masked_grad_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 3, 4), rng.random((3, 4)) < 0.5), name="matrix")
    yield Sample((randn(rng, dtype, 2, 3, 2), rng.random((2, 3, 2)) < 0.5), name="3d")


register("masked_grad", method=False, functional=False, samples=_masked_grad_samples, nodes=(MaskedGrad,),
         reference=lambda torch, g, mask: g * mask)(masked_grad)
register("leaky_relu", samples=_kwarg_samples(away_from_zero, {"negative_slope": 0.2},
                                              {"negative_slope": -1.5}),
         nondifferentiable_points=True, nodes=(LeakyRelu,),
         reference=lambda torch, x, negative_slope=0.01:
         torch.nn.functional.leaky_relu(x, negative_slope))(leaky_relu)
register("hardtanh", samples=_kwarg_samples(_away_from((-1.0, 1.0), 2.0),
                                            {"min_val": -0.5, "max_val": 1.5}),
         nondifferentiable_points=True, nodes=(Hardtanh, MaskedGrad),
         reference=lambda torch, x, min_val=-1.0, max_val=1.0:
         torch.nn.functional.hardtanh(x, min_val, max_val))(hardtanh)
register("relu6", samples=unary(_away_from((0.0, 6.0), 8.0)), nondifferentiable_points=True,
         nodes=(Hardtanh, MaskedGrad), reference=lambda torch, x: torch.nn.functional.relu6(x))(relu6)
register("elu", samples=_kwarg_samples(away_from_zero, {"alpha": 0.5}, {"alpha": 2.0}),
         nondifferentiable_points=True, nodes=(Elu,),
         reference=lambda torch, x, alpha=1.0: torch.nn.functional.elu(x, alpha))(elu)
register("gelu", samples=_kwarg_samples(_scaled(3.0), {"approximate": "tanh"}),
         nodes=(Gelu, GeluBackward),
         reference=lambda torch, x, approximate="none":
         torch.nn.functional.gelu(x, approximate=approximate))(gelu)
register("silu", samples=unary(_scaled(3.0)), nodes=(Silu,),
         reference=lambda torch, x: torch.nn.functional.silu(x))(silu)
register("softplus", samples=_kwarg_samples(_scaled(3.0), {"beta": 2.0, "threshold": 3.0},
                                            {"beta": 0.5}),
         nodes=(Softplus,),
         reference=lambda torch, x, beta=1.0, threshold=20.0:
         torch.nn.functional.softplus(x, beta, threshold))(softplus)


def _gelu_backward_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 3, 4), np.asarray(randn(rng, dtype, 3, 4) * 3, dtype=dtype)),
                 name="matrix")
    yield Sample((randn(rng, dtype, 2, 3), np.asarray(randn(rng, dtype, 2, 3) * 8, dtype=dtype)),
                 name="tails")


register("gelu_backward", method=False, functional=False, samples=_gelu_backward_samples,
         reference=lambda torch, g, x: torch.ops.aten.gelu_backward(g, x))(GeluBackward)


def _dropout_samples(rng: np.random.Generator, dtype: Any) -> Any:
    # Only the deterministic settings: a random mask cannot match PyTorch's, and each call would
    # draw a new one under finite differences. tests/test_activation.py checks the random path.
    yield Sample((randn(rng, dtype, 3, 4),), {"p": 0.0}, name="p=0")
    yield Sample((randn(rng, dtype, 3, 4),), {"p": 0.7, "training": False}, name="eval")
    yield Sample((randn(rng, dtype, 3, 4),), {"p": 1.0}, name="p=1")


register("dropout", samples=_dropout_samples, nodes=(Dropout,),
         reference=lambda torch, x, p=0.5, training=True:
         torch.nn.functional.dropout(x, p, training))(dropout)


# ----------------------------------------------------------------------------------------------
# selu, celu, mish, hardswish, hardsigmoid, prelu, logsigmoid, softsign, glu (issue 15)

# SELU's constants, as PyTorch writes them (Klambauer et al. 2017).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(input, alpha) with SELU's fixed alpha and scale, as ``torch.nn.functional.selu``.

    >>> import tinygrad_conv as tc
    >>> [round(v, 4) for v in selu(tc.Tensor([-1.0, 1.0])).tolist()]
    [-1.1113, 1.0507]
    """
    _check_float(input, "selu")
    source = _inplace_input(input, inplace)
    return _maybe_inplace(input, Elu.apply(source, alpha=SELU_ALPHA, scale=SELU_SCALE), inplace)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)), as ``torch.nn.functional.celu``.

    PyTorch's elu kernel with input_scale 1 / alpha, so the gradient at 0 is 1 (as PyTorch).

    >>> import tinygrad_conv as tc
    >>> [round(v, 4) for v in celu(tc.Tensor([-1.0, 2.0]), alpha=2.0).tolist()]
    [-0.7869, 2.0]
    """
    _check_float(input, "celu")
    alpha = float(alpha)
    if alpha == 0.0:
        raise ValueError("celu: alpha cannot be 0 (the input is divided by it)")
    source = _inplace_input(input, inplace)
    if alpha > 0:
        out = Elu.apply(source, alpha=alpha, input_scale=1.0 / alpha)
    else:
        # PyTorch picks the branch by the sign of x itself (elu with input_scale 1 / alpha); with a
        # negative alpha, x / alpha flips the sign, so the branches are written out.
        out = relu(source) + (exp(clamp(source, max=0.0) / alpha) - 1.0) * alpha
    return _maybe_inplace(input, out, inplace)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """input * tanh(softplus(input)), as ``torch.nn.functional.mish``.

    >>> import tinygrad_conv as tc
    >>> [round(v, 4) for v in mish(tc.Tensor([-1.0, 1.0])).tolist()]
    [-0.3034, 0.8651]
    """
    _check_float(input, "mish")
    source = _inplace_input(input, inplace)
    return _maybe_inplace(input, source * tanh(Softplus.apply(source, beta=1.0, threshold=20.0)), inplace)


class Hardswish(Function):
    """x * relu6(x + 3) / 6. PyTorch's slope: 0 up to -3, x / 3 + 0.5 between, 1 from 3 up."""

    name = "hardswish"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, x: Any) -> Any:
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(x)
        return smooth.hardswish(x)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        (x,) = ctx.saved_tensors
        return HardswishBackward.apply(g, x)


class HardswishBackward(Function):
    """g * hardswish'(x) in one blocked pass; its own backward is written with registered ops."""

    name = "hardswish_backward"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, g: Any, x: Any) -> Any:
        ctx.save_for_backward(g, x)
        return smooth.hardswish_grad(g, x)

    @staticmethod
    def backward(ctx: Context, gg: Tensor) -> Any:
        g, x = ctx.saved_tensors
        d_g = HardswishBackward.apply(gg, x) if ctx.needs_input_grad[0] else None
        d_x = None
        if ctx.needs_input_grad[1]:
            # the slope's own slope: 1/3 strictly inside (-3, 3), 0 elsewhere (a constant mask)
            middle = np.greater(x._data, -3.0)
            middle &= np.less(x._data, 3.0)
            d_x = gg * g * _const(np.multiply(middle, 1.0 / 3.0, dtype=x.dtype))
        return d_g, d_x


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """input * relu6(input + 3) / 6, as ``torch.nn.functional.hardswish``.

    >>> import tinygrad_conv as tc
    >>> hardswish(tc.Tensor([-4.0, 0.0, 1.5, 4.0])).tolist()
    [-0.0, 0.0, 1.125, 4.0]
    """
    _check_float(input, "hardswish")
    source = _inplace_input(input, inplace)
    return _maybe_inplace(input, Hardswish.apply(source), inplace)


# PyTorch's hardsigmoid backward multiplies by 1/6 rounded to float32, in every dtype (its forward
# divides by 6 exactly); we do the same so that float64 gradients agree to the last bit.
_ONE_SIXTH = float(np.float32(1.0 / 6.0))


class Hardsigmoid(Function):
    """relu6(x + 3) / 6; the gradient is g / 6 strictly inside (-3, 3), else 0 (as PyTorch)."""

    name = "hardsigmoid"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, x: Any) -> Any:
        if ctx.needs_input_grad[0]:
            inside = np.asarray(np.greater(x, -3.0))
            inside &= np.less(x, 3.0)
            ctx.inside = inside
        out = np.empty(x.shape, dtype=x.dtype)  # one output array, the clip and the divide in place
        np.add(x, 3.0, out=out)
        np.clip(out, 0.0, 6.0, out=out)
        out /= 6.0
        return out

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        return MaskedGrad.apply(g, _const(ctx.inside)) * _ONE_SIXTH


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """relu6(input + 3) / 6, as ``torch.nn.functional.hardsigmoid``; no gradient at or beyond +-3.

    >>> import tinygrad_conv as tc
    >>> hardsigmoid(tc.Tensor([-4.0, 0.0, 1.5, 4.0])).tolist()
    [0.0, 0.5, 0.75, 1.0]
    """
    _check_float(input, "hardsigmoid")
    return _maybe_inplace(input, Hardsigmoid.apply(input), inplace)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """input where input > 0, else weight * input, as ``torch.nn.functional.prelu``.

    ``weight`` holds one slope, or one per channel (dim 1 of ``input``); both get gradients. At 0
    the input's gradient is the slope, as PyTorch's.

    >>> import tinygrad_conv as tc
    >>> prelu(tc.Tensor([[-2.0, 3.0]]), tc.Tensor([0.25])).tolist()
    [[-0.5, 3.0]]
    """
    _check_float(input, "prelu")
    if not isinstance(weight, Tensor):
        raise TypeError(f"prelu: weight must be a Tensor, got {type(weight).__name__}")
    if weight.ndim > 1:
        raise ValueError(f"prelu: weight must be a scalar or a 1-d tensor (one slope per channel), got "
                         f"shape {weight.shape}")
    if weight.dtype != input.dtype:
        raise RuntimeError(f"prelu: Type promoting not supported: input is {input.dtype} and weight "
                           f"{weight.dtype}; convert the weight with .to({input.dtype})")
    n = weight.numel()
    # As PyTorch: the channels are dim 1; an input of fewer than 2 dims has one channel.
    channels = input.shape[1] if input.ndim >= 2 else 1
    if n != 1 and n != channels:
        raise ValueError(f"prelu: weight has {n} slopes but the input of shape {input.shape} has {channels} "
                         "channel(s) (dim 1; 1 for inputs of fewer than 2 dims); give 1 slope or one per "
                         "channel")
    w = weight.reshape(()) if n == 1 else weight
    if n != 1 and input.ndim >= 2:
        w = w.reshape((n,) + (1,) * (input.ndim - 2))
    if not (is_grad_enabled() and (input.requires_grad or weight.requires_grad)) and weight.dtype == input.dtype:
        # Nothing to record: one fused kernel (max(x, w x), two passes) instead of the masks below.
        return Tensor._wrap(smooth.prelu(input._data, w._data))
    # factor = 1 where x > 0, else the slope: a product with constant masks, no select.
    pos = _const(np.greater(input._data, 0).astype(input.dtype))
    return input * (pos + w * (1.0 - pos))


class LogSigmoid(Function):
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)); backward: g * sigmoid(-x)."""

    name = "logsigmoid"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, x: Any) -> Any:
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(x)
        return smooth.log_sigmoid(x)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        (x,) = ctx.saved_tensors
        if not is_grad_enabled():
            # First order: g / (1 + exp(x)) in one array; under create_graph, registered ops.
            return Tensor._wrap(smooth.log_sigmoid_grad(g._data, x._data))
        return g * sigmoid(-x)


def logsigmoid(input: Tensor) -> Tensor:
    """log(1 / (1 + exp(-input))), stable for any input, as ``torch.nn.functional.logsigmoid``.

    >>> import tinygrad_conv as tc
    >>> [round(v, 4) for v in logsigmoid(tc.Tensor([-200.0, 0.0, 30.0])).tolist()]
    [-200.0, -0.6931, -0.0]
    """
    _check_float(input, "logsigmoid")
    return LogSigmoid.apply(input)


def softsign(input: Tensor) -> Tensor:
    """input / (1 + |input|), as ``torch.nn.functional.softsign``.

    >>> import tinygrad_conv as tc
    >>> softsign(tc.Tensor([-3.0, 1.0])).tolist()
    [-0.75, 0.5]
    """
    _check_float(input, "softsign")
    return input / (input.abs() + 1.0)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """a * sigmoid(b), where a and b are the two halves of ``input`` along ``dim``, as
    ``torch.nn.functional.glu``.

    >>> import tinygrad_conv as tc
    >>> glu(tc.Tensor([[2.0, 0.0]])).tolist()
    [[1.0]]
    """
    _check_float(input, "glu")
    if input.ndim == 0:
        raise ValueError("glu: does not support 0-d (scalar) inputs: the halving dimension must have an "
                         "even size")
    if not -input.ndim <= dim < input.ndim:
        raise IndexError(f"glu: dim {dim} is out of range for an input with {input.ndim} dims "
                         f"(shape {input.shape})")
    d = dim % input.ndim
    size = input.shape[d]
    if size % 2:
        raise ValueError(f"glu: the halving dimension must be even, but dim {dim} of shape {input.shape} "
                         f"has size {size}")
    return Glu.apply(input, dim=d)


class Glu(Function):
    """a * sigmoid(b) for the halves a, b of x along ``dim``, as one op: sigmoid(b) is computed once
    and kept for backward, and the input gradient is written into one array, instead of two
    slice-backward scatters into zeros and their sum (benchmarks/RESULTS.md, Activations, has the timings).

    The first-order gradient uses the kept sigmoid; under ``create_graph`` (grad mode on in the
    rule) the same formula is built from registered ops, so glu differentiates again.
    """

    name = "glu"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, x: Any, dim: int) -> Any:
        half = x.shape[dim] // 2
        lead = (slice(None),) * dim
        a, b = x[lead + (slice(0, half),)], x[lead + (slice(half, None),)]
        s = smooth.sigmoid(b)
        out = np.multiply(a, s, dtype=x.dtype)
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(x)
            ctx.dim, ctx.sig = dim, s
        return out

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        (x,) = ctx.saved_tensors
        d, s = ctx.dim, ctx.sig
        half = x.shape[d] // 2
        lead = (slice(None),) * d
        first, second = lead + (slice(0, half),), lead + (slice(half, None),)
        if is_grad_enabled():
            from .shape import cat

            a, sb = x[first], sigmoid(x[second])
            return cat([g * sb, g * a * sb * (1.0 - sb)], d)
        ga, xa = g._data, x._data[first]
        dtype = np.result_type(ga, s)
        dx = np.empty(x.shape, dtype=dtype)
        da, db = dx[first], dx[second]
        np.multiply(ga, s, out=da)  # d/da = g s
        # d/db = g a s (1 - s), with the first half's g s reused: (g s) a (1 - s)
        np.subtract(1.0, s, out=db)
        db *= xa
        db *= da
        return Tensor._wrap(dx)


def _elu_backward_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 3, 4), away_from_zero(rng, dtype, 3, 4)), name="matrix")
    yield Sample((randn(rng, dtype, 2, 3), away_from_zero(rng, dtype, 2, 3)), {"alpha": 1.7}, name="alpha")


def _softplus_backward_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 3, 4), _scaled(3.0)(rng, dtype, 3, 4)), {"beta": 1.0, "threshold": 20.0},
                 name="matrix")
    yield Sample((randn(rng, dtype, 2, 3), _scaled(3.0)(rng, dtype, 2, 3)), {"beta": 2.0, "threshold": 3.0},
                 name="linear region")


register("elu_backward", method=False, functional=False, samples=_elu_backward_samples,
         nondifferentiable_points=True,
         reference=lambda torch, g, x, alpha=1.0: torch.ops.aten.elu_backward(g, alpha, 1, 1, False, x)
         )(EluBackward)
register("softplus_backward", method=False, functional=False, samples=_softplus_backward_samples,
         nondifferentiable_points=True,
         reference=lambda torch, g, x, beta=1.0, threshold=20.0: torch.ops.aten.softplus_backward(g, x, beta, threshold)
         )(SoftplusBackward)
def _hardswish_backward_samples(rng: np.random.Generator, dtype: Any) -> Any:
    make = _away_from((-3.0, 3.0), 5.0)
    yield Sample((randn(rng, dtype, 3, 4), make(rng, dtype, 3, 4)), name="matrix")
    yield Sample((randn(rng, dtype, 2, 3, 2), make(rng, dtype, 2, 3, 2)), name="3d")


register("hardswish_backward", method=False, functional=False, samples=_hardswish_backward_samples,
         nondifferentiable_points=True,
         reference=lambda torch, g, x: torch.ops.aten.hardswish_backward(g, x))(HardswishBackward)
register("silu_backward", method=False, functional=False, samples=_gelu_backward_samples,
         # aten.silu_backward has no derivative in PyTorch: the same formula in its ops instead.
         reference=lambda torch, g, x: g * torch.sigmoid(x) * (1 + x * (1 - torch.sigmoid(x))))(SiluBackward)
register("selu", method=False, samples=unary(away_from_zero), nondifferentiable_points=True, nodes=(Elu,),
         reference=lambda torch, x: torch.nn.functional.selu(x))(selu)
register("celu", method=False, samples=_kwarg_samples(away_from_zero, {"alpha": 0.5}, {"alpha": 2.0},
                                                     {"alpha": -0.7}),
         nondifferentiable_points=True, nodes=(Elu, Relu),
         reference=lambda torch, x, alpha=1.0: torch.nn.functional.celu(x, alpha))(celu)
register("mish", method=False, samples=unary(_scaled(3.0)), nodes=(Softplus,),
         reference=lambda torch, x: torch.nn.functional.mish(x))(mish)
register("hardswish", method=False, samples=unary(_away_from((-3.0, 3.0), 5.0)), nondifferentiable_points=True,
         nodes=(Hardswish,),
         reference=lambda torch, x: torch.nn.functional.hardswish(x))(hardswish)
register("hardsigmoid", method=False, samples=unary(_away_from((-3.0, 3.0), 5.0)), nondifferentiable_points=True,
         nodes=(Hardsigmoid, MaskedGrad), reference=lambda torch, x: torch.nn.functional.hardsigmoid(x))(hardsigmoid)


def _prelu_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((away_from_zero(rng, dtype, 2, 3, 4), np.asarray([0.25], dtype=dtype)), name="one slope")
    yield Sample((away_from_zero(rng, dtype, 2, 3, 2, 2), rng.uniform(-0.5, 0.5, 3).astype(dtype)),
                 name="per channel")
    yield Sample((away_from_zero(rng, dtype, 4), np.asarray(-0.3, dtype=dtype)), name="1-d input, 0-d slope")


register("prelu", samples=_prelu_samples, nondifferentiable_points=True,
         reference=lambda torch, x, w: torch.nn.functional.prelu(x, w))(prelu)
register("logsigmoid", method=False, samples=unary(_scaled(3.0)), nodes=(LogSigmoid,),
         reference=lambda torch, x: torch.nn.functional.logsigmoid(x))(logsigmoid)
register("softsign", method=False, samples=unary(away_from_zero), nondifferentiable_points=True,
         reference=lambda torch, x: torch.nn.functional.softsign(x))(softsign)


def _glu_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 3, 4),), name="last dim")
    yield Sample((randn(rng, dtype, 2, 6, 3),), {"dim": 1}, name="dim 1")
    yield Sample((randn(rng, dtype, 4, 3),), {"dim": -2}, name="dim -2")


register("glu", method=False, samples=_glu_samples, nodes=(Glu,),
         reference=lambda torch, x, dim=-1: torch.nn.functional.glu(x, dim))(glu)

"""Pooling ops: max_pool2d (with PyTorch's indices), max_unpool2d, avg_pool2d, adaptive_avg_pool2d.

Each op checks its arguments here (the array kernels in :mod:`tinygrad_conv.kernels.pool` trust
their caller), then runs its kernel. The backward rules are themselves registered ops, so every
pool can be differentiated again (``create_graph=True``):

* ``max_pool2d``: dx = ``max_pool2d_backward(dy, indices)``, a scatter-add at the saved indices
  (overlapping windows that picked the same maximum add up), whose backward is
  ``max_unpool2d_backward(ggx, indices)``, the gather at the same indices, whose backward is the
  scatter-add again;
* ``max_unpool2d``: writes each value at its index (one value per index, as PyTorch); dx =
  ``max_unpool2d_backward(dy, indices)``, the gather, as PyTorch's derivative;
* ``avg_pool2d`` and ``adaptive_avg_pool2d`` are linear: their backward ops spread dy over the
  windows, and the backward of those is the pool itself.

Only the indices are kept for max pooling's backward, never the input; they are freed after it.

Conventions (PyTorch 2.13 CPU's, pinned by tests/test_pool.py):

* Input (N, C, H, W) or unbatched (C, H, W); float32 or float64.
* Padding counts as minus infinity for max pooling and as zeros for average pooling, and may be at
  most half the kernel (``padding <= kernel_size // 2``).
* Output size: ``floor((H + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1``, or ceil
  with ``ceil_mode``, where the last window must still start inside the input or the left padding.
* Indices are int64 flat positions ``row * W + col`` in each H*W plane. Ties go to the first
  maximum in row-major scan order of the window; a NaN wins over any number, and among several
  NaNs the *last* one in scan order wins (what PyTorch's CPU kernel does).
* Where PyTorch differs, on purpose: a window that lies wholly in the padding (possible with
  dilation) gives minus infinity and index -1 (PyTorch gives an out-of-range index that corrupts
  its heap in backward); it passes no gradient, and ``max_unpool2d`` skips index -1.
* ``max_unpool2d`` with indices that repeat within a plane keeps the value that comes last in the
  plane's row-major order: PyTorch documents the choice as nondeterministic, and this is what its
  2.13 CPU kernel does. Its gradient is PyTorch's too: the gather, which hands dy[index] to every
  value at that index, the overwritten ones included (so finite differences disagree with it
  there, in PyTorch as here). max_pool2d's own backward is the separate scatter-add op.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..autograd.function import Context, Function
from ..autograd.grad_mode import is_grad_enabled
from ..kernels import pick
from ..kernels import pool as kernels
from ..tensor import Tensor
from ._args import Pair, check_input, is_int, pair
from .registry import Sample, register
from .samples import distinct, randn

IntOrPair = int | Sequence[int]

_AXES = ("height", "width")


# ----------------------------------------------------------------------------------------------
# argument checks (clear errors here, so the kernels can trust their input)


def _stride_pair(stride: Any, kernel: Pair, op: str) -> Pair:
    # None or an empty sequence means "stride = kernel_size", as in PyTorch.
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        return kernel
    return pair(stride, op, "stride", minimum=1)


def _check_padding(padding: Pair, kernel: Pair, op: str) -> None:
    """PyTorch's pooling rule for a (non-negative) padding: at most half the kernel."""
    for a in (0, 1):
        if padding[a] > kernel[a] // 2:
            raise ValueError(
                f"{op}: padding must be at most half the kernel size (padding <= kernel_size // 2), "
                f"got padding={padding} with kernel_size={kernel}: the {_AXES[a]} padding "
                f"{padding[a]} exceeds {kernel[a]} // 2 = {kernel[a] // 2}. Use a smaller padding "
                "or a larger kernel_size")


def _output_hw(op: str, shape: tuple[int, ...], kernel: Pair, stride: Pair, padding: Pair,
               dilation: Pair, ceil_mode: bool) -> Pair:
    """The output size by PyTorch's rule; a window that cannot fit is reported with the formula."""
    hw = shape[-2:]
    out = []
    for a in (0, 1):
        n = kernels.pool2d_output_size(hw[a], kernel[a], stride[a], padding[a], dilation[a], ceil_mode)
        if n <= 0:
            rounding = "ceil" if ceil_mode else "floor"
            dim = "H" if a == 0 else "W"
            settings = f"kernel_size={kernel}, stride={stride}, padding={padding}"
            if op == "max_pool2d":
                span, span_value = "dilation*(kernel_size - 1)", f"{dilation[a]}*({kernel[a]} - 1)"
                settings += f", dilation={dilation}"
                fix = "a smaller kernel_size or dilation"
            else:
                span, span_value = "(kernel_size - 1)", f"({kernel[a]} - 1)"
                fix = "a smaller kernel_size"
            raise ValueError(
                f"{op}: the pooling window is larger than the padded input along the {_AXES[a]}: "
                f"output {_AXES[a]} = {rounding}(({dim} + 2*padding - {span} - 1) / stride) + 1 = "
                f"{rounding}(({hw[a]} + 2*{padding[a]} - {span_value} - 1) / {stride[a]}) + 1 = {n}, "
                f"which must be at least 1 (input shape {shape}, {settings}). Use {fix}, more "
                "padding, or a larger input")
        out.append(n)
    return out[0], out[1]


def _batched(x: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (1, C, H, W), so the kernels see one layout."""
    return x if x.ndim == 4 else x[None]


def _unbatch_like(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    return y if x.ndim == 4 else y[0]


# ----------------------------------------------------------------------------------------------
# max pool, max unpool and the gather that closes them under differentiation


class MaxPool2d(Function):
    """Max pooling with PyTorch's indices; backward scatter-adds dy at the indices (max_pool2d_backward)."""

    name = "max_pool2d"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, x: Any, kernel_size: Pair, stride: Pair, padding: Pair, dilation: Pair,
                ceil_mode: bool, return_indices: bool) -> Any:
        out, idx = pick(kernels).max_pool2d(_batched(x), kernel_size, stride, padding, dilation, ceil_mode)
        out, idx = _unbatch_like(out, x), _unbatch_like(idx, x)
        ctx.input_hw = x.shape[-2:]
        if not return_indices:
            ctx.indices = idx
            return out
        # The caller gets these indices too: saving them as an output makes an in-place change
        # to them an error in backward instead of a silently wrong gradient.
        ctx.indices = None
        ctx.save_for_backward(idx)
        return out, idx

    @staticmethod
    def backward(ctx: Context, g: Tensor, *unused: Any) -> Any:
        idx = ctx.indices if ctx.indices is not None else ctx.saved_tensors[0]._data
        if not is_grad_enabled():
            # First order: the op's kernel called directly, as nothing records it; under
            # create_graph the registered op, so the gradient differentiates again.
            scatter = pick(kernels).max_unpool2d
            return Tensor._wrap(_unbatch_like(scatter(_batched(g._data), _batched(idx), ctx.input_hw), g._data))
        return MaxPool2dBackward.apply(g, Tensor._wrap(idx), output_size=ctx.input_hw)


class MaxPool2dBackward(Function):
    """Scatter-add g into zeros of (.., H, W) at flat plane indices (-1 skipped): max_pool2d's
    input gradient, where overlapping windows that picked the same maximum add up. Its backward is
    the gather at the same indices (max_unpool2d_backward), whose backward is this op again."""

    name = "max_pool2d_backward"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, g: Any, indices: Any, output_size: Pair) -> Any:
        ctx.save_for_backward(indices)
        # Both kernel modules name this scatter-add max_unpool2d, the textbook name of max pool's
        # backward; the public max_unpool2d op writes instead (unpool_plane).
        return _unbatch_like(pick(kernels).max_unpool2d(_batched(g), _batched(indices), output_size), g)

    @staticmethod
    def backward(ctx: Context, gg: Tensor) -> Any:
        (indices,) = ctx.saved_tensors
        return MaxUnpool2dBackward.apply(gg, indices), None


class MaxUnpool2d(Function):
    """Write x into zeros of (.., H, W) at flat plane indices, the last of repeated ones winning
    (-1 skipped), as PyTorch's CPU kernel; backward is PyTorch's: the gather at the indices."""

    name = "max_unpool2d"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, x: Any, indices: Any, output_size: Pair) -> Any:
        ctx.save_for_backward(indices)
        # Always the fast kernel: reference.py has no textbook form of this write (the last of
        # repeated indices wins), so use_reference() leaves it as it is.
        return _unbatch_like(kernels.unpool_plane(_batched(x), _batched(indices), output_size), x)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        (indices,) = ctx.saved_tensors
        # PyTorch's derivative of max_unpool2d: every value gets dy at its index, also one that
        # another value at the same index overwrote. Matching it keeps ported programs' numbers.
        return MaxUnpool2dBackward.apply(g, indices), None


class MaxUnpool2dBackward(Function):
    """y[.., i, j] = x[..].flat[indices[.., i, j]] (0 where the index is -1): max_unpool2d's gradient;
    its backward is the scatter-add at the same indices (max_pool2d_backward)."""

    name = "max_unpool2d_backward"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, x: Any, indices: Any) -> Any:
        ctx.save_for_backward(indices)
        ctx.output_size = x.shape[-2:]
        return _unbatch_like(pick(kernels).gather_plane(_batched(x), _batched(indices)), x)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        (indices,) = ctx.saved_tensors
        return MaxPool2dBackward.apply(g, indices, output_size=ctx.output_size), None


def max_pool2d(input: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None,
               padding: IntOrPair = 0, dilation: IntOrPair = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """2D max pooling over (N, C, H, W) or (C, H, W), as ``torch.nn.functional.max_pool2d``.

    Padding counts as minus infinity. With ``return_indices`` it also returns the int64 flat
    position of each maximum in its H*W plane (first maximum on ties; NaN wins).

    >>> import tinygrad_conv as tc
    >>> x = tc.Tensor([[[[1.0, 2.0, 0.0, 1.0], [3.0, 0.0, 5.0, 4.0]]]], requires_grad=True)
    >>> y, idx = max_pool2d(x, 2, return_indices=True)
    >>> y.tolist(), idx.tolist()
    ([[[[3.0, 5.0]]]], [[[[4, 6]]]])
    >>> y.sum().backward()
    >>> x.grad.tolist()
    [[[[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0]]]]
    """
    op = "max_pool2d"
    check_input(input, op)
    k = pair(kernel_size, op, "kernel_size", minimum=1)
    s = _stride_pair(stride, k, op)
    p = pair(padding, op, "padding", minimum=0)
    d = pair(dilation, op, "dilation", minimum=1)
    _check_padding(p, k, op)
    _output_hw(op, input.shape, k, s, p, d, bool(ceil_mode))
    return MaxPool2d.apply(input, kernel_size=k, stride=s, padding=p, dilation=d,
                           ceil_mode=bool(ceil_mode), return_indices=bool(return_indices))


def _unpool_output_size(op: str, shape: tuple[int, ...], kernel: Pair, stride: Pair, padding: Pair,
                        output_size: Any) -> Pair:
    """PyTorch's rule: by default (H_in - 1)*stride - 2*padding + kernel_size; a given size must
    lie strictly within one stride of that (it may be (H, W) or the full (N, C, H, W))."""
    default = tuple((shape[-2 + a] - 1) * stride[a] - 2 * padding[a] + kernel[a] for a in (0, 1))
    if output_size is None:
        size = default
    else:
        if isinstance(output_size, Tensor):
            output_size = output_size.tolist()
        given = tuple(output_size) if isinstance(output_size, (tuple, list)) else None
        if given is None or not all(is_int(v) for v in given) or len(given) not in (2, 4):
            raise ValueError(f"{op}: output_size must be (H, W) or (N, C, H, W) ints, got "
                             f"output_size={output_size!r}")
        size = tuple(int(v) for v in given[-2:])
        for a in (0, 1):
            lo, hi = default[a] - stride[a], default[a] + stride[a]
            if not lo < size[a] < hi:
                raise ValueError(
                    f"{op}: output_size {_AXES[a]} {size[a]} is not reachable from an input "
                    f"{_AXES[a]} of {shape[-2 + a]} with kernel_size={kernel}, stride={stride}, "
                    f"padding={padding}: it must be strictly between {lo} and {hi} (the default "
                    f"(H_in - 1)*stride - 2*padding + kernel_size = {default[a]}, plus or minus "
                    "less than one stride)")
    if size[0] < 0 or size[1] < 0:
        raise ValueError(f"{op}: the output size {size} is negative (from input shape {shape}, "
                         f"kernel_size={kernel}, stride={stride}, padding={padding}); use a smaller "
                         "padding")
    return int(size[0]), int(size[1])


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None,
                 padding: IntOrPair = 0, output_size: Sequence[int] | None = None) -> Tensor:
    """Partial inverse of max_pool2d, as ``torch.nn.functional.max_unpool2d``.

    Puts each value of ``input`` at its flat plane position ``indices`` (as max_pool2d returns
    them) in zeros of the output size; the rest stays zero. Of values that share an index, the
    last in row-major order is kept (what PyTorch's CPU kernel does), and index -1 (a window
    wholly in padding) is skipped. The output size is ``(H_in - 1)*stride - 2*padding +
    kernel_size`` unless ``output_size`` gives it.

    >>> import tinygrad_conv as tc
    >>> x = tc.Tensor([[[[1.0, 2.0], [4.0, 3.0]]]])
    >>> y, idx = tc.functional.max_pool2d(x, 2, return_indices=True)
    >>> max_unpool2d(y, idx, 2).tolist()
    [[[[0.0, 0.0], [4.0, 0.0]]]]
    """
    op = "max_unpool2d"
    check_input(input, op)
    if not isinstance(indices, Tensor):
        indices = Tensor(np.asarray(indices))
    if indices.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be an integer (int64) tensor as max_pool2d returns "
                        f"them, got dtype {indices.dtype}")
    if indices.shape != input.shape:
        raise ValueError(f"{op}: indices must have the shape of the input {input.shape}, got "
                         f"{indices.shape}; pass the indices max_pool2d returned with this input")
    k = pair(kernel_size, op, "kernel_size", minimum=1)
    s = _stride_pair(stride, k, op)
    p = pair(padding, op, "padding", minimum=0)
    h, w = _unpool_output_size(op, input.shape, k, s, p, output_size)
    idx = indices._data
    if idx.dtype != np.int64:
        indices = Tensor(idx.astype(np.int64))
        idx = indices._data
    if idx.size:
        lo, hi = int(idx.min()), int(idx.max())
        if lo < -1 or hi >= h * w:
            bad = lo if lo < -1 else hi
            raise ValueError(f"{op}: index {bad} is out of range for an output plane of {h}x{w} "
                             f"(indices must lie in [0, {h * w}), or be -1 for no value); check "
                             "kernel_size, stride, padding and output_size against the max_pool2d "
                             "that made them")
    return MaxUnpool2d.apply(input, indices, output_size=(h, w))


def _max_pool_samples(rng: np.random.Generator, dtype: Any) -> Any:
    # Tie-free inputs (distinct): a max has one clear winner, so finite differences are valid.
    yield Sample((distinct(rng, dtype, 2, 3, 6, 6), 2), name="2x2 stride 2")
    yield Sample((distinct(rng, dtype, 2, 2, 7, 7), 3), {"stride": 2, "padding": 1,
                                                         "return_indices": True},
                 name="overlapping 3x3 s2 p1, indices")
    yield Sample((distinct(rng, dtype, 1, 2, 7, 9), (2, 3)), {"stride": (1, 2), "dilation": (2, 1)},
                 name="non-square, dilation")
    yield Sample((distinct(rng, dtype, 1, 2, 6, 7), 3), {"stride": 2, "padding": 1, "ceil_mode": True},
                 name="ceil_mode with padding")
    yield Sample((distinct(rng, dtype, 3, 5, 5), 2), {"stride": 1, "return_indices": True},
                 name="unbatched, stride < kernel")


def _torch_max_pool(torch: Any, x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
                    dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    return torch.nn.functional.max_pool2d(x, kernel_size, stride, padding, dilation,
                                          ceil_mode=ceil_mode, return_indices=return_indices)


register("max_pool2d", samples=_max_pool_samples, reference=_torch_max_pool, nodes=(MaxPool2d,),
         nondifferentiable_points=True)(max_pool2d)


def _unique_indices(rng: np.random.Generator, shape: tuple[int, ...], plane: int) -> np.ndarray:
    """Per plane, distinct random positions in [0, plane). With a repeated index max_unpool2d keeps
    one value but (as in PyTorch) hands the gradient to all of them, which finite differences
    cannot confirm; tests/test_conv_pool_parity.py checks repeated indices against PyTorch."""
    lead, count = shape[:-2], shape[-2] * shape[-1]
    rows = [rng.permutation(plane)[:count] for _ in range(int(np.prod(lead)))]
    return np.stack(rows).reshape(shape).astype(np.int64)


def _max_unpool_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 2, 3, 3, 3), _unique_indices(rng, (2, 3, 3, 3), 36), 2),
                 name="2x2 default size")
    yield Sample((randn(rng, dtype, 1, 2, 3, 4), _unique_indices(rng, (1, 2, 3, 4), 42), 3),
                 {"stride": 2, "padding": 1, "output_size": (6, 7)}, name="3x3 s2 p1, output_size")
    yield Sample((randn(rng, dtype, 2, 2, 3), _unique_indices(rng, (2, 2, 3), 32), (2, 3)),
                 {"output_size": [1, 2, 4, 8]}, name="unbatched, 4-element output_size")


register("max_unpool2d", samples=_max_unpool_samples, nodes=(MaxUnpool2d,),
         reference=lambda torch, x, idx, kernel_size, stride=None, padding=0, output_size=None:
         torch.nn.functional.max_unpool2d(x, idx, kernel_size, stride, padding, output_size))(max_unpool2d)


def _scatter_add_samples(rng: np.random.Generator, dtype: Any) -> Any:
    # Repeated indices on purpose: overlapping pooling windows that picked the same maximum.
    yield Sample((randn(rng, dtype, 2, 3, 3, 3), rng.integers(0, 8, (2, 3, 3, 3))), {"output_size": (2, 4)},
                 name="batched, repeated indices")
    yield Sample((randn(rng, dtype, 2, 4, 4), rng.integers(0, 15, (2, 4, 4))), {"output_size": (3, 5)},
                 name="unbatched")


def _torch_scatter_add(torch: Any, g: Any, idx: Any, output_size: Pair) -> Any:
    zeros = g.new_zeros(g.shape[:-2] + (output_size[0] * output_size[1],))
    return zeros.scatter_add(-1, idx.flatten(-2), g.flatten(-2)).reshape(g.shape[:-2] + tuple(output_size))


register("max_pool2d_backward", method=False, functional=False, samples=_scatter_add_samples,
         reference=_torch_scatter_add)(MaxPool2dBackward)


def _gather_samples(rng: np.random.Generator, dtype: Any) -> Any:
    # Repeated indices are fine here: the gather's backward adds, in PyTorch too.
    yield Sample((randn(rng, dtype, 2, 3, 4, 4), rng.integers(0, 16, (2, 3, 3, 2))), name="batched")
    yield Sample((randn(rng, dtype, 2, 3, 5), rng.integers(0, 15, (2, 4, 4))), name="unbatched")


def _torch_gather(torch: Any, x: Any, idx: Any) -> Any:
    flat = torch.gather(x.flatten(-2), -1, idx.flatten(-2))
    return flat.reshape(idx.shape)


register("max_unpool2d_backward", method=False, functional=False, samples=_gather_samples,
         reference=_torch_gather)(MaxUnpool2dBackward)


# ----------------------------------------------------------------------------------------------
# average pool


class AvgPool2d(Function):
    """Average pooling with PyTorch's divisor rules; linear, so backward is its adjoint."""

    name = "avg_pool2d"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, x: Any, kernel_size: Pair, stride: Pair, padding: Pair, ceil_mode: bool,
                count_include_pad: bool, divisor_override: int | None) -> Any:
        ctx.input_hw = x.shape[-2:]
        ctx.params = (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
        return _unbatch_like(pick(kernels).avg_pool2d(_batched(x), kernel_size, stride, padding, ceil_mode,
                                                count_include_pad, divisor_override), x)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        k, s, p, c, cip, div = ctx.params
        return AvgPool2dBackward.apply(g, input_size=ctx.input_hw, kernel_size=k, stride=s, padding=p,
                                       ceil_mode=c, count_include_pad=cip, divisor_override=div)


class AvgPool2dBackward(Function):
    """Spread each dy / divisor over its window (the adjoint of avg_pool2d); backward is avg_pool2d."""

    name = "avg_pool2d_backward"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, g: Any, input_size: Pair, kernel_size: Pair, stride: Pair, padding: Pair,
                ceil_mode: bool, count_include_pad: bool, divisor_override: int | None) -> Any:
        ctx.params = (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
        return _unbatch_like(pick(kernels).avg_pool2d_backward(_batched(g), input_size, kernel_size, stride,
                                                         padding, ceil_mode, count_include_pad,
                                                         divisor_override), g)

    @staticmethod
    def backward(ctx: Context, gg: Tensor) -> Any:
        k, s, p, c, cip, div = ctx.params
        return AvgPool2d.apply(gg, kernel_size=k, stride=s, padding=p, ceil_mode=c,
                               count_include_pad=cip, divisor_override=div)


def avg_pool2d(input: Tensor, kernel_size: IntOrPair, stride: IntOrPair | None = None,
               padding: IntOrPair = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """2D average pooling over (N, C, H, W) or (C, H, W), as ``torch.nn.functional.avg_pool2d``.

    Padding counts as zeros; ``count_include_pad`` says whether it counts in the divisor, and
    ``divisor_override`` replaces the divisor altogether.

    >>> import tinygrad_conv as tc
    >>> x = tc.Tensor([[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]]])
    >>> avg_pool2d(x, 2, stride=1).tolist()
    [[[[3.0, 4.0]]]]
    >>> avg_pool2d(x, 2, padding=1, count_include_pad=False).tolist()
    [[[[1.0, 2.5], [4.0, 5.5]]]]
    """
    op = "avg_pool2d"
    check_input(input, op)
    k = pair(kernel_size, op, "kernel_size", minimum=1)
    s = _stride_pair(stride, k, op)
    p = pair(padding, op, "padding", minimum=0)
    _check_padding(p, k, op)
    if divisor_override is not None:
        if not is_int(divisor_override):
            raise TypeError(f"{op}: divisor_override must be an int or None, got {divisor_override!r}")
        if divisor_override == 0:
            raise ValueError(f"{op}: divisor_override must not be zero (it divides every window "
                             "sum); pass None to divide by the window size")
        divisor_override = int(divisor_override)
    _output_hw(op, input.shape, k, s, p, (1, 1), bool(ceil_mode))
    return AvgPool2d.apply(input, kernel_size=k, stride=s, padding=p, ceil_mode=bool(ceil_mode),
                           count_include_pad=bool(count_include_pad), divisor_override=divisor_override)


def _avg_pool_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 2, 3, 6, 6), 2), name="2x2 stride 2")
    yield Sample((randn(rng, dtype, 2, 2, 7, 6), 3), {"stride": 2, "padding": 1}, name="3x3 s2 p1")
    yield Sample((randn(rng, dtype, 1, 2, 7, 6), 3),
                 {"stride": 2, "padding": 1, "count_include_pad": False, "ceil_mode": True},
                 name="exclude padding, ceil_mode")
    yield Sample((randn(rng, dtype, 1, 2, 5, 7), (2, 3)), {"stride": (1, 2), "divisor_override": 4},
                 name="non-square, divisor_override")
    yield Sample((randn(rng, dtype, 3, 5, 5), 5), name="unbatched, global")


def _torch_avg_pool(torch: Any, x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
                    ceil_mode: bool = False, count_include_pad: bool = True,
                    divisor_override: Any = None) -> Any:
    return torch.nn.functional.avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                          divisor_override)


register("avg_pool2d", samples=_avg_pool_samples, reference=_torch_avg_pool,
         nodes=(AvgPool2d, AvgPool2dBackward))(avg_pool2d)


def _avg_backward_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 2, 2, 4, 3),), {"input_size": (7, 6), "kernel_size": (3, 3),
                                                      "stride": (2, 2), "padding": (1, 1),
                                                      "ceil_mode": False, "count_include_pad": False,
                                                      "divisor_override": None}, name="3x3 s2 p1")
    yield Sample((randn(rng, dtype, 2, 3, 3),), {"input_size": (5, 5), "kernel_size": (2, 2),
                                                   "stride": (2, 2), "padding": (0, 0),
                                                   "ceil_mode": True, "count_include_pad": True,
                                                   "divisor_override": 3}, name="unbatched, ceil")


def _torch_avg_backward(torch: Any, g: Any, input_size: Pair, kernel_size: Pair, stride: Pair,
                        padding: Pair, ceil_mode: bool, count_include_pad: bool,
                        divisor_override: Any) -> Any:
    # avg_pool2d's input gradient, kept differentiable in g (create_graph) for parity of its grads.
    x = torch.zeros(g.shape[:-2] + tuple(input_size), dtype=g.dtype, requires_grad=True)
    y = torch.nn.functional.avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad,
                                       divisor_override)
    return torch.autograd.grad(y, x, g, create_graph=True)[0]


register("avg_pool2d_backward", method=False, functional=False, samples=_avg_backward_samples,
         reference=_torch_avg_backward)(AvgPool2dBackward)


# ----------------------------------------------------------------------------------------------
# adaptive average pool


class AdaptiveAvgPool2d(Function):
    """Adaptive average pooling (two GEMMs with averaging matrices); backward is its adjoint."""

    name = "adaptive_avg_pool2d"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, x: Any, output_size: Pair) -> Any:
        ctx.input_hw = x.shape[-2:]
        return _unbatch_like(pick(kernels).adaptive_avg_pool2d(_batched(x), output_size), x)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        return AdaptiveAvgPool2dBackward.apply(g, input_size=ctx.input_hw)


class AdaptiveAvgPool2dBackward(Function):
    """The adjoint of adaptive_avg_pool2d; its backward is adaptive_avg_pool2d again."""

    name = "adaptive_avg_pool2d_backward"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, g: Any, input_size: Pair) -> Any:
        ctx.output_hw = g.shape[-2:]
        return _unbatch_like(pick(kernels).adaptive_avg_pool2d_backward(_batched(g), input_size), g)

    @staticmethod
    def backward(ctx: Context, gg: Tensor) -> Any:
        return AdaptiveAvgPool2d.apply(gg, output_size=ctx.output_hw)


def adaptive_avg_pool2d(input: Tensor, output_size: int | None | Sequence[int | None]) -> Tensor:
    """Average pooling to a fixed output size, as ``torch.nn.functional.adaptive_avg_pool2d``.

    Output cell i along an axis of n inputs averages inputs floor(i*n/out) .. ceil((i+1)*n/out)-1;
    ``None`` in ``output_size`` keeps that dimension's input size.

    >>> import tinygrad_conv as tc
    >>> x = tc.Tensor([[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]]])
    >>> adaptive_avg_pool2d(x, 1).tolist()
    [[[[3.5]]]]
    >>> adaptive_avg_pool2d(x, (1, 2)).tolist()
    [[[[3.0, 4.0]]]]
    """
    op = "adaptive_avg_pool2d"
    check_input(input, op)
    hw = input.shape[-2:]
    if output_size is None or is_int(output_size):
        given: tuple[Any, ...] = (output_size, output_size)
    elif isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        given = tuple(output_size)
    else:
        raise ValueError(f"{op}: output_size must be an int or a pair (H, W) of ints or None, got "
                         f"{output_size!r}")
    size = []
    for a, v in enumerate(given):
        if v is None:
            size.append(hw[a])
        elif not is_int(v):
            raise TypeError(f"{op}: output_size must hold ints or None, got {output_size!r}")
        elif v < 0:
            raise ValueError(f"{op}: output_size must be non-negative, got {output_size!r}")
        else:
            size.append(int(v))
    return AdaptiveAvgPool2d.apply(input, output_size=(size[0], size[1]))


def _adaptive_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 2, 3, 7, 5), (3, 2)), name="uneven windows")
    yield Sample((randn(rng, dtype, 2, 3, 4, 4), 1), name="global")
    yield Sample((randn(rng, dtype, 2, 3, 5), (None, 7)), name="unbatched, None, upsampling width")


register("adaptive_avg_pool2d", samples=_adaptive_samples, nodes=(AdaptiveAvgPool2d, AdaptiveAvgPool2dBackward),
         reference=lambda torch, x, output_size: torch.nn.functional.adaptive_avg_pool2d(x, output_size)
         )(adaptive_avg_pool2d)


def _adaptive_backward_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 2, 2, 3, 2),), {"input_size": (7, 5)}, name="uneven windows")
    yield Sample((randn(rng, dtype, 3, 4, 2),), {"input_size": (3, 3)}, name="unbatched, upsampling")


def _torch_adaptive_backward(torch: Any, g: Any, input_size: Pair) -> Any:
    x = torch.zeros(g.shape[:-2] + tuple(input_size), dtype=g.dtype, requires_grad=True)
    y = torch.nn.functional.adaptive_avg_pool2d(x, tuple(g.shape[-2:]))
    return torch.autograd.grad(y, x, g, create_graph=True)[0]


register("adaptive_avg_pool2d_backward", method=False, functional=False,
         samples=_adaptive_backward_samples, reference=_torch_adaptive_backward)(AdaptiveAvgPool2dBackward)

"""The convolution family: conv2d, conv_transpose2d and the conv weight gradient, as three ops that
close under differentiation (see docs/convolution.md):

* conv2d(x, w):            dx = conv_transpose2d(dy, w)      dw = conv2d_weight_grad(x, dy)
* conv_transpose2d(x, w):  dx = conv2d(dy, w)                dw = conv2d_weight_grad(dy, x)
* conv2d_weight_grad(x, dy) = dw:   d/dx = conv_transpose2d(dy, ggw)   d/ddy = conv2d(x, ggw)

The public functions validate their arguments (errors show the size rule with the user's numbers),
normalise them to pairs, and call the ops; the ops call the NumPy kernels in kernels/conv.py, or the
textbook ones in kernels/reference.py inside ``tc.kernels.use_reference()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..autograd.function import Context, Function
from ..autograd.grad_mode import is_grad_enabled
from ..kernels import conv as K
from ..kernels import pick
from ..tensor import Tensor
from ._args import Pair, check_input, check_nonempty, is_int, pair
from .registry import Sample, register
from .samples import randn

PadPairs = tuple[tuple[int, int], tuple[int, int]]


# ----------------------------------------------------------------------------- argument checks
def _padding(padding: Any, op: str, kernel: Pair, stride: Pair, dilation: Pair) -> PadPairs:
    """Padding as ((top, bottom), (left, right)); 'same' puts an odd extra row/col bottom/right."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0), (0, 0))
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                                 f"(stride={stride}); use stride=1 or give the padding as numbers")
            pads = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)
                pads.append((total // 2, total - total // 2))
            return (pads[0], pads[1])
        raise ValueError(f"{op}: padding string must be 'valid' or 'same', got {padding!r}")
    p = pair(padding, op, "padding", minimum=0)
    return ((p[0], p[0]), (p[1], p[1]))


def _check_groups(groups: Any, op: str) -> None:
    if not is_int(groups) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")


def _check_weight(w: Tensor, op: str, layout: str) -> None:
    if not isinstance(w, Tensor):
        raise TypeError(f"{op}: weight must be a Tensor, got {type(w).__name__}")
    if w.ndim != 4:
        raise ValueError(f"{op}: weight must be 4-d {layout}, got shape {w.shape}")


# PyTorch's names for dtypes in its "Input type (float) and weight type (double)" messages.
_TORCH_TYPE_NAMES = {"float32": "float", "float64": "double", "float16": "half", "int64": "long", "int32": "int",
                     "int16": "short", "int8": "char", "uint8": "byte", "bool": "bool"}


def _type_name(dtype: np.dtype) -> str:
    return _TORCH_TYPE_NAMES.get(np.dtype(dtype).name, np.dtype(dtype).name)


def _check_same_dtype(op: str, input: Tensor, other: Tensor, name: str) -> None:
    """PyTorch's RuntimeError for operands of different dtypes: the kernels compute in one dtype,
    and converting silently would hide a model whose parameters and data disagree."""
    if other.dtype != input.dtype:
        raise RuntimeError(
            f"{op}: Input type ({_type_name(input.dtype)}) and {name} type ({_type_name(other.dtype)}) should be "
            f"the same: the input is {input.dtype} and the {name} is {other.dtype}. Convert one to the other's "
            "dtype with .to(), .float() or .double() (a module's parameters follow module.float() / "
            "module.double())")


def _check_common(input: Tensor, weight: Tensor, groups: Any, op: str, layout: str) -> tuple[bool, Tensor]:
    """The checks both convs share; returns (unbatched?, the input with a batch dim)."""
    # The input's emptiness is checked after the weight's, so that an input and weight that both
    # have no channels are reported as the weight's empty dimension.
    unbatched = check_input(input, op, nonempty=False)
    _check_weight(weight, op, layout)
    _check_same_dtype(op, input, weight, "weight")
    _check_groups(groups, op)
    if 0 in weight.shape:
        raise ValueError(f"{op}: the weight {weight.shape} has an empty dimension; every dimension of {layout} "
                         "must be at least 1")
    check_nonempty(input, op)
    return unbatched, (input.unsqueeze(0) if unbatched else input)


def _check_bias(b: Tensor | None, channels: int, op: str, input: Tensor) -> None:
    if b is not None and (not isinstance(b, Tensor) or b.shape != (channels,)):
        shape = b.shape if isinstance(b, Tensor) else type(b).__name__
        raise ValueError(f"{op}: bias must have shape ({channels},), one value per output channel, got {shape}")
    if b is not None:
        # PyTorch refuses this too, except its slow CPU conv_transpose2d path (no stride, float64
        # input), which casts the bias: one rule here, the one PyTorch applies almost everywhere.
        _check_same_dtype(op, input, b, "bias")


def _out_size_error(op: str, x_hw: tuple[int, ...], kernel: Pair, stride: Pair, pads: PadPairs,
                    dilation: Pair) -> None:
    """Raise when the (dilated) kernel does not fit the padded input, showing the formula."""
    for axis, name in ((0, "height"), (1, "width")):
        size, k, s, d = x_hw[axis], kernel[axis], stride[axis], dilation[axis]
        lo, hi = pads[axis]
        span = d * (k - 1) + 1
        if size + lo + hi < span:
            raise ValueError(
                f"{op}: the kernel does not fit the input along its {name}: output size = "
                f"floor((in + pad_before + pad_after - dilation*(kernel-1) - 1) / stride) + 1 = "
                f"floor(({size} + {lo} + {hi} - {d}*({k}-1) - 1) / {s}) + 1 = "
                f"{(size + lo + hi - span) // s + 1}, which is less than 1. The dilated kernel spans "
                f"{span} but the padded input is only {size + lo + hi}: use a smaller kernel or dilation, "
                "or more padding")


# ----------------------------------------------------------------------------- the three ops
def _save(ctx: Context, x: Any, w: Any, conf: tuple[Any, ...]) -> None:
    """Shared tail of both conv forwards: backward keeps the two inputs and the configuration."""
    ctx.save_for_backward(x, w)
    ctx.conf = conf
    ctx.x_hw = x.shape[2:]


class Conv2d(Function):
    """y = conv2d(x, w) + b, im2col + one GEMM; the GEMM adds the bias (a column of the weight)."""

    name = "conv2d"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, x: Any, w: Any, b: Any, stride: Pair = (1, 1),
                padding: PadPairs = ((0, 0), (0, 0)), dilation: Pair = (1, 1), groups: int = 1) -> Any:
        y = pick(K).conv2d(x, w, stride, padding, dilation, groups, b)
        _save(ctx, x, w, (stride, padding, dilation, groups))
        return y

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        x, w = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conf
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if need_x and need_w and not is_grad_enabled():
            # Nothing records these (no create_graph): one kernel computes the three gradients, and
            # may build what the input and weight gradients' products share once (a stride-1 conv's
            # shifted rows of g); the weight gradient's GEMM sums g into the bias gradient.
            gx_a, gw_a, gb_a = pick(K).conv2d_input_and_weight_grads(x._data, w._data, g._data, stride, padding,
                                                                     dilation, groups, need_b)
            return Tensor._wrap(gx_a), Tensor._wrap(gw_a), (Tensor._wrap(gb_a) if need_b else None)
        gx = ConvTranspose2d.apply(g, w, None, stride=stride, padding=padding, dilation=dilation,
                                   groups=groups, output_size=ctx.x_hw) if need_x else None
        if need_w and need_b and not is_grad_enabled():
            # Nothing records these (no create_graph): the weight gradient's GEMM sums g into the
            # bias gradient too, instead of a separate pass over g.
            gw_a, gb_a = pick(K).conv2d_weight_and_bias_grad(x._data, g._data, tuple(w.shape[2:]), stride, padding,
                                                             dilation, groups)
            return gx, Tensor._wrap(gw_a), Tensor._wrap(gb_a)
        gw = Conv2dWeightGrad.apply(x, g, kernel_size=tuple(w.shape[2:]), stride=stride, padding=padding,
                                    dilation=dilation, groups=groups) if need_w else None
        gb = g.sum(dim=(0, 2, 3)) if need_b else None
        return gx, gw, gb


class ConvTranspose2d(Function):
    """y = conv_transpose2d(x, w) + b: the adjoint of conv2d in its input (GEMM, then col2im)."""

    name = "conv_transpose2d"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, x: Any, w: Any, b: Any, stride: Pair = (1, 1),
                padding: PadPairs = ((0, 0), (0, 0)), dilation: Pair = (1, 1), groups: int = 1,
                output_size: Pair = (0, 0)) -> Any:
        out_hw = (int(output_size[0]), int(output_size[1]))
        y = pick(K).conv_transpose2d(x, w, stride, padding, dilation, groups, out_hw)
        if b is not None:
            y += b.reshape(1, -1, 1, 1)  # in place into the fresh output: no extra array
        _save(ctx, x, w, (stride, padding, dilation, groups))
        return y

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        x, w = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conf
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        # The adjoint conv2d reads g with the forward's top/left padding and whatever bottom/right
        # padding makes its output exactly x's size (output_padding shifts it; it may even crop).
        g_adj, pads_adj = _adjoint_input(g, ctx.x_hw, tuple(w.shape[2:]), stride, padding, dilation)
        if need_x and need_w and not is_grad_enabled():
            # Nothing records these two products (no create_graph), and both are GEMMs with the
            # same column matrix of g: one kernel gathers it once for both.
            gx_a, gw_a = pick(K).conv2d_and_weight_grad(g_adj._data, w._data, x._data, stride, pads_adj,
                                                        dilation, groups)
            gb = g.sum(dim=(0, 2, 3)) if need_b else None
            return Tensor._wrap(gx_a), Tensor._wrap(gw_a), gb
        gx = Conv2d.apply(g_adj, w, None, stride=stride, padding=pads_adj, dilation=dilation,
                          groups=groups) if need_x else None
        gw = Conv2dWeightGrad.apply(g_adj, x, kernel_size=tuple(w.shape[2:]), stride=stride, padding=pads_adj,
                                    dilation=dilation, groups=groups) if need_w else None
        gb = g.sum(dim=(0, 2, 3)) if need_b else None
        return gx, gw, gb


def _adjoint_input(g: Tensor, x_hw: Sequence[int], kernel: Sequence[int], stride: Pair, padding: PadPairs,
                   dilation: Pair) -> tuple[Tensor, PadPairs]:
    """The input and padding of the conv2d that is the adjoint of a transposed conv with output ``g``
    and input size ``x_hw``: top/left padding as given, bottom/right chosen so that the conv2d output
    is exactly ``x_hw`` (a negative amount crops ``g``)."""
    pads = []
    crop = []
    for a in range(2):
        span = dilation[a] * (kernel[a] - 1) + 1
        after = (x_hw[a] - 1) * stride[a] + span - padding[a][0] - g.shape[2 + a]
        pads.append((padding[a][0], max(after, 0)))
        crop.append(g.shape[2 + a] + min(after, 0))
    if crop[0] < g.shape[2] or crop[1] < g.shape[3]:
        g = g[:, :, :crop[0], :crop[1]]
    return g, (pads[0], pads[1])


class Conv2dWeightGrad(Function):
    """dw = conv2d_weight_grad(x, dy): the gradient of conv2d w.r.t. its weight (one GEMM).

    It is linear in each argument, so its gradients are the other two ops of the family.
    """

    name = "conv2d_weight_grad"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, x: Any, dy: Any, kernel_size: Pair = (1, 1), stride: Pair = (1, 1),
                padding: PadPairs = ((0, 0), (0, 0)), dilation: Pair = (1, 1), groups: int = 1) -> Any:
        ctx.save_for_backward(x, dy)
        ctx.conf = (stride, padding, dilation, groups)
        ctx.x_hw = x.shape[2:]
        kernel = (int(kernel_size[0]), int(kernel_size[1]))
        return pick(K).conv2d_weight_grad(x, dy, kernel, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx: Context, ggw: Tensor) -> tuple[Any, ...]:
        x, dy = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conf
        need_x, need_dy = ctx.needs_input_grad[:2]
        gx = ConvTranspose2d.apply(dy, ggw, None, stride=stride, padding=padding, dilation=dilation,
                                   groups=groups, output_size=ctx.x_hw) if need_x else None
        gdy = Conv2d.apply(x, ggw, None, stride=stride, padding=padding, dilation=dilation,
                           groups=groups) if need_dy else None
        return gx, gdy


# ----------------------------------------------------------------------------- public functions
def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D cross-correlation, as ``torch.nn.functional.conv2d``.

    ``input`` is (N, C, H, W) or unbatched (C, H, W); ``weight`` is (F, C/groups, kh, kw);
    ``padding`` is an int, a pair, ``'valid'`` or ``'same'``.

    >>> import numpy as np, tinygrad_conv as tc
    >>> import tinygrad_conv.functional as F
    >>> x = tc.Tensor(np.ones((1, 2, 5, 5), dtype=np.float32))
    >>> F.conv2d(x, tc.Tensor(np.ones((3, 2, 3, 3), dtype=np.float32)), padding=1).shape
    (1, 3, 5, 5)
    """
    op = "conv2d"
    unbatched, x = _check_common(input, weight, groups, op, "(out_channels, in_channels/groups, kh, kw)")
    n, c = x.shape[:2]
    f, cg, kh, kw = weight.shape
    if c % groups or f % groups:
        raise ValueError(f"{op}: groups={groups} must divide both the input channels ({c}) and the output "
                         f"channels ({f})")
    if cg * groups != c:
        raise ValueError(f"{op}: channel mismatch: the input has {c} channels but the weight {weight.shape} "
                         f"expects in_channels/groups = {cg}, i.e. {cg * groups} input channels with "
                         f"groups={groups}")
    _check_bias(bias, f, op, x)
    stride_p = pair(stride, op, "stride", minimum=1)
    dil = pair(dilation, op, "dilation", minimum=1)
    pads = _padding(padding, op, (kh, kw), stride_p, dil)
    _out_size_error(op, x.shape[2:], (kh, kw), stride_p, pads, dil)
    out = Conv2d.apply(x, weight, bias, stride=stride_p, padding=pads, dilation=dil, groups=int(groups))
    return out.squeeze(0) if unbatched else out


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """2-D transposed convolution, as ``torch.nn.functional.conv_transpose2d``.

    ``weight`` is (C_in, C_out/groups, kh, kw); the output size is
    ``(H - 1)*stride - 2*padding + dilation*(kh - 1) + output_padding + 1``.

    >>> import numpy as np, tinygrad_conv as tc
    >>> import tinygrad_conv.functional as F
    >>> x = tc.Tensor(np.ones((1, 4, 3, 3), dtype=np.float32))
    >>> F.conv_transpose2d(x, tc.Tensor(np.ones((4, 2, 4, 4), dtype=np.float32)), stride=2, padding=1).shape
    (1, 2, 6, 6)
    """
    op = "conv_transpose2d"
    unbatched, x = _check_common(input, weight, groups, op, "(in_channels, out_channels/groups, kh, kw)")
    c = x.shape[1]
    cin, fg, kh, kw = weight.shape
    if c % groups:
        raise ValueError(f"{op}: groups={groups} must divide the input channels ({c})")
    if cin != c:
        raise ValueError(f"{op}: channel mismatch: the input has {c} channels but the weight {weight.shape} "
                         f"has in_channels = {cin} (transposed-conv weights are (in, out/groups, kh, kw))")
    _check_bias(bias, fg * groups, op, x)
    stride_p = pair(stride, op, "stride", minimum=1)
    dil = pair(dilation, op, "dilation", minimum=1)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a pair; strings like {padding!r} are only "
                         "accepted by conv2d")
    pad = pair(padding, op, "padding", minimum=0)
    opad = pair(output_padding, op, "output_padding", minimum=0)
    out_hw = []
    for a, name in ((0, "height"), (1, "width")):
        if opad[a] >= stride_p[a] and opad[a] >= dil[a]:
            limit = max(stride_p[a], dil[a])
            sizes = ", ".join(
                f"{v} -> {K.conv_transpose2d_output_size(x.shape[2 + a], (kh, kw)[a], stride_p[a], pad[a], v, dil[a])}"
                for v in range(limit))
            raise ValueError(
                f"{op}: output_padding along the {name} must be smaller than either stride ({stride_p[a]}) or "
                f"dilation ({dil[a]}), got {opad[a]}. Valid values and the output {name} they give: {sizes}")
        size = K.conv_transpose2d_output_size(x.shape[2 + a], (kh, kw)[a], stride_p[a], pad[a], opad[a], dil[a])
        if size < 1:
            raise ValueError(
                f"{op}: the output {name} would be (in - 1)*stride - 2*padding + dilation*(kernel - 1) + "
                f"output_padding + 1 = ({x.shape[2 + a]} - 1)*{stride_p[a]} - 2*{pad[a]} + "
                f"{dil[a]}*({(kh, kw)[a]} - 1) + {opad[a]} + 1 = {size}, which is less than 1: use less padding")
        out_hw.append(size)
    pads = ((pad[0], pad[0]), (pad[1], pad[1]))
    out = ConvTranspose2d.apply(x, weight, bias, stride=stride_p, padding=pads, dilation=dil,
                                groups=int(groups), output_size=tuple(out_hw))
    return out.squeeze(0) if unbatched else out


def conv2d_weight_grad(input: Tensor, grad_output: Tensor, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                       dilation: Any = 1, groups: int = 1) -> Tensor:
    """The gradient of ``conv2d(input, w)`` with respect to ``w`` given ``grad_output``.

    >>> import numpy as np, tinygrad_conv as tc
    >>> import tinygrad_conv.functional as F
    >>> x, dy = tc.Tensor(np.ones((1, 2, 4, 4))), tc.Tensor(np.ones((1, 3, 2, 2)))
    >>> F.conv2d_weight_grad(x, dy, 3).shape
    (3, 2, 3, 3)
    """
    op = "conv2d_weight_grad"
    # Empty channels are fine here (the weight gradient is then empty too, as in PyTorch); an empty
    # height or width is reported as a kernel that does not fit.
    check_input(input, op, nonempty=False)
    if not isinstance(grad_output, Tensor) or grad_output.ndim != input.ndim:
        got = grad_output.shape if isinstance(grad_output, Tensor) else type(grad_output).__name__
        raise ValueError(f"{op}: grad_output must be a Tensor with as many dimensions as the input "
                         f"{input.shape}, got {got}")
    _check_same_dtype(op, input, grad_output, "grad_output")
    _check_groups(groups, op)
    k = pair(kernel_size, op, "kernel_size", minimum=1)
    stride_p = pair(stride, op, "stride", minimum=1)
    dil = pair(dilation, op, "dilation", minimum=1)
    pads = _padding(padding, op, k, stride_p, dil)
    x = input.unsqueeze(0) if input.ndim == 3 else input
    dy = grad_output.unsqueeze(0) if grad_output.ndim == 3 else grad_output
    _out_size_error(op, x.shape[2:], k, stride_p, pads, dil)
    expect = tuple(K.conv2d_output_size(x.shape[2 + a], k[a], stride_p[a], sum(pads[a]), dil[a]) for a in range(2))
    if dy.shape[0] != x.shape[0] or tuple(dy.shape[2:]) != expect or x.shape[1] % groups or dy.shape[1] % groups:
        raise ValueError(f"{op}: grad_output {dy.shape} does not match a conv2d of input {x.shape} "
                         f"(expected (N={x.shape[0]}, F, {expect[0]}, {expect[1]}) with F and C divisible by "
                         f"groups={groups})")
    return Conv2dWeightGrad.apply(x, dy, kernel_size=k, stride=stride_p, padding=pads, dilation=dil,
                                  groups=int(groups))


# ----------------------------------------------------------------------------- samples and references
def _conv_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 2, 3, 6, 5), randn(rng, dtype, 4, 3, 3, 2), randn(rng, dtype, 4)),
                 {"stride": (2, 1), "padding": 1}, name="strided, bias, non-square kernel")
    yield Sample((randn(rng, dtype, 1, 4, 7, 7), randn(rng, dtype, 4, 2, 3, 3)),
                 {"dilation": 2, "groups": 2, "padding": (1, 2)}, name="groups, dilation")
    yield Sample((randn(rng, dtype, 3, 5, 5), randn(rng, dtype, 2, 3, 2, 2)),
                 {"padding": "same"}, name="unbatched, same, even kernel")


def _convt_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 2, 4, 3, 3), randn(rng, dtype, 4, 3, 3, 3), randn(rng, dtype, 3)),
                 {"stride": 2, "padding": 1, "output_padding": 1}, name="strided, output_padding, bias")
    yield Sample((randn(rng, dtype, 1, 4, 4, 3), randn(rng, dtype, 4, 1, 2, 3)),
                 {"groups": 2, "dilation": (2, 1), "stride": (1, 2)}, name="groups, dilation")
    yield Sample((randn(rng, dtype, 2, 3, 3), randn(rng, dtype, 2, 2, 3, 3)),
                 {"stride": 2, "output_padding": 1, "dilation": 2}, name="unbatched")


def _wgrad_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 2, 3, 6, 5), randn(rng, dtype, 2, 4, 3, 6), (3, 2)),
                 {"stride": (2, 1), "padding": 1}, name="strided")
    yield Sample((randn(rng, dtype, 1, 4, 7, 7), randn(rng, dtype, 1, 2, 7, 7)), {"kernel_size": 3, "dilation": (1, 2),
                 "groups": 2, "padding": (1, 2)}, name="groups, dilation")


def _torch_wgrad(torch: Any, x: Any, dy: Any, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1) -> Any:
    k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    shape = (dy.shape[1], x.shape[1] // groups, *k)
    return torch.nn.grad.conv2d_weight(x, shape, dy, stride=stride, padding=padding, dilation=dilation,
                                       groups=groups)


register("conv2d", samples=_conv_samples, nodes=(Conv2d,),
         reference=lambda torch, *a, **k: torch.nn.functional.conv2d(*a, **k))(conv2d)
register("conv_transpose2d", samples=_convt_samples, nodes=(ConvTranspose2d,),
         reference=lambda torch, *a, **k: torch.nn.functional.conv_transpose2d(*a, **k))(conv_transpose2d)
register("conv2d_weight_grad", method=False, samples=_wgrad_samples, nodes=(Conv2dWeightGrad,),
         reference=_torch_wgrad)(conv2d_weight_grad)

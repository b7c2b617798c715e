"""Layers: Linear, convolutions, pooling, normalisation, dropout, flatten and activations.

Each layer keeps its settings and parameters and calls the function of the same name in
:mod:`tinygrad_conv.functional` (PyTorch's signatures), so a layer and its functional form always
agree. Parameters start from PyTorch's default distributions (see :mod:`tinygrad_conv.nn.init`).

>>> import tinygrad_conv as tc
>>> from tinygrad_conv import nn
>>> layer = nn.Linear(4, 2)
>>> layer(tc.ones(3, 4)).shape
(3, 2)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import functional as F
from ..autograd.grad_mode import no_grad
from ..dtypes import get_default_dtype
from ..ops._args import pair
from ..tensor import Tensor
from . import init
from .module import Module, Parameter

IntPair = int | tuple[int, int]
_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _pair(value: Any, name: str, layer: str) -> tuple[int, int]:
    """A layer's int-or-pair argument, checked by the same rule (and words) as the ops'."""
    return pair(value, layer, name)


def _positive(value: int, name: str, layer: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{layer}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _empty(*shape: int, dtype: Any) -> np.ndarray:
    return np.zeros(shape, dtype=np.dtype(dtype) if dtype is not None else get_default_dtype())


# ---------------------------------------------------------------------------------- Linear
class Linear(Module):
    """y = x @ weight.T + bias, for inputs of shape (..., in_features).

    ``weight`` is (out_features, in_features) and, like ``bias``, starts from
    U(-1/sqrt(in_features), 1/sqrt(in_features)) as in PyTorch.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        self.in_features = _positive(in_features, "in_features", "Linear")
        self.out_features = _positive(out_features, "out_features", "Linear")
        self.weight = Parameter(_empty(out_features, in_features, dtype=dtype))
        if bias:
            self.bias: Parameter | None = Parameter(_empty(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = init.bias_bound(self.weight)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        if input.shape[-1:] != (self.in_features,):
            raise ValueError(f"Linear: expected an input of shape (..., {self.in_features}) "
                             f"(in_features={self.in_features}), got {input.shape}")
        # One fused op (one node, one GEMM with the bias added in place), not w.T, @ and +.
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


# ---------------------------------------------------------------------------------- convolutions
class _ConvNd(Module):
    weight: Parameter
    bias: Parameter | None

    def _common(self, in_channels: int, out_channels: int, kernel_size: IntPair, stride: IntPair,
                padding: IntPair | str, dilation: IntPair, groups: int, padding_mode: str) -> None:
        layer = type(self).__name__
        self.in_channels = _positive(in_channels, "in_channels", layer)
        self.out_channels = _positive(out_channels, "out_channels", layer)
        self.groups = _positive(groups, "groups", layer)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{layer}: in_channels ({in_channels}) and out_channels ({out_channels}) "
                             f"must both be divisible by groups ({groups})")
        self.kernel_size = _pair(kernel_size, "kernel_size", layer)
        self.stride = _pair(stride, "stride", layer)
        self.dilation = _pair(dilation, "dilation", layer)
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"{layer}: padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
            self.padding: tuple[int, int] | str = padding
        else:
            self.padding = _pair(padding, "padding", layer)
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{layer}: padding_mode must be one of 'zeros', 'reflect', 'replicate', 'circular', but "
                             f"got padding_mode={padding_mode!r}")
        self.padding_mode = padding_mode
        # F.pad's widths for the non-'zeros' modes, last dim first (PyTorch's attribute of that name).
        if self.padding == "valid":
            self._reversed_padding_repeated_twice = [0, 0, 0, 0]
        elif self.padding == "same":
            pads: list[int] = []
            for k, d in zip(reversed(self.kernel_size), reversed(self.dilation)):
                total = d * (k - 1)
                pads += [total // 2, total - total // 2]  # an odd extra row/col goes after, as conv2d's 'same'
            self._reversed_padding_repeated_twice = pads
        elif not isinstance(self.padding, str):
            ph, pw = self.padding
            self._reversed_padding_repeated_twice = [pw, pw, ph, ph]

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = init.bias_bound(self.weight)
            init.uniform_(self.bias, -bound, bound)

    def _settings(self, output_padding: tuple[int, int] = (0, 0)) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"  # unquoted for 'same' / 'valid' too, as PyTorch prints it
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if output_padding != (0, 0):
            s += f", output_padding={output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """2-d convolution (cross-correlation) over (N, C, H, W) inputs, as ``torch.nn.Conv2d``.

    ``weight`` is (out_channels, in_channels/groups, kh, kw). ``padding_mode`` is what the padding
    holds: ``'zeros'``, or ``'reflect'``, ``'replicate'`` or ``'circular'``, which pad with
    ``F.pad`` in that mode before a convolution without padding (as PyTorch does).

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv import nn
    >>> conv = nn.Conv2d(1, 4, 3, padding=1)
    >>> conv(tc.ones(2, 1, 8, 8)).shape
    (2, 4, 8, 8)
    >>> nn.Conv2d(1, 4, 3, padding=2, padding_mode="reflect")(tc.ones(2, 1, 8, 8)).shape
    (2, 4, 10, 10)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair, stride: IntPair = 1,
                 padding: IntPair | str = 0, dilation: IntPair = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", dtype: Any = None) -> None:
        super().__init__()
        self._common(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, padding_mode)
        if padding == "same" and any(s != 1 for s in self.stride):
            raise ValueError("Conv2d: padding='same' is not supported for strided convolutions "
                             f"(stride={self.stride}); give the padding as numbers")
        kh, kw = self.kernel_size
        self.weight = Parameter(_empty(out_channels, in_channels // groups, kh, kw, dtype=dtype))
        if bias:
            self.bias = Parameter(_empty(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def forward(self, input: Tensor) -> Tensor:
        if self.padding_mode != "zeros":
            padded = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return F.conv2d(padded, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return self._settings()


class ConvTranspose2d(_ConvNd):
    """2-d transposed convolution (the adjoint of Conv2d), as ``torch.nn.ConvTranspose2d``.

    ``weight`` is (in_channels, out_channels/groups, kh, kw). Pass ``output_size`` to forward to
    pick the output padding that gives that size.

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv import nn
    >>> up = nn.ConvTranspose2d(4, 1, 2, stride=2)
    >>> up(tc.ones(2, 4, 4, 4)).shape
    (2, 1, 8, 8)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: IntPair, stride: IntPair = 1,
                 padding: IntPair = 0, output_padding: IntPair = 0, groups: int = 1, bias: bool = True,
                 dilation: IntPair = 1, padding_mode: str = "zeros", dtype: Any = None) -> None:
        super().__init__()
        if padding_mode != "zeros":
            # PyTorch's error: a transposed conv's padding removes outputs, it adds no input values.
            raise ValueError('Only "zeros" padding mode is supported for ConvTranspose2d '
                             f"(got padding_mode={padding_mode!r})")
        if isinstance(padding, str):
            raise ValueError(f"ConvTranspose2d: padding must be numbers, got {padding!r}")
        self._common(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, padding_mode)
        self.output_padding = _pair(output_padding, "output_padding", "ConvTranspose2d")
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if not 0 <= op < max(s, d):
                raise ValueError(f"ConvTranspose2d: output_padding {self.output_padding} must be smaller "
                                 f"than stride {self.stride} or dilation {self.dilation}")
        kh, kw = self.kernel_size
        self.weight = Parameter(_empty(in_channels, out_channels // groups, kh, kw, dtype=dtype))
        if bias:
            self.bias = Parameter(_empty(out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def _output_padding(self, input: Tensor, output_size: Any) -> tuple[int, int]:
        if output_size is None:
            return self.output_padding
        size = tuple(output_size)[-2:]
        if len(size) != 2:
            raise ValueError(f"ConvTranspose2d: output_size must end with (H, W), got {output_size!r}")
        pads = []
        assert not isinstance(self.padding, str)
        for i in range(2):
            smallest = ((input.shape[-2 + i] - 1) * self.stride[i] - 2 * self.padding[i]
                        + self.dilation[i] * (self.kernel_size[i] - 1) + 1)
            largest = smallest + max(self.stride[i], self.dilation[i]) - 1
            if not smallest <= size[i] <= largest:
                raise ValueError(f"ConvTranspose2d: requested output size {tuple(size)} is impossible for "
                                 f"input {input.shape}: dim {i} must be between {smallest} and {largest}")
            pads.append(size[i] - smallest)
        return pads[0], pads[1]

    def forward(self, input: Tensor, output_size: Any = None) -> Tensor:
        return F.conv_transpose2d(input, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(input, output_size), self.groups, self.dilation)

    def extra_repr(self) -> str:
        return self._settings(self.output_padding)


# ---------------------------------------------------------------------------------- pooling
class MaxPool2d(Module):
    """Max over windows, as ``torch.nn.MaxPool2d`` (stride defaults to kernel_size)."""

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
                 dilation: IntPair = 1, return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def forward(self, input: Tensor) -> Any:
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                            ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxUnpool2d(Module):
    """The partial inverse of MaxPool2d, as ``torch.nn.MaxUnpool2d``: each value goes to the
    position its index names, the rest is zero (stride defaults to kernel_size).

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv import nn
    >>> x = tc.Tensor([[[[1.0, 2.0], [4.0, 3.0]]]])
    >>> y, idx = nn.MaxPool2d(2, return_indices=True)(x)
    >>> nn.MaxUnpool2d(2)(y, idx).tolist()
    [[[[0.0, 0.0], [4.0, 0.0]]]]
    """

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0) -> None:
        super().__init__()
        layer = "MaxUnpool2d"
        self.kernel_size = _pair(kernel_size, "kernel_size", layer)
        self.stride = _pair(stride if stride is not None else kernel_size, "stride", layer)
        self.padding = _pair(padding, "padding", layer)

    def forward(self, input: Tensor, indices: Tensor, output_size: Any = None) -> Tensor:
        return F.max_unpool2d(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(Module):
    """Mean over windows, as ``torch.nn.AvgPool2d``."""

    def __init__(self, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Mean over windows chosen so the output is ``output_size``, as ``torch.nn.AdaptiveAvgPool2d``."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


# ---------------------------------------------------------------------------------- reshaping, dropout
class Flatten(Module):
    """Flatten dims ``start_dim..end_dim`` into one (by default all but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:
        return F.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Dropout(Module):
    """Zero each element with probability ``p`` during training and scale the rest by 1/(1-p);
    the identity in eval mode."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p}")
        self.p, self.inplace = float(p), inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


# ---------------------------------------------------------------------------------- batch norm
class _BatchNorm(Module):
    weight: Parameter | None
    bias: Parameter | None
    running_mean: Tensor | None
    running_var: Tensor | None
    num_batches_tracked: Tensor | None
    _expected_dims: tuple[int, ...] = ()
    _shape_text = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, dtype: Any = None) -> None:
        super().__init__()
        self.num_features = _positive(num_features, "num_features", type(self).__name__)
        self.eps, self.momentum = float(eps), momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=dtype or get_default_dtype()))
            self.bias = Parameter(np.zeros(num_features, dtype=dtype or get_default_dtype()))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype=dtype or get_default_dtype())))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype=dtype or get_default_dtype())))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        rm, rv, nbt = self.running_mean, self.running_var, self.num_batches_tracked
        if rm is not None and rv is not None and nbt is not None:
            with no_grad():
                rm.zero_()
                rv.fill_(1.0)
                nbt.zero_()

    def forward(self, input: Tensor) -> Tensor:
        name = type(self).__name__
        if input.ndim not in self._expected_dims:
            raise ValueError(f"{name}: expected a {self._shape_text} input, got shape {input.shape}")
        if input.shape[1] != self.num_features:
            raise ValueError(f"{name}: input has {input.shape[1]} channels (dim 1 of {input.shape}) but "
                             f"the layer was built for num_features={self.num_features}")
        dims = (0, *range(2, input.ndim))
        bshape = (1, self.num_features) + (1,) * (input.ndim - 2)
        rm, rv = self.running_mean, self.running_var
        if self.training or rm is None or rv is None:
            count = input.numel() // self.num_features
            if count <= 1 and self.training:
                raise ValueError(f"{name}: expected more than 1 value per channel when training, got "
                                 f"input of shape {input.shape}")
            mean = input.mean(dim=dims, keepdim=True)
            centered = input - mean
            var = (centered * centered).mean(dim=dims, keepdim=True)
            if self.training and rm is not None and rv is not None:
                self._update_running(rm, rv, mean, var, count)
        else:
            centered = input - rm.reshape(bshape)
            var = rv.reshape(bshape)
        out = centered / (var + self.eps).sqrt()
        if self.weight is not None and self.bias is not None:
            out = out * self.weight.reshape(bshape) + self.bias.reshape(bshape)
        return out

    def _update_running(self, running_mean: Tensor, running_var: Tensor, mean: Tensor, var: Tensor,
                        count: int) -> None:
        """running = (1 - m) * running + m * batch, with the unbiased variance (as PyTorch)."""
        m = float(self.momentum) if self.momentum is not None else 0.0
        nbt = self.num_batches_tracked
        if nbt is not None:
            nbt._data += 1
            nbt._vbox[0] += 1
            if self.momentum is None:  # a cumulative average over all batches so far
                m = 1.0 / float(nbt.item())
        rm, rv = running_mean._data, running_var._data
        batch_mean = mean._data.reshape(-1).astype(rm.dtype, copy=False)
        batch_var = var._data.reshape(-1).astype(rv.dtype, copy=False) * (count / (count - 1))
        rm *= 1.0 - m
        rm += m * batch_mean
        rv *= 1.0 - m
        rv += m * batch_var
        running_mean._vbox[0] += 1
        running_var._vbox[0] += 1

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W): per channel, normalise with the batch's mean and
    (biased) variance in training, and with the running statistics in eval mode; the running
    variance is updated with the unbiased batch variance, as PyTorch.

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv import nn
    >>> bn = nn.BatchNorm2d(3)
    >>> y = bn(tc.randn(4, 3, 5, 5))
    >>> int(bn.num_batches_tracked.item()), y.shape
    (1, (4, 3, 5, 5))
    """

    _expected_dims = (4,)
    _shape_text = "4-d (N, C, H, W)"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L) inputs, as ``torch.nn.BatchNorm1d``."""

    _expected_dims = (2, 3)
    _shape_text = "2-d (N, C) or 3-d (N, C, L)"


# ---------------------------------------------------------------------------------- activations
class ReLU(Module):
    """max(x, 0), elementwise (``inplace=True`` overwrites the input with the result)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class ReLU6(Module):
    """min(max(x, 0), 6), elementwise."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.relu6(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """x where x > 0, else negative_slope * x."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope, inplace=self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    """x where x > 0, else alpha * (exp(x) - 1)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.elu(input, self.alpha, inplace=self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    """x * Phi(x) (``approximate='tanh'`` for the tanh formula)."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x * sigmoid(x)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.silu(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Softplus(Module):
    """log(1 + exp(beta * x)) / beta, linear above ``threshold``."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input: Tensor) -> Tensor:
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(Module):
    """x clipped to [min_val, max_val]."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.hardtanh(input, self.min_val, self.max_val, inplace=self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")


class Sigmoid(Module):
    """1 / (1 + exp(-x))."""

    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)


class Tanh(Module):
    """tanh(x)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input)


def _implicit_softmax_dim(dim: int | None, input: Tensor, name: str) -> int:
    """PyTorch's legacy choice when no dim is given: 0 for 0-, 1- and 3-d inputs, else 1 (with its warning)."""
    if dim is not None:
        return dim
    import warnings

    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include "
                  "dim=X as an argument.", stacklevel=3)
    return 0 if input.ndim in (0, 1, 3) else 1


class Softmax(Module):
    """Softmax along ``dim``."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.softmax(input, _implicit_softmax_dim(self.dim, input, "softmax"))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """Log-softmax along ``dim``."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.log_softmax(input, _implicit_softmax_dim(self.dim, input, "log_softmax"))

    def extra_repr(self) -> str:
        return f"dim={self.dim}"

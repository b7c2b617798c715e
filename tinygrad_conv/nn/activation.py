"""Activation modules added for issue 15: SELU, CELU, Mish, Hardswish, Hardsigmoid, PReLU, LogSigmoid,
Softsign and GLU, each calling the function of the same name in :mod:`tinygrad_conv.functional`.

(ReLU, LeakyReLU, ELU, GELU, SiLU, Softplus, Hardtanh, ReLU6, Sigmoid, Tanh, Softmax and LogSoftmax
live in :mod:`tinygrad_conv.nn.layers`.)

>>> import tinygrad_conv as tc
>>> from tinygrad_conv import nn
>>> nn.Hardswish()(tc.Tensor([-4.0, 1.5, 4.0])).tolist()
[-0.0, 1.125, 4.0]
>>> act = nn.PReLU(3)
>>> act(tc.ones(2, 3, 4)).shape, act.weight.shape
((2, 3, 4), (3,))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ..dtypes import get_default_dtype
from ..tensor import Tensor
from .module import Module, Parameter


class _InplaceActivation(Module):
    """An activation with only PyTorch's ``inplace=`` setting."""

    _fn = ""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return getattr(F, self._fn)(input, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class SELU(_InplaceActivation):
    """scale * elu(x, alpha) with SELU's constants (see ``functional.selu``)."""

    _fn = "selu"


class Mish(_InplaceActivation):
    """x * tanh(softplus(x))."""

    _fn = "mish"


class Hardswish(_InplaceActivation):
    """x * relu6(x + 3) / 6."""

    _fn = "hardswish"

    def extra_repr(self) -> str:
        return ""  # PyTorch's Hardswish does not show inplace


class Hardsigmoid(_InplaceActivation):
    """relu6(x + 3) / 6."""

    _fn = "hardsigmoid"

    def extra_repr(self) -> str:
        return ""  # PyTorch's Hardsigmoid does not show inplace


class CELU(Module):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1))."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.celu(input, self.alpha, inplace=self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class PReLU(Module):
    """x where x > 0, else a * x, with a learnable slope ``a``: one shared (``num_parameters=1``) or
    one per channel (dim 1 of the input), each starting at ``init``, as ``torch.nn.PReLU``."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, dtype: Any = None) -> None:
        super().__init__()
        if isinstance(num_parameters, bool) or not isinstance(num_parameters, (int, np.integer)) \
                or num_parameters < 1:
            raise ValueError(f"PReLU: num_parameters must be a positive integer, got {num_parameters!r}")
        self.num_parameters, self.init = int(num_parameters), float(init)
        self.weight = Parameter(np.full(self.num_parameters, self.init, dtype=dtype or get_default_dtype()))

    def reset_parameters(self) -> None:
        self.weight._data[...] = self.init

    def forward(self, input: Tensor) -> Tensor:
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class LogSigmoid(Module):
    """log(1 / (1 + exp(-x))), stable for any x."""

    def forward(self, input: Tensor) -> Tensor:
        return F.logsigmoid(input)


class Softsign(Module):
    """x / (1 + |x|)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.softsign(input)


class GLU(Module):
    """a * sigmoid(b) for the two halves a, b of the input along ``dim``."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"

"""``torch.nn.functional``-style entry points over the registered ops.

Built-in ops are imported by name below (so editors and type checkers see them); an op a user
registers later with ``functional=True`` is found through the registry by ``__getattr__``.

>>> import tinygrad_conv as tc
>>> import tinygrad_conv.functional as F
>>> F.softmax(tc.Tensor([0.0, 0.0]), dim=0).tolist()
[0.5, 0.5]
"""

from __future__ import annotations

from typing import Any

from .ops.activation import dropout, elu, gelu, hardtanh, leaky_relu, relu, relu6, silu, softplus
from .ops.conv import conv2d, conv2d_weight_grad, conv_transpose2d
from .ops.elementwise import abs, add, clamp, div, exp, log, maximum, minimum, mul, neg, sigmoid, sqrt, sub, tanh, where
from .ops.elementwise import pow as pow
from .ops.matmul import matmul
from .ops.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d, max_unpool2d
from .ops.reduce import log_softmax, logsumexp, max, mean, min, softmax, sum, var
from .ops.registry import functional_ops
from .ops.shape import cat, expand, flatten, pad, permute, reshape, squeeze, stack, transpose, unsqueeze, view

__all__ = ["abs", "add", "cat", "clamp", "conv2d", "conv2d_weight_grad", "conv_transpose2d", "div", "exp", "expand", "flatten", "log", "log_softmax",
           "logsumexp", "matmul", "max", "maximum", "mean", "min", "minimum", "mul", "neg", "pad",
           "permute", "pow", "reshape", "sigmoid", "softmax", "sqrt", "squeeze", "stack", "sub", "sum",
           "tanh", "transpose", "unsqueeze", "var", "view", "where"]


def __getattr__(name: str) -> Any:
    ops = functional_ops()
    if name in ops:
        return ops[name]
    raise AttributeError(f"module 'tinygrad_conv.functional' has no attribute '{name}' "
                         f"(registered ops: {', '.join(sorted(ops))})")


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(functional_ops()))

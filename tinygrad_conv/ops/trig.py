"""Trigonometric ops: sin and cos, each the other's derivative (so both differentiate to any order).

>>> import tinygrad_conv as tc
>>> x = tc.tensor([0.0, 1.5707964], requires_grad=True)
>>> x.sin().sum().backward()
>>> [round(v, 4) for v in x.grad.tolist()]
[1.0, -0.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.function import Context, Function
from ..tensor import Tensor
from .elementwise import _float_input
from .registry import register
from .samples import unary


@register("sin", samples=unary(), reference=lambda torch, a: torch.sin(a))
class Sin(Function):
    """sin(a); backward is g cos(a). Integer inputs give the default float dtype, as PyTorch."""

    array_forward = True

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return np.sin(_float_input(a))

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        (a,) = ctx.saved_tensors
        return g * Cos.apply(a)


@register("cos", samples=unary(), reference=lambda torch, a: torch.cos(a))
class Cos(Function):
    """cos(a); backward is -g sin(a)."""

    array_forward = True

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return np.cos(_float_input(a))

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        (a,) = ctx.saved_tensors
        return -(g * Sin.apply(a))


sin, cos = Sin.apply, Cos.apply

"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay."""

from __future__ import annotations

from typing import Any

import numpy as np

from .optimizer import Optimizer, ParamsT, decayed_grad


class SGD(Optimizer):
    """SGD with PyTorch's exact update rule.

    With g the gradient (negated when ``maximize``), per step::

        g = g + weight_decay * p
        b = g                                    (first step)
        b = momentum * b + (1 - dampening) * g   (later steps)
        g = g + momentum * b if nesterov else b  (when momentum != 0)
        p = p - lr * g

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv import optim
    >>> w = tc.Tensor([1.0, -2.0], requires_grad=True)
    >>> opt = optim.SGD([w], lr=0.1, momentum=0.9)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> w.tolist()
    [0.800000011920929, -1.600000023841858]
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False, fused: bool | None = None) -> None:
        # foreach and fused choose PyTorch's kernels (batched over parameters, or one fused kernel),
        # not the numbers: accepted and kept in the groups, as PyTorch's, and otherwise ignored.
        # differentiable=True is refused (see Optimizer._check_group).
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                                      foreach=foreach, differentiable=differentiable, fused=fused))

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        if group["momentum"] < 0:
            raise ValueError(f"SGD: invalid momentum {group['momentum']} (must be >= 0)")
        if group["weight_decay"] < 0:
            raise ValueError(f"SGD: invalid weight_decay {group['weight_decay']} (must be >= 0)")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: nesterov momentum needs momentum > 0 and dampening = 0")

    def _update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        g = decayed_grad(group, param, grad)
        momentum = group["momentum"]
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(g, copy=True)
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * g
            g = g + momentum * buf if group["nesterov"] else buf
        param -= group["lr"] * g

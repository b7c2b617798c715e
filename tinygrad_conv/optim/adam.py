"""Adam and AdamW, with PyTorch's exact formulas (bias correction, eps added after the square root)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .optimizer import Optimizer, ParamsT, lerp_


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015) as PyTorch computes it. Per step t, with g the gradient::

        g = g + weight_decay * p                    (L2 penalty; with decoupled_weight_decay=True,
                                                     as AdamW, p = p * (1 - lr * weight_decay) instead)
        m = m + (1 - beta1) * (g - m)
        v = beta2 * v + (1 - beta2) * g * g
        v_hat = max(v_hat, v) if amsgrad else v
        p = p - lr / (1 - beta1**t) * m / (sqrt(v_hat) / sqrt(1 - beta2**t) + eps)

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv import optim
    >>> w = tc.Tensor([1.0, -2.0], requires_grad=True)
    >>> opt = optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 4) for v in w.tolist()]   # the first Adam step moves each weight by about lr
    [0.9, -1.9]
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False) -> None:
        # foreach and fused choose PyTorch's kernels, not the numbers: accepted, kept in the groups
        # as PyTorch's, and otherwise ignored. capturable=True (CUDA graphs) and differentiable=True
        # are refused with the reason (see Optimizer). decoupled_weight_decay=True is AdamW's decay.
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, foreach=foreach, maximize=maximize,
                                      capturable=capturable, differentiable=differentiable, fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        name = type(self).__name__
        b1, b2 = group["betas"]
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"{name}: betas must be in [0, 1), got {tuple(group['betas'])}")
        if group["eps"] < 0:
            raise ValueError(f"{name}: invalid eps {group['eps']} (must be >= 0)")
        if group["weight_decay"] < 0:
            raise ValueError(f"{name}: invalid weight_decay {group['weight_decay']} (must be >= 0)")

    def _update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(param)
            state["exp_avg_sq"] = np.zeros_like(param)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(param)
        state["step"] += 1
        step = state["step"]
        g = -grad if group["maximize"] else grad
        if wd != 0:
            if group["decoupled_weight_decay"]:
                param *= 1 - lr * wd
            else:
                g = g + wd * param
        m, v = state["exp_avg"], state["exp_avg_sq"]
        lerp_(m, g, 1 - beta1)
        v *= beta2
        v += (1 - beta2) * (g * g)
        if group["amsgrad"]:
            np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        bias_correction1 = 1 - beta1 ** step
        bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
        step_size = lr / bias_correction1
        denom = np.sqrt(v) / bias_correction2_sqrt
        denom += eps
        param -= step_size * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): each step first shrinks the
    parameters, ``p = p * (1 - lr * weight_decay)``, then takes the Adam step without the L2 term.
    The default ``weight_decay`` is 0.01, as PyTorch's.
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

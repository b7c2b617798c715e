"""Adadelta with PyTorch's update rule, signature and defaults.

PyTorch's kernel-choice flags are accepted: ``foreach`` and ``fused`` pick how PyTorch batches
the same arithmetic, so they are kept in the parameter groups (as PyTorch's) and otherwise
ignored. ``capturable=True`` (step counts kept on a CUDA device for CUDA graphs) is refused at
``step()``, as PyTorch refuses it for CPU tensors; ``differentiable=True`` is refused because the
update is not recorded on the tape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .optimizer import Optimizer, ParamsT, check_non_negative, decayed_grad


class Adadelta(Optimizer):
    """Adadelta (Zeiler, 2012) as PyTorch computes it, with PyTorch's ``lr`` scaling the step::

        g = g + weight_decay * p
        v = rho * v + (1 - rho) * g * g
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta * delta
        p = p - lr * delta

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv import optim
    >>> w = tc.Tensor([1.0, -2.0], requires_grad=True)
    >>> opt = optim.Adadelta([w])
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 5) for v in w.tolist()]   # Adadelta's first steps are tiny: sqrt(eps) / sqrt(v)
    [0.99684, -1.99684]
    """

    def __init__(self, params: ParamsT, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, foreach: bool | None = None, *, capturable: bool = False,
                 maximize: bool = False, differentiable: bool = False) -> None:
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                                      capturable=capturable, foreach=foreach, differentiable=differentiable))

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        if not 0.0 <= group["rho"] <= 1.0:
            raise ValueError(f"Adadelta: invalid rho {group['rho']} (must be in [0, 1])")
        check_non_negative("Adadelta", group, "eps", "weight_decay")

    def _update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(param)
            state["acc_delta"] = np.zeros_like(param)
        state["step"] += 1
        rho, eps = group["rho"], group["eps"]
        g = decayed_grad(group, param, grad)
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        square_avg *= rho
        square_avg += (1 - rho) * g * g
        std = np.sqrt(square_avg + eps)
        delta = np.sqrt(acc_delta + eps)
        delta /= std
        delta *= g
        acc_delta *= rho
        acc_delta += (1 - rho) * delta * delta
        param -= group["lr"] * delta

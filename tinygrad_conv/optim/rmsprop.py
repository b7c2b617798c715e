"""RMSprop with PyTorch's update rule, signature and defaults.

PyTorch's kernel-choice flags are accepted: ``foreach`` and ``fused`` pick how PyTorch batches
the same arithmetic, so they are kept in the parameter groups (as PyTorch's) and otherwise
ignored. ``capturable=True`` (step counts kept on a CUDA device for CUDA graphs) is refused at
``step()``, as PyTorch refuses it for CPU tensors; ``differentiable=True`` is refused because the
update is not recorded on the tape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .optimizer import Optimizer, ParamsT, check_non_negative, decayed_grad, lerp_


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture notes; centered form from Graves, 2013) as PyTorch computes it.
    Per step, with g the gradient (negated when ``maximize``)::

        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        avg = sqrt(v - m * m) + eps   with m = lerp(m, g, 1 - alpha)   (centered)
        avg = sqrt(v) + eps                                             (otherwise)
        b = momentum * b + g / avg;  p = p - lr * b                    (momentum > 0)
        p = p - lr * g / avg                                            (otherwise)

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv import optim
    >>> w = tc.Tensor([1.0, -2.0], requires_grad=True)
    >>> opt = optim.RMSprop([w], lr=0.01)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 4) for v in w.tolist()]   # the first step moves each weight by lr / sqrt(1 - alpha)
    [0.9, -1.9]
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False, differentiable: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                                      weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable))

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        check_non_negative("RMSprop", group, "eps", "momentum", "weight_decay", "alpha")

    def _update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(param)
            if group["momentum"] > 0:
                state["momentum_buffer"] = np.zeros_like(param)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(param)
        state["step"] += 1
        alpha, lr = group["alpha"], group["lr"]
        g = decayed_grad(group, param, grad)
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * g * g  # addcmul_: (value * g) * g
        if group["centered"]:
            grad_avg = state["grad_avg"]
            lerp_(grad_avg, g, 1 - alpha)
            avg = np.sqrt(square_avg - grad_avg * grad_avg)
        else:
            avg = np.sqrt(square_avg)
        avg += group["eps"]
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf *= group["momentum"]
            buf += g / avg
            param -= lr * buf
        else:
            param -= lr * g / avg  # addcdiv_(g, avg, value=-lr): (value * g) / avg, as PyTorch's kernel

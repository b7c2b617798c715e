"""Adagrad with PyTorch's update rule, signature and defaults.

PyTorch's kernel-choice flags are accepted: ``foreach`` and ``fused`` pick how PyTorch batches
the same arithmetic, so they are kept in the parameter groups (as PyTorch's) and otherwise
ignored; both True at once is refused, as PyTorch refuses it. ``differentiable=True`` is refused
because the update is not recorded on the tape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .optimizer import Optimizer, ParamsT, check_non_negative, decayed_grad


class Adagrad(Optimizer):
    """Adagrad (Duchi et al., 2011) as PyTorch computes it. Per step t (from 1)::

        g = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g                      (s starts at initial_accumulator_value)
        p = p - clr * g / (sqrt(s) + eps)

    As in PyTorch, the state (step 0 and the accumulator) exists from construction, so
    ``state_dict()`` lists it before the first step.

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv import optim
    >>> w = tc.Tensor([1.0, -2.0], requires_grad=True)
    >>> opt = optim.Adagrad([w], lr=0.1)
    >>> (w * w).sum().backward()
    >>> opt.step()
    >>> [round(v, 4) for v in w.tolist()]   # the first step moves each weight by lr
    [0.9, -1.9]
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                                      maximize=maximize, differentiable=differentiable, fused=fused))
        # PyTorch fills every parameter's state here, with the constructor's initial value (a
        # group's own 'initial_accumulator_value' is not read), and lazily in step() only for
        # parameters added later, from the defaults.
        for group in self.param_groups:
            for p in group["params"]:
                self._state[id(p)] = self._initial_state(p._data, initial_accumulator_value)

    @staticmethod
    def _initial_state(param: np.ndarray, value: float) -> dict[str, Any]:
        return {"step": 0, "sum": np.full_like(param, value)}

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        check_non_negative("Adagrad", group, "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    def _update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        if not state:
            state.update(self._initial_state(param, self.defaults["initial_accumulator_value"]))
        state["step"] += 1
        g = decayed_grad(group, param, grad)
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        total = state["sum"]
        total += g * g
        std = np.sqrt(total)
        std += group["eps"]
        param -= clr * g / std

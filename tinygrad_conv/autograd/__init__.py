"""Autograd, as ``torch.autograd``: the tape, grad mode, Function and the backward engine.

``gradcheck`` and ``gradgradcheck`` live with the other checkers in ``tinygrad_conv.testing`` (a
layer above this one); they are reached here through a lazy ``__getattr__`` so that importing
autograd never imports upward.

>>> import tinygrad_conv as tc
>>> x = tc.autograd.Variable(tc.Tensor([2.0]), requires_grad=True)
>>> tc.autograd.grad((x * x).sum(), x)[0].tolist()
[4.0]
"""

from typing import Any

from .engine import backward, grad
from .function import Context, Function, once_differentiable
from .grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .tape import Node, detect_anomaly, is_anomaly_check_nan_enabled, is_anomaly_enabled, set_detect_anomaly
from .variable import Variable

__all__ = ["Context", "Function", "Node", "Variable", "backward", "detect_anomaly", "enable_grad", "functional",
           "grad", "gradcheck", "gradgradcheck", "inference_mode", "is_anomaly_check_nan_enabled",
           "is_anomaly_enabled", "is_grad_enabled", "is_inference_mode_enabled", "no_grad", "once_differentiable",
           "set_detect_anomaly", "set_grad_enabled"]


def __getattr__(name: str) -> Any:
    if name in ("gradcheck", "gradgradcheck"):
        import importlib

        checks = importlib.import_module("tinygrad_conv.testing.gradcheck")  # lazy: a layer above autograd
        return getattr(checks, name)
    raise AttributeError(f"module 'tinygrad_conv.autograd' has no attribute '{name}'")


from . import functional  # noqa: E402  (last: it builds on everything above)

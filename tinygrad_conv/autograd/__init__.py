"""Autograd: the tape, grad mode, Function and the backward engine."""

from .engine import backward, grad
from .function import Context, Function
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .tape import Node, detect_anomaly

__all__ = ["Context", "Function", "Node", "backward", "detect_anomaly", "enable_grad", "functional", "grad",
           "is_grad_enabled", "no_grad", "set_grad_enabled"]

from . import functional  # noqa: E402  (last: it builds on everything above)

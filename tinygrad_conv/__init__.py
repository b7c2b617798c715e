"""tinygrad_conv: a small, fast, honest autograd framework on NumPy, built around convolutions.

>>> import tinygrad_conv as tc
>>> x = tc.Tensor([1.0, -2.0, 3.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad.tolist()
[2.0, -4.0, 6.0]
"""

from . import autograd  # noqa: I001  (the tape first, then the tensor and the ops that register)
from .tensor import Tensor, ones, ones_like, randn, tensor, zeros, zeros_like
from .autograd import (Context, Function, backward, detect_anomaly, enable_grad, grad, is_grad_enabled,
                       no_grad, set_grad_enabled)
from . import ops
from . import functional
from . import testing
from .testing.gradcheck import gradcheck, gradgradcheck

float32 = __import__("numpy").float32
float64 = __import__("numpy").float64

__all__ = ["Context", "Function", "Tensor", "autograd", "backward", "detect_anomaly", "enable_grad", "float32",
           "float64", "functional", "grad", "gradcheck", "gradgradcheck", "is_grad_enabled", "no_grad",
           "ones", "ones_like", "ops", "randn", "set_grad_enabled", "tensor", "testing", "zeros", "zeros_like"]
__version__ = "0.1.0"

"""tinygrad_conv: a small, fast, honest autograd framework on NumPy, built around convolutions.

>>> import tinygrad_conv as tc
>>> x = tc.Tensor([1.0, -2.0, 3.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad.tolist()
[2.0, -4.0, 6.0]
"""

# Import order follows the layers: the tape, the tensor, the ops that register themselves, then
# everything built on them.
from . import autograd  # noqa: I001
from .tensor import Tensor, ones, ones_like, randn, tensor, zeros, zeros_like
from .autograd import (Context, Function, backward, detect_anomaly, enable_grad, grad, is_grad_enabled,
                       no_grad, set_grad_enabled)
from . import ops
from . import functional
from . import data, nn, optim
from . import utils
from .io import load, save
from .kernels.parallel import get_num_threads, set_num_threads
from . import random
from .random import manual_seed
from . import testing
from . import viz
from .testing.gradcheck import gradcheck, gradgradcheck

import numpy as _np

float32 = _np.float32
float64 = _np.float64


__all__ = ["Context", "Function", "Tensor", "autograd", "backward", "data", "detect_anomaly", "enable_grad", "float32",
           "float64", "functional", "get_num_threads", "grad", "gradcheck", "gradgradcheck", "is_grad_enabled", "load",
           "manual_seed", "nn", "no_grad", "ones", "ones_like", "ops", "optim", "randn", "random", "save",
           "set_grad_enabled", "set_num_threads", "tensor", "testing", "utils", "viz", "zeros", "zeros_like"]
__version__ = "0.1.0"

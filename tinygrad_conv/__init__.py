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
from .tensor import Tensor
from .dtypes import (bool_ as bool, can_cast, float16, float16 as half, float32, float32 as float, float64,
                     float64 as double, get_default_dtype, int8, int16, int16 as short, int32, int32 as int, int64,
                     int64 as long, promote_types, result_type, set_default_dtype, uint8)
from .factories import (arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like, linspace, ones,
                        ones_like, rand, rand_like, randint, randint_like, randn, randn_like, tensor, zeros, zeros_like)
from .autograd import (Context, Function, backward, detect_anomaly, enable_grad, grad, inference_mode,
                       is_anomaly_enabled, is_grad_enabled, is_inference_mode_enabled, no_grad, set_detect_anomaly,
                       set_grad_enabled)
from . import ops
from . import functional
from .device import device
from . import accelerator, backends, cuda
from .torch_functions import (abs, allclose, argmax, argmin, bmm, cat, chunk, clamp, clip, concat, concatenate, cos,
                              einsum, eq, exp, flatten, flip, gather, ge, gt, le, log, lt, matmul, max, maximum, mean,
                              min, minimum, mm, ne, norm, numel, permute, reshape, scatter, scatter_add, sigmoid, sin,
                              split, sqrt, squeeze, stack, std, sum, t, tanh, transpose, unsqueeze, var, where)
from . import torch_functions
from . import data, nn, optim
from . import utils
from .io import load, save
from .kernels.parallel import get_num_threads, set_num_threads
from . import random
from .random import manual_seed
from . import testing
from . import viz
from .testing.gradcheck import gradcheck, gradgradcheck


__all__ = ["Context", "Function", "Tensor", "arange", "as_tensor", "autograd", "backward", "bool", "can_cast", "data",
           "detect_anomaly", "double", "empty", "empty_like", "enable_grad", "eye", "float", "float16", "float32",
           "float64", "from_numpy", "full", "full_like", "functional", "get_default_dtype", "get_num_threads", "grad",
           "gradcheck", "gradgradcheck", "half", "inference_mode", "int", "int16", "int32", "int64", "int8",
           "is_anomaly_enabled", "is_grad_enabled", "is_inference_mode_enabled", "set_detect_anomaly",
           "linspace", "load", "long", "manual_seed", "nn", "no_grad", "ones", "ones_like", "ops", "optim",
           "promote_types", "rand", "rand_like", "randint", "randint_like", "randn", "randn_like", "random",
           "result_type", "save", "set_default_dtype", "set_grad_enabled", "set_num_threads", "short", "tensor",
           "testing", "uint8", "utils", "viz", "zeros", "zeros_like",
           # devices (the CPU only) and the torch.* functions that mirror Tensor methods
           "accelerator", "backends", "cuda", "device", "torch_functions", "abs", "allclose", "argmax", "argmin",
           "bmm", "cat", "chunk", "clamp", "clip", "concat", "concatenate", "cos", "einsum", "eq", "exp", "flatten",
           "flip", "gather", "ge", "gt", "le", "log", "lt", "matmul", "max", "maximum", "mean", "min", "minimum", "mm",
           "ne", "norm", "numel", "permute", "reshape", "scatter", "scatter_add", "sigmoid", "sin", "split", "sqrt",
           "squeeze", "stack", "std", "sum", "t", "tanh", "transpose", "unsqueeze", "var", "where"]
__version__ = "0.1.0"

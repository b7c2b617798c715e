"""An activation's forward values must not depend on whether a backward will run: several ops take
a fused no-grad kernel, or keep an intermediate (silu's sigmoid, log_softmax's softmax) only when
recording. PyTorch gives the same values either way, so a model evaluated under no_grad matches
its training forward bit for bit. Needs no torch."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_conv as tc
import tinygrad_conv.functional as F

OPS = {
    "silu": F.silu,
    "gelu": F.gelu,
    "gelu tanh": lambda x: F.gelu(x, approximate="tanh"),
    "sigmoid": lambda x: x.sigmoid(),
    "elu": F.elu,
    "selu": F.selu,
    "celu": lambda x: F.celu(x, 0.7),
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
    "leaky_relu slope 3": lambda x: F.leaky_relu(x, 3.0),
    "prelu": lambda x: F.prelu(x, tc.Tensor(np.array([0.1, 0.5, -0.3, 0.25, 1.0, 0.01], dtype=x.dtype))),
    "prelu slopes above 1": lambda x: F.prelu(x, tc.Tensor(np.array([1.5, 2.0, 3.0, 1.1, 4.0, 9.0], dtype=x.dtype))),
    "prelu one slope": lambda x: F.prelu(x, tc.Tensor(np.array([0.25], dtype=x.dtype))),
    "hardswish": F.hardswish,
    "hardsigmoid": F.hardsigmoid,
    "softplus": F.softplus,
    "logsigmoid": F.logsigmoid,
    "mish": F.mish,
    "glu": lambda x: F.glu(x, 1),
    "softmax": lambda x: F.softmax(x, dim=1),
    "log_softmax": lambda x: F.log_softmax(x, dim=1),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [30, 70_000], ids=["small", "blocked"])
@pytest.mark.parametrize("name", list(OPS))
def test_forward_is_the_same_with_and_without_grad(name, n, dtype) -> None:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, 6, n)) * 5).astype(dtype)
    x[0, 0, :6] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30]
    with np.errstate(all="ignore"), tc.no_grad():
        plain = OPS[name](tc.Tensor(x)).numpy()
    with np.errstate(all="ignore"):
        recorded = OPS[name](tc.Tensor(x, requires_grad=True))
    assert recorded.requires_grad
    np.testing.assert_array_equal(recorded.detach().numpy(), plain)

"""leaky_relu's plain path (np.where, for floats without a bit-select kernel such as long double)
gives what the fast path and PyTorch give: values, NaN, -0.0 and the slope as gradient at 0 and NaN."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tinygrad_conv as tc
import tinygrad_conv.functional as F

X = np.array([-2.5, -0.0, 0.0, np.nan, 1e-30, 3.0, -np.inf, np.inf])


@pytest.fixture
def torch() -> Any:
    return pytest.importorskip("torch")


def _values_and_grad(x: np.ndarray, slope: float, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = tc.Tensor(x, requires_grad=True)
    y = F.leaky_relu(t, slope)
    y.backward(tc.Tensor(g.astype(x.dtype)))
    return y.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize("slope", [0.01, 0.3, -2.0])
def test_long_double_takes_np_where_and_agrees_with_float64_and_pytorch(slope, torch):
    if np.dtype(np.longdouble).itemsize in (2, 4, 8):
        pytest.skip("long double is float64 on this platform")
    g = np.random.default_rng(0).standard_normal(X.shape)
    y_ld, gx_ld = _values_and_grad(X.astype(np.longdouble), slope, g)
    assert y_ld.dtype == np.longdouble and gx_ld.dtype == np.longdouble
    y64, gx64 = _values_and_grad(X, slope, g)
    tx = torch.tensor(X, requires_grad=True)
    ty = torch.nn.functional.leaky_relu(tx, slope)
    ty.backward(torch.tensor(g))
    for ours in (y_ld.astype(np.float64), y64):
        np.testing.assert_array_equal(ours, ty.detach().numpy())
        np.testing.assert_array_equal(np.signbit(ours), np.signbit(ty.detach().numpy()))  # -0.0 kept
    for ours in (gx_ld.astype(np.float64), gx64):
        np.testing.assert_allclose(ours, tx.grad.numpy(), rtol=1e-15, atol=0)

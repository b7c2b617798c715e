"""softmax and log_softmax (ops/reduce.py) on the shapes their in-place array passes must still
handle: a 0-d input (NumPy reduces a 0-d array to a scalar, not an array) and an empty dimension
along which they normalise. Values, first and second gradients against PyTorch, with random
upstream gradients."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_conv as tc
import tinygrad_conv.functional as F


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


SHAPES = [((), 0), ((), -1), ((0, 3), 0), ((2, 0), 1), ((0, 3), 1), ((4,), 0)]


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,dim", SHAPES)
def test_values_and_gradients_match_torch(torch, name, dtype, shape, dim) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    ours = tc.Tensor(x, requires_grad=True)
    y = getattr(F, name)(ours, dim=dim)
    y.backward(tc.Tensor(g))
    theirs = torch.tensor(x, requires_grad=True)
    ty = getattr(torch.nn.functional, name)(theirs, dim=dim)
    ty.backward(torch.tensor(g))
    assert y.shape == tuple(ty.shape) and y.dtype == np.dtype(dtype) and ours.grad.shape == shape
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-6, atol=1e-6)
    with tc.no_grad():  # the forward without a recorded backward takes its own branch in log_softmax
        np.testing.assert_allclose(getattr(F, name)(tc.Tensor(x), dim=dim).numpy(), ty.detach().numpy(),
                                   rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,dim", [((), 0), ((3,), 0)])
def test_second_derivative_matches_torch(torch, name, shape, dim) -> None:
    rng = np.random.default_rng(1)
    x, g, gg = (rng.standard_normal(shape) for _ in range(3))
    ours, og = tc.Tensor(x, requires_grad=True), tc.Tensor(g, requires_grad=True)
    (dx,) = tc.autograd.grad(getattr(F, name)(ours, dim=dim), ours, og, create_graph=True)
    d2 = tc.autograd.grad(dx, [ours, og], tc.Tensor(gg))
    theirs, tg = torch.tensor(x, requires_grad=True), torch.tensor(g, requires_grad=True)
    (tdx,) = torch.autograd.grad(getattr(torch.nn.functional, name)(theirs, dim=dim), theirs, tg, create_graph=True)
    td2 = torch.autograd.grad(tdx, [theirs, tg], torch.tensor(gg))
    np.testing.assert_allclose(dx.detach().numpy(), tdx.detach().numpy(), rtol=1e-12, atol=1e-12)
    for a, b in zip(d2, td2):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12)


def test_the_backward_ops_take_0d_arrays() -> None:
    """softmax_backward and log_softmax_backward, called directly as registered ops."""
    from tinygrad_conv.ops.reduce import LogSoftmaxBackward, SoftmaxBackward

    g, y = tc.Tensor(np.array(0.7)), tc.Tensor(np.array(1.0))
    assert SoftmaxBackward.apply(g, y, axis=0).item() == 0.0  # y (g - g y) with y = 1
    assert LogSoftmaxBackward.apply(g, tc.Tensor(np.array(0.0)), axis=0).item() == 0.0  # g - exp(0) g

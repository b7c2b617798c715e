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


def _torch_dtype(torch, dtype):
    return {np.float32: torch.float32, np.float64: torch.float64}[dtype]


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("src,dst", [(np.float32, np.float64), (np.float64, np.float32), (np.float64, np.float64)])
def test_dtype_converts_the_input_first_as_torch(torch, name, src, dst) -> None:
    """``dtype=`` (torch.nn.functional's keyword): the result is in ``dtype``, the gradient in the
    input's dtype."""
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((3, 5)) * 4).astype(src)
    g = rng.standard_normal((3, 5)).astype(dst)
    ours = tc.Tensor(x, requires_grad=True)
    y = getattr(F, name)(ours, dim=1, dtype=dst)
    y.backward(tc.Tensor(g))
    theirs = torch.tensor(x, requires_grad=True)
    ty = getattr(torch.nn.functional, name)(theirs, dim=1, dtype=_torch_dtype(torch, dst))
    ty.backward(torch.tensor(g))
    assert y.dtype == np.dtype(dst) and ours.grad.dtype == np.dtype(src)
    tol = 1e-6 if np.float32 in (src, dst) else 1e-12
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape", [(), (4,), (2, 3), (2, 3, 4), (2, 3, 4, 5)])
def test_dim_none_picks_torchs_implicit_dim_with_its_warning(torch, name, shape) -> None:
    """torch.nn.functional's deprecated implicit dim: 0 for 0-, 1- and 3-d input, else 1."""
    rng = np.random.default_rng(3)
    x, g = rng.standard_normal(shape), rng.standard_normal(shape)
    ours = tc.Tensor(x, requires_grad=True)
    with pytest.warns(UserWarning, match=f"Implicit dimension choice for {name} has been deprecated"):
        y = getattr(F, name)(ours)
    y.backward(tc.Tensor(g))
    theirs = torch.tensor(x, requires_grad=True)
    with pytest.warns(UserWarning):
        ty = getattr(torch.nn.functional, name)(theirs)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_signature_is_torchs(torch, name) -> None:
    import inspect

    params = inspect.signature(getattr(F, name)).parameters
    theirs = inspect.signature(getattr(torch.nn.functional, name)).parameters
    assert list(params) == list(theirs)
    assert [p.default for p in params.values()][1:] == [p.default for p in theirs.values()][1:]

"""The fused ``linear`` op (``torch.nn.functional.linear``) that ``nn.Linear`` runs: values and all
three gradients against PyTorch with random upstream gradients, its two backward paths (NumPy
arrays for a plain backward, registered ops under create_graph) equal, double backward, gradcheck,
and errors that name the op and the rule."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_conv as tc
import tinygrad_conv.functional as F
from tinygrad_conv import nn
from tinygrad_conv.testing import gradcheck, gradgradcheck

CASES = [  # input, weight, bias shapes (None: no bias)
    ((32, 256), (128, 256), (128,)),  # the LeNet's first linear layer
    ((32, 128), (10, 128), (10,)),
    ((2, 3, 4), (5, 4), (5,)),
    ((2, 3, 4), (5, 4), None),
    ((4,), (3, 4), (3,)),
    ((3, 4), (2, 4), ()),
    ((2, 3, 4), (2, 4), (3, 2)),  # a bias broadcast over the batch
    ((2, 3, 4), (4,), ()),  # a vector weight: one output feature without its dim
    ((0, 4), (3, 4), (3,)),
]


def _arrays(rng, shapes, dtype):
    return [None if s is None else rng.standard_normal(s).astype(dtype) for s in shapes]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes", CASES)
def test_linear_matches_torch_values_and_gradients(shapes, dtype, torch):
    rng = np.random.default_rng(0)
    arrays = _arrays(rng, shapes, dtype)
    ours = [None if a is None else tc.Tensor(a, requires_grad=True) for a in arrays]
    theirs = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    y = F.linear(*ours)
    ty = torch.nn.functional.linear(*theirs)
    assert y.shape == tuple(ty.shape) and y.dtype == dtype
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), **tol)
    g = rng.standard_normal(y.shape).astype(dtype)
    y.backward(tc.Tensor(g))
    ty.backward(torch.from_numpy(g))
    for a, ta in zip(ours, theirs):
        if a is not None:
            assert a.grad is not None and a.grad.shape == a.shape
            np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), **tol)


@pytest.mark.parametrize("shapes", CASES[2:7])
def test_plain_and_create_graph_backward_agree(shapes):
    """The array path (grad mode off in the rule) and the registered-op path give one gradient."""
    rng = np.random.default_rng(1)
    arrays = _arrays(rng, shapes, np.float64)
    g = tc.Tensor(rng.standard_normal(F.linear(*[None if a is None else tc.Tensor(a) for a in arrays]).shape))
    grads = []
    for create_graph in (False, True):
        ts = [None if a is None else tc.Tensor(a, requires_grad=True) for a in arrays]
        present = [t for t in ts if t is not None]
        grads.append(tc.autograd.grad(F.linear(*ts), present, g, create_graph=create_graph))
    for plain, recorded in zip(*grads):
        np.testing.assert_allclose(plain.detach().numpy(), recorded.detach().numpy(), rtol=1e-13, atol=1e-13)


def test_double_backward_matches_torch(torch):
    rng = np.random.default_rng(2)
    x, w, b = _arrays(rng, [(3, 4), (2, 4), (2,)], np.float64)
    g, v = rng.standard_normal((3, 2)), rng.standard_normal((3, 4))
    ours = [tc.Tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    (gx,) = tc.autograd.grad(F.linear(*ours), [ours[0]], tc.Tensor(g), create_graph=True)
    (tgx,) = torch.autograd.grad(torch.nn.functional.linear(*theirs), [theirs[0]], torch.from_numpy(g),
                                 create_graph=True)
    (gx * tc.Tensor(v)).sum().backward()
    (tgx * torch.from_numpy(v)).sum().backward()
    np.testing.assert_allclose(ours[1].grad.numpy(), theirs[1].grad.numpy(), rtol=1e-12)


def test_gradcheck_and_gradgradcheck():
    rng = np.random.default_rng(3)
    args = [tc.Tensor(a, requires_grad=True) for a in _arrays(rng, [(2, 3, 4), (5, 4), (5,)], np.float64)]
    assert gradcheck(F.linear, args)
    assert gradgradcheck(F.linear, args)


def test_nn_linear_records_one_linear_node():
    layer = nn.Linear(4, 3)
    y = layer(tc.ones(2, 4))
    assert y.grad_fn.name == "linear"
    assert all(not isinstance(e, tuple) for e in y.grad_fn.next)  # straight from the leaves


@pytest.mark.parametrize("args,error,match", [
    (((2, 3), (4, 5), None), ValueError, r"linear: input of shape \(2, 3\) and weight of shape \(4, 5\) cannot be "
                                         r"multiplied: the input's last dim \(3\) must equal in_features"),
    (((), (4, 3), None), ValueError, r"linear: both input and weight need at least 1 dim"),
    (((2, 3), (2, 4, 3), None), ValueError, r"linear: weight must be \(out_features, in_features\) or "
                                            r"\(in_features,\), got shape \(2, 4, 3\)"),
    (((2, 3), (4, 3), (5,)), ValueError, r"linear: bias of shape \(5,\) does not broadcast to the output's "
                                         r"shape \(2, 4\)"),
    (((2, 3), (4, 3), (2, 2, 4)), ValueError, r"bias of shape \(2, 2, 4\) does not broadcast"),
])
def test_errors_name_the_op_and_the_rule(args, error, match, torch):
    rng = np.random.default_rng(4)
    arrays = _arrays(rng, args, np.float32)
    with pytest.raises(error, match=match):
        F.linear(*[None if a is None else tc.Tensor(a) for a in arrays])
    with pytest.raises(RuntimeError):  # PyTorch refuses each of them too
        torch.nn.functional.linear(*[None if a is None else torch.from_numpy(a) for a in arrays])


def test_dtype_mismatch_and_non_tensors_are_refused():
    x = tc.ones(2, 3)
    with pytest.raises(RuntimeError, match="linear: expected input and weight to have the same dtype, but got "
                                           "float32 and float64"):
        F.linear(x, tc.ones(4, 3, dtype=tc.float64))
    with pytest.raises(RuntimeError, match="linear: expected input and bias to have the same dtype"):
        F.linear(x, tc.ones(4, 3), tc.ones(4, dtype=tc.float64))
    with pytest.raises(TypeError, match="linear: argument 'input' must be a Tensor, not list"):
        F.linear([1.0, 2.0, 3.0], tc.ones(4, 3))
    with pytest.raises(TypeError, match="linear: argument 'bias' must be a Tensor, not float"):
        F.linear(x, tc.ones(4, 3), 1.0)

"""cross_entropy's one-op path (class indices, no class weights, no ignored target, 'mean' or 'sum',
with or without label smoothing): values and gradients against PyTorch with random upstream
gradients, its plain and create_graph backward equal, double backward, and the paths around it."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_conv as tc
import tinygrad_conv.ops.loss as L
from tinygrad_conv.testing import gradcheck, gradgradcheck

SHAPES = [((32, 10), (32,)), ((3, 4, 2, 5), (3, 2, 5)), ((7,), ())]


def _case(rng, shape, t_shape, dtype):
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    n_classes = shape[0] if len(shape) == 1 else shape[1]
    return x, rng.integers(0, n_classes, t_shape).astype(np.int64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,t_shape", SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.7])
def test_matches_torch_values_and_gradients(shape, t_shape, reduction, smoothing, dtype, torch):
    rng = np.random.default_rng(0)
    x, t = _case(rng, shape, t_shape, dtype)
    g = np.asarray(rng.standard_normal(), dtype=dtype)  # a random upstream gradient of the 0-d loss
    ours = tc.Tensor(x, requires_grad=True)
    loss = L.cross_entropy(ours, tc.Tensor(t), reduction=reduction, label_smoothing=smoothing)
    assert loss.grad_fn.name == "cross_entropy" and loss.dtype == dtype and loss.shape == ()
    loss.backward(tc.Tensor(g))
    theirs = torch.tensor(x, requires_grad=True)
    tloss = torch.nn.functional.cross_entropy(theirs, torch.from_numpy(t), reduction=reduction,
                                              label_smoothing=smoothing)
    tloss.backward(torch.from_numpy(g))
    tol = {"rtol": 2e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-13}
    np.testing.assert_allclose(loss.item(), tloss.item(), **tol)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), **tol)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_plain_and_create_graph_backward_agree(smoothing):
    rng = np.random.default_rng(1)
    x, t = _case(rng, (5, 4), (5,), np.float64)
    grads = []
    for create_graph in (False, True):
        xt = tc.Tensor(x, requires_grad=True)
        loss = L.cross_entropy(xt, tc.Tensor(t), label_smoothing=smoothing)
        grads.append(tc.autograd.grad(loss, [xt], tc.Tensor(np.asarray(1.7)), create_graph=create_graph)[0])
    np.testing.assert_allclose(grads[0].numpy(), grads[1].detach().numpy(), rtol=1e-14, atol=1e-15)


def test_double_backward_matches_torch(torch):
    rng = np.random.default_rng(2)
    x, t = _case(rng, (4, 3), (4,), np.float64)
    v = rng.standard_normal((4, 3))
    ours = tc.Tensor(x, requires_grad=True)
    (gx,) = tc.autograd.grad(L.cross_entropy(ours, tc.Tensor(t), label_smoothing=0.1), [ours], create_graph=True)
    (gx * tc.Tensor(v)).sum().backward()
    theirs = torch.tensor(x, requires_grad=True)
    (tgx,) = torch.autograd.grad(torch.nn.functional.cross_entropy(theirs, torch.from_numpy(t), label_smoothing=0.1),
                                 [theirs], create_graph=True)
    (tgx * torch.from_numpy(v)).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_gradcheck_and_gradgradcheck():
    rng = np.random.default_rng(3)
    x, t = _case(rng, (3, 4), (3,), np.float64)
    target = tc.Tensor(t)

    def loss(a):
        return L.cross_entropy(a, target, label_smoothing=0.25, reduction="sum")

    assert gradcheck(loss, [tc.Tensor(x, requires_grad=True)])
    assert gradgradcheck(loss, [tc.Tensor(x, requires_grad=True)])


def test_extreme_logits_stay_finite(torch):
    x = np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 0.0]], dtype=np.float32)
    t = np.array([0, 2])
    ours = tc.Tensor(x, requires_grad=True)
    loss = L.cross_entropy(ours, tc.Tensor(t), label_smoothing=0.1)
    loss.backward()
    theirs = torch.tensor(x, requires_grad=True)
    tloss = torch.nn.functional.cross_entropy(theirs, torch.from_numpy(t), label_smoothing=0.1)
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-6)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_other_cases_keep_their_composed_path():
    """Weights, ignored targets and reduction='none' are not the one-op case."""
    rng = np.random.default_rng(4)
    x, t = _case(rng, (5, 4), (5,), np.float32)
    xt, tt = tc.Tensor(x, requires_grad=True), tc.Tensor(t)
    assert L.cross_entropy(xt, tt, reduction="none").grad_fn.name != "cross_entropy"
    assert L.cross_entropy(xt, tt, weight=tc.ones(4)).grad_fn.name != "cross_entropy"
    t_ign = t.copy()
    t_ign[0] = -100
    assert L.cross_entropy(xt, tc.Tensor(t_ign)).grad_fn.name != "cross_entropy"


def test_a_perfect_prediction_gives_positive_zero_as_torch(torch):
    x = np.array([[1000.0, 0.0], [0.0, 1000.0]], dtype=np.float32)
    for reduction in ("mean", "sum"):
        loss = L.cross_entropy(tc.Tensor(x), tc.Tensor([0, 1]), reduction=reduction).item()
        tloss = torch.nn.functional.cross_entropy(torch.from_numpy(x), torch.tensor([0, 1]), reduction=reduction).item()
        assert loss == tloss == 0.0 and np.copysign(1.0, loss) == np.copysign(1.0, tloss) == 1.0

"""sum and mean along dim 0 or -1 of a 0-d tensor, which PyTorch accepts (a 0-d tensor has one
implicit dimension): values, keepdim shapes and gradients with a random upstream gradient.
softmax's backward sums along its dim, so a 0-d softmax differentiates twice through this."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_conv as tc


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("name", ["sum", "mean"])
@pytest.mark.parametrize("dim", [0, -1, (0,)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_a_0d_tensor_reduces_along_dim_0_as_in_torch(torch, name, dim, keepdim) -> None:
    rng = np.random.default_rng(0)
    x, g = rng.standard_normal(()), rng.standard_normal(())
    ours = tc.Tensor(x, requires_grad=True)
    y = getattr(ours, name)(dim=dim, keepdim=keepdim)
    y.backward(tc.Tensor(g))
    theirs = torch.tensor(x, requires_grad=True)
    ty = getattr(theirs, name)(dim=dim, keepdim=keepdim)
    ty.backward(torch.tensor(g))
    assert y.shape == tuple(ty.shape) == ()
    assert y.item() == ty.item() and ours.grad.item() == theirs.grad.item()


def test_a_0d_tensor_still_refuses_dim_1() -> None:
    with pytest.raises(IndexError, match="sum: dim 1 is out of range"):
        tc.Tensor(np.array(1.0)).sum(dim=1)

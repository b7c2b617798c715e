"""``.data``: a detached Tensor that shares storage, as in PyTorch (issue: old programs use it)."""

from __future__ import annotations

from typing import Any

import numpy as np

import tinygrad_conv as tc


def test_data_is_a_detached_tensor_sharing_memory(torch: Any) -> None:
    for lib in (tc, torch):
        w = lib.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
        d = w.data
        assert isinstance(d, lib.Tensor) and not d.requires_grad and d.grad_fn is None
        assert d.size() == w.size() and tuple(d.shape) == (3,)
        d[0] = 10.0                                   # writes w's memory
        assert w.detach().numpy()[0] == 10.0


def test_updates_through_data_match_pytorch_and_do_not_bump_the_version(torch: Any) -> None:
    results = []
    for lib in (tc, torch):
        w = lib.tensor(np.array([1.0, -2.0, 3.0]), requires_grad=True)
        (w * w).sum().backward()
        version = w._version
        w.data -= 0.1 * w.grad                        # the old-style SGD step
        w.data.sub_(0.05 * w.grad.data)
        w.data.mul_(2).add_(1)
        assert w._version == version                  # changes through .data are not counted
        values, idx = lib.max(w.data.view(1, 3), 1)   # torch.max(x.data, 1)
        results.append((w.detach().numpy().copy(), values.numpy(), idx.numpy()))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b)


def test_normal_through_data_keeps_the_leaf_a_leaf() -> None:
    tc.manual_seed(0)
    w = tc.Tensor(np.zeros((200, 50), dtype=np.float32), requires_grad=True)
    w.data.normal_(0.0, 0.02)
    assert w.is_leaf and w.requires_grad
    assert 0.015 < float(w.detach().numpy().std()) < 0.025


def test_assigning_data_replaces_the_values() -> None:
    w = tc.Tensor([1.0, 2.0], requires_grad=True)
    w.data = tc.Tensor([5.0, 6.0, 7.0])               # any shape, as PyTorch allows
    assert w.tolist() == [5.0, 6.0, 7.0] and w.requires_grad


def test_a_saved_value_changed_through_data_is_not_detected_as_in_pytorch(torch: Any) -> None:
    # PyTorch's documented pitfall: .data changes are invisible to autograd's checks.
    grads = []
    for lib in (tc, torch):
        x = lib.tensor(np.array([1.0, 2.0]), requires_grad=True)
        y = x * 1
        z = (y * y).sum()
        y.data.mul_(10)
        z.backward()
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1])

"""The tape's semantics, each pinned by a test (issue: autograd core)."""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest

import tinygrad_conv as tc
from tinygrad_conv import Tensor


def leaf(*shape: int, seed: int = 0, dtype=np.float64) -> Tensor:
    return Tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype), requires_grad=True)


# ----------------------------------------------------------------------------- construction
def test_python_floats_become_float32_and_numpy_dtypes_are_kept():
    assert Tensor(1.5).dtype == np.float32
    assert Tensor([[1.0, 2.0]]).dtype == np.float32
    assert Tensor(np.zeros(2)).dtype == np.float64
    assert Tensor(np.zeros(2, dtype=np.float16)).dtype == np.float16
    assert Tensor([1, 2]).dtype == np.int64
    assert Tensor([True]).dtype == np.bool_
    assert Tensor([1, 2], dtype=np.float64).dtype == np.float64


def test_integer_and_bool_tensors_cannot_require_grad():
    with pytest.raises(RuntimeError, match="only floating point tensors can require gradients"):
        Tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="bool"):
        Tensor([True]).requires_grad_()


def test_array_protocol_and_python_conversions():
    t = Tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.shape == (2, 2) and t.ndim == 2 and t.numel() == 4 and t.size() == (2, 2) and t.size(1) == 2
    assert len(t) == 2
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert Tensor([3.5]).item() == 3.5
    np.testing.assert_array_equal(np.asarray(t), t.numpy())
    assert "tensor([[1., 2.]," in repr(t)
    assert "requires_grad=True" in repr(leaf(2))
    assert "grad_fn=<mul>" in repr(leaf(2) * 2)
    with pytest.raises(RuntimeError, match="detach"):
        leaf(2).numpy()
    with pytest.raises(RuntimeError, match="a Tensor with 4 elements cannot be converted to Scalar"):
        t.item()  # PyTorch's RuntimeError


def test_python_scalars_do_not_promote_float32():
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = (x * 2.5 + 1.0) / 3.0 - 0.5
    assert y.dtype == np.float32
    y.backward(Tensor(np.ones(3, dtype=np.float32)))
    assert x.grad.dtype == np.float32


# ----------------------------------------------------------------------------- backward semantics
def test_leaf_grad_accumulates_across_backward_calls():
    x = leaf(3)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 5.0))


def test_a_tensor_used_twice_gets_the_sum_of_its_gradients():
    x = leaf(4)
    y = x * x + x  # x reaches the output three times
    y.backward(Tensor(np.ones(4)))
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy() + 1)


def test_non_leaf_gradients_are_dropped_unless_retained():
    x = leaf(3)
    a = x * 2
    b = x * 3
    b.retain_grad()
    (a * b).sum().backward()
    assert a.grad is None
    np.testing.assert_allclose(b.grad.numpy(), a.detach().numpy())
    assert a.is_leaf is False and x.is_leaf is True


def test_second_backward_through_freed_graph_says_retain_graph():
    x = leaf(3)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf(3)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)


def test_non_scalar_root_needs_a_gradient():
    x = leaf(2, 3)
    with pytest.raises(RuntimeError, match=r"only for scalar outputs.*\(2, 3\)"):
        (x * 2).backward()


def test_gradient_of_the_wrong_shape_names_both_shapes():
    x = leaf(2, 3)
    with pytest.raises(RuntimeError, match=r"\(3, 2\).*\(2, 3\)"):
        (x * 2).backward(Tensor(np.ones((3, 2))))


def test_backward_on_a_tensor_that_does_not_require_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (Tensor([1.0]) * 2).sum().backward()


def test_backward_on_a_leaf_itself():
    x = leaf(3)
    x.backward(Tensor(np.full(3, 2.0)))
    np.testing.assert_allclose(x.grad.numpy(), 2.0)


def test_create_graph_gives_differentiable_gradients():
    x = leaf(5)
    y = (x ** 3).sum()
    (g,) = tc.grad(y, x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), 3 * x.detach().numpy() ** 2)
    (h,) = tc.grad(g.sum(), x)
    np.testing.assert_allclose(h.detach().numpy(), 6 * x.detach().numpy())


def test_backward_create_graph_sets_grad_with_history():
    x = leaf(3)
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    gx = x.grad
    x.grad = None
    gx.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.detach().numpy())


def test_grad_returns_a_tuple_and_leaves_dot_grad_alone():
    x, w = leaf(3), leaf(3, seed=1)
    out = (x * w).sum()
    gx, gw = tc.grad(out, [x, w])
    np.testing.assert_allclose(gx.detach().numpy(), w.detach().numpy())
    np.testing.assert_allclose(gw.detach().numpy(), x.detach().numpy())
    assert x.grad is None and w.grad is None


def test_grad_of_non_leaf_inputs_and_allow_unused():
    x = leaf(3)
    h = x * 2
    z = leaf(2, seed=3)
    out = (h * h).sum()
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        tc.grad(out, [h, z], retain_graph=True)
    gh, gz = tc.grad(out, [h, z], allow_unused=True)
    np.testing.assert_allclose(gh.detach().numpy(), 2 * h.detach().numpy())
    assert gz is None


def test_long_chain_backpropagates_without_recursion():
    x = Tensor(np.ones(1), requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad.item() == 1.0


def test_each_node_runs_once_after_every_consumer():
    # a feeds the loss through a long chain and a short one, and b is reached from a only; the
    # engine's ready queue must run a once, after both chains added their gradients to it.
    rng = np.random.default_rng(3)
    x = leaf(5)
    a = x * 2.0
    long = a
    for _ in range(30):
        long = long * 1.01 + 0.5
    b = a.exp()
    loss_parts = [long * b, a * 3.0, (b * a).sum() * x]
    upstream = [Tensor(rng.standard_normal(5)) for _ in loss_parts]
    calls: list[str] = []
    a.register_hook(lambda g: calls.append("a"))
    tc.backward(loss_parts, upstream)
    assert calls == ["a"]  # a's node ran once, with the sum of every path
    # The same function in NumPy, differentiated by hand.
    xv = x.detach().numpy()
    av = 2 * xv
    k = 1.01 ** 30
    lv = av * k + 0.5 * sum(1.01 ** i for i in range(30))
    bv = np.exp(av)
    u0, u1, u2 = (u.numpy() for u in upstream)
    s = (bv * av).sum()
    dl_da = u0 * (k * bv + lv * bv) + u1 * 3.0 + (u2 * xv).sum() * (bv * av + bv)
    expected = 2 * dl_da + u2 * s
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-10)


@pytest.mark.parametrize("order", ["x * x.detach()", "x.detach() * x"])
def test_a_detached_operand_on_the_same_array_stays_constant(order: str) -> None:
    # Saved arrays are matched to their Tensors by identity; two Tensors on one array must still
    # each keep their own role, as in PyTorch: the gradient is x's values, and it is a constant.
    torch = pytest.importorskip("torch")
    values = np.array([1.0, -2.0, 3.0])
    x = Tensor(values.copy(), requires_grad=True)
    (g,) = tc.grad(eval(order).sum(), x, create_graph=True)
    xt = torch.tensor(values, requires_grad=True)
    (gt,) = torch.autograd.grad(eval(order, {"x": xt}).sum(), xt, create_graph=True)
    np.testing.assert_array_equal(g.detach().numpy(), gt.detach().numpy())
    assert g.requires_grad is gt.requires_grad is False


def test_two_leaves_on_one_array_keep_their_second_derivatives() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    shared = rng.standard_normal(4)
    u = rng.standard_normal(4)
    a = tc.from_numpy(shared).requires_grad_()
    b = tc.from_numpy(shared).requires_grad_()
    (ga,) = tc.grad((a * b * b).sum(), a, create_graph=True)  # b * b: depends on b only
    (hb,) = tc.grad((ga * Tensor(u)).sum(), b)
    at = torch.from_numpy(shared.copy()).requires_grad_()
    bt = torch.from_numpy(shared.copy()).requires_grad_()
    (gat,) = torch.autograd.grad((at * bt * bt).sum(), at, create_graph=True)
    (hbt,) = torch.autograd.grad((gat * torch.from_numpy(u)).sum(), bt)
    np.testing.assert_allclose(hb.numpy(), hbt.numpy(), rtol=1e-12)


def test_intermediates_are_garbage_after_backward():
    x = leaf(1000)
    mid = x.exp()  # exp saves its output for backward
    ref = weakref.ref(mid.detach().numpy())
    loss = (mid * 2).sum()
    del mid
    gc.collect()
    assert ref() is not None  # still needed by the tape
    loss.backward()
    gc.collect()
    assert ref() is None


# ----------------------------------------------------------------------------- in-place changes
def test_in_place_change_to_a_saved_value_is_detected_at_backward():
    x = leaf(3)
    h = x * 2
    y = (h * h).sum()  # mul saved h
    with tc.no_grad():
        h += 1
    with pytest.raises(RuntimeError, match=r"modified by an in-place operation.*'mul'.*version 1; expected version 0"):
        y.backward()


def test_setitem_on_a_saved_tensor_is_detected():
    x = leaf(3)
    h = x.exp()
    y = (h * x).sum()
    h[0] = 5.0
    with pytest.raises(RuntimeError, match="in-place"):
        y.backward()


def test_in_place_on_a_leaf_that_requires_grad_is_refused_outside_no_grad():
    x = leaf(3)
    with pytest.raises(RuntimeError, match="no_grad"):
        x += 1
    with pytest.raises(RuntimeError, match="leaf"):
        x[0] = 2.0
    before = x.detach().numpy().copy()
    with tc.no_grad():
        x -= 0.5  # an optimiser's update
    np.testing.assert_allclose(x.detach().numpy(), before - 0.5)
    assert x.is_leaf and x.requires_grad


def test_in_place_on_a_non_leaf_is_recorded():
    x = leaf(3)
    y = x * 2
    y += x  # y = 3x now, recorded
    y[1] = 0.0  # recorded as index_put
    y.backward(Tensor(np.ones(3)))
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 0.0, 3.0])


def test_views_share_the_version_counter():
    x = leaf(2, 3)
    h = x * 1.0
    y = (h * h).sum()
    v = h.reshape(6)
    with tc.no_grad():
        v += 1.0  # changes h's memory through the view
    with pytest.raises(RuntimeError, match="in-place"):
        y.backward()


# ----------------------------------------------------------------------------- hooks, detach
def test_hooks_see_and_replace_gradients_and_can_be_removed():
    x = leaf(3)
    seen = []
    handle = x.register_hook(lambda g: seen.append(g.detach().numpy().copy()))
    y = x * 2
    y.register_hook(lambda g: g * 10)
    y.sum().backward()
    np.testing.assert_allclose(seen[0], 20.0)
    np.testing.assert_allclose(x.grad.numpy(), 20.0)
    handle.remove()
    x.grad = None
    (x * 1).sum().backward()
    assert len(seen) == 1


def test_detach_cuts_the_graph():
    x = leaf(3)
    y = (x.detach() * x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), x.detach().numpy())


def test_grad_fn_exposes_op_name_inputs_and_params():
    x = leaf(2, 3)
    y = x.sum(dim=1, keepdim=True)
    node = y.grad_fn
    assert node.name == "sum"
    assert node.params == {"dim": 1, "keepdim": True}
    assert node.next[0] is x
    z = y * 2
    assert z.grad_fn.next[0] == (node, 0)


# ----------------------------------------------------------------------------- grad mode
def test_no_grad_enable_grad_and_set_grad_enabled():
    x = leaf(2)
    with tc.no_grad():
        assert not (x * 2).requires_grad
        with tc.enable_grad():
            assert (x * 2).requires_grad
    with tc.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    tc.set_grad_enabled(False)
    assert not tc.is_grad_enabled()
    tc.set_grad_enabled(True)

    @tc.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    assert tc.is_grad_enabled()


def test_grad_mode_is_per_thread():
    seen = {}

    def worker():
        seen["other"] = tc.is_grad_enabled()

    with tc.no_grad():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert not tc.is_grad_enabled()
    assert seen["other"] is True


# ----------------------------------------------------------------------------- op details
def test_max_along_a_dim_returns_values_and_indices():
    x = Tensor(np.array([[1.0, 5.0, 5.0], [7.0, 2.0, 7.0]]), requires_grad=True)
    values, indices = x.max(dim=1)
    assert indices.tolist() == [1, 0]  # first maximum wins, as PyTorch
    assert indices.dtype == np.int64
    values.backward(Tensor(np.array([1.0, 2.0])))
    np.testing.assert_allclose(x.grad.numpy(), [[0, 1, 0], [2, 0, 0]])


def test_full_max_shares_the_gradient_between_ties():
    x = Tensor(np.array([3.0, 1.0, 3.0]), requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.5, 0.0, 0.5])


def test_advanced_indexing_gradient_adds_repeats():
    x = leaf(4)
    x[np.array([0, 2, 2])].sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1, 0, 2, 0])
    y = leaf(3, 4)
    y[Tensor(np.array([1, 1])), 1:3].sum().backward()
    expect = np.zeros((3, 4))
    expect[1, 1:3] = 2
    np.testing.assert_allclose(y.grad.numpy(), expect)


def test_pad_crops_with_negative_widths_and_its_gradient_is_the_inverse():
    x = leaf(2, 4)
    y = tc.functional.pad(x, (-1, 2, 1, 0), value=7.0)
    assert y.shape == (3, 5)
    np.testing.assert_allclose(y.detach().numpy()[0], 7.0)
    y.backward(Tensor(np.ones((3, 5))))
    np.testing.assert_allclose(x.grad.numpy(), [[0, 1, 1, 1]] * 2)


def test_cast_between_float_dtypes_casts_the_gradient_back():
    x = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    y = x.double() * 2
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.numpy(), 2.0)


def test_mixed_float_dtypes_promote_and_gradients_keep_each_dtype():
    a = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    b = Tensor(np.full(3, 2.0), requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


def test_broadcast_gradients_are_summed_back():
    a = leaf(3, 1)
    b = leaf(4, seed=2)
    (a + b).backward(Tensor(np.ones((3, 4))))
    np.testing.assert_allclose(a.grad.numpy(), np.full((3, 1), 4.0))
    np.testing.assert_allclose(b.grad.numpy(), np.full(4, 3.0))


def test_matmul_of_vectors_and_batches_matches_numpy():
    a, b = leaf(2, 3, 4), leaf(4, seed=1)
    out = a @ b
    np.testing.assert_allclose(out.detach().numpy(), a.detach().numpy() @ b.detach().numpy())
    out.backward(Tensor(np.ones((2, 3))))
    np.testing.assert_allclose(b.grad.numpy(), a.detach().numpy().sum(axis=(0, 1)))


def test_clear_errors_for_bad_shapes():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(2, 3\)"):
        leaf(2, 3) @ leaf(2, 3)
    with pytest.raises(ValueError, match=r"reshape: shape \(4,\) is invalid for an input of shape \(2, 3\)"):
        leaf(2, 3).reshape(4)
    with pytest.raises(IndexError, match="sum: dim 2 is out of range"):
        leaf(2, 3).sum(dim=2)

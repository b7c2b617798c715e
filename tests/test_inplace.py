"""In-place changes: PyTorch's semantics on non-leaves, views and saved values.

Each program below runs twice, once on tinygrad_conv and once on PyTorch (the same code, given the
library), and the values and the gradients under a random upstream gradient must agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tinygrad_conv as tc

RNG = np.random.default_rng(7)
X = RNG.standard_normal(6)
Y = RNG.standard_normal(6)
UP = RNG.standard_normal(6)


class Lib:
    """Just enough of one framework for the programs: tensors from arrays, and backward."""

    def __init__(self, mod: Any, torch: bool) -> None:
        self.mod, self.torch = mod, torch

    def t(self, a: Any, rg: bool = False) -> Any:
        if self.torch:
            return self.mod.tensor(np.array(a), requires_grad=rg)
        return tc.Tensor(np.array(a), requires_grad=rg)

    def arr(self, t: Any) -> np.ndarray:
        return t.detach().numpy().copy()


# Each program takes the library, builds y from leaves x (and z), changes something in place,
# and returns (the output to differentiate, the leaves).
PROGRAMS: dict[str, Callable[[Lib], tuple[Any, list[Any]]]] = {}


def program(fn: Callable[[Lib], tuple[Any, list[Any]]]) -> Callable[[Lib], tuple[Any, list[Any]]]:
    PROGRAMS[fn.__name__] = fn
    return fn


def _xz(lib: Lib) -> tuple[Any, Any]:
    return lib.t(X, True), lib.t(Y, True)


@program
def imul_scalar(lib: Lib) -> Any:
    x, _ = _xz(lib)
    w = x * 1
    w *= 3
    return w, [x]


@program
def itruediv_tensor(lib: Lib) -> Any:
    x, z = _xz(lib)
    w = x * x
    w /= z * z + 1
    return w, [x, z]


@program
def iadd_isub(lib: Lib) -> Any:
    x, z = _xz(lib)
    w = x * 3
    w += z.exp()
    w -= x * z
    return w, [x, z]


@program
def add_sub_alpha(lib: Lib) -> Any:
    x, z = _xz(lib)
    w = x * 2
    w.add_(z, alpha=3)
    w.sub_(x * x, alpha=0.5)
    return w, [x, z]


@program
def mul_div_methods(lib: Lib) -> Any:
    x, z = _xz(lib)
    w = x * x
    w.mul_(z.tanh())
    w.div_(2.0)
    return w, [x, z]


@program
def copy_from_tensor(lib: Lib) -> Any:
    x, z = _xz(lib)
    w = x * 2
    w.copy_(z.sigmoid())
    return w * x, [x, z]


@program
def fill_and_zero(lib: Lib) -> Any:
    x, _ = _xz(lib)
    w = x * 2
    w[:3].fill_(1.5)
    w[4:].zero_()
    return w * x, [x]


@program
def clamp_and_relu(lib: Lib) -> Any:
    x, z = _xz(lib)
    w = x * z
    w.clamp_(-0.3, 0.4)
    v = x - z
    v.relu_()
    return w + v, [x, z]


@program
def item_assignment(lib: Lib) -> Any:
    x, z = _xz(lib)
    w = x * 1
    w[1] = z[0] * 5
    w[2:4] = x[:2] ** 2
    return w, [x, z]


@program
def view_base_sees_it(lib: Lib) -> Any:
    x, z = _xz(lib)
    y = x * 1
    v = y[1:4]
    v.mul_(z[:3])
    return y, [x, z]


@program
def view_of_a_transpose(lib: Lib) -> Any:
    x, z = _xz(lib)
    y = (x * 1).reshape(2, 3)
    col = y.t()[1] if lib.torch else y.T[1]
    col.add_(z[:2])
    return y.reshape(6), [x, z]


@program
def sibling_view_follows_the_base(lib: Lib) -> Any:
    x, z = _xz(lib)
    y = x * 1
    a = y[:3]
    b = y[2:]
    a.mul_(z[:3])   # changes y[2], which b shares
    return (b * 2).sum() + (a * a).sum() + 0 * y[0], [x, z]


@program
def base_changed_then_view_used(lib: Lib) -> Any:
    x, z = _xz(lib)
    y = x * 1
    v = y[1:]
    y.mul_(z)      # the view sees the new values and the new history
    return v * 3, [x, z]


@program
def no_grad_buffer_takes_a_grad_value(lib: Lib) -> Any:
    x, _ = _xz(lib)
    buf = lib.t(np.zeros(6))
    buf[1:3] = x[:2] * 2
    return buf, [x]


def _run(lib: Lib, name: str) -> tuple[np.ndarray, list[np.ndarray]]:
    out, leaves = PROGRAMS[name](lib)
    up = UP[:out.numel()].reshape(out.shape) if out.ndim else UP[0]
    out.backward(lib.t(up))
    grads = [lib.arr(leaf.grad) if leaf.grad is not None else np.zeros(leaf.shape) for leaf in leaves]
    return lib.arr(out), grads


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_in_place_program_matches_pytorch(name: str, torch: Any) -> None:
    ours = _run(Lib(tc, False), name)
    theirs = _run(Lib(torch, True), name)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-12, atol=1e-12)
    for g, h in zip(ours[1], theirs[1]):
        np.testing.assert_allclose(g, h, rtol=1e-12, atol=1e-12)


def test_the_issue_example_gives_three() -> None:
    x = tc.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    w = x * 1
    w *= 3
    w.sum().backward()
    assert x.grad.tolist() == [3.0, 3.0, 3.0]
    assert w.grad_fn is not None and w.grad_fn.name == "mul"


def test_in_place_becomes_grad_fn_and_base_takes_copy_slices() -> None:
    x = tc.Tensor(X, requires_grad=True)
    y = x * 1
    v = y[:2]
    v.exp_() if hasattr(v, "exp_") else v.mul_(2)
    assert y.grad_fn.name == "copy_slices"
    assert v._base is y and v.grad_fn is not None


def test_a_value_saved_before_the_change_is_still_caught() -> None:
    x = tc.Tensor(X, requires_grad=True)
    y = x * 1
    z = y * y          # mul saves y
    y.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        z.sum().backward()


def test_an_output_saved_before_the_change_is_still_caught() -> None:
    x = tc.Tensor(X, requires_grad=True)
    y = x.exp()        # exp saves its output
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.sum().backward()


def test_a_view_change_is_caught_by_ops_that_saved_the_base() -> None:
    x = tc.Tensor(X, requires_grad=True)
    y = x * 1
    s = (y * y).sum()
    y[1:3].mul_(2)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        s.backward()


def test_leaf_refused_with_pytorchs_message() -> None:
    x = tc.Tensor(X, requires_grad=True)
    before = x.detach().numpy().copy()
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        x.mul_(2)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        x[1:3].add_(1)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        x[0] = 5.0
    np.testing.assert_array_equal(x.detach().numpy(), before)
    assert x._version == 0
    with tc.no_grad():
        x.mul_(2)      # as optimisers do
    np.testing.assert_array_equal(x.detach().numpy(), before * 2)


def test_detached_alias_sees_the_change() -> None:
    x = tc.Tensor(X, requires_grad=True)
    y = x * 1
    d = y.detach()
    y.add_(1)
    np.testing.assert_array_equal(d.detach().numpy(), X + 1)


def test_integer_result_cannot_be_cast_back() -> None:
    a = tc.Tensor(np.arange(3))
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type int64"):
        a *= 1.5
    assert a.tolist() == [0, 1, 2]
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        a += tc.Tensor(np.ones((2, 3), dtype=np.int64))
    a.copy_(tc.Tensor([2.7, 3.2, -1.5]))   # copy_ casts, as PyTorch's does
    assert a.tolist() == [2, 3, -1]


def test_expanded_view_refuses_in_place_writes() -> None:
    y = tc.Tensor([1.0, 2.0], requires_grad=True) * 1
    e = y.expand(3, 2)
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        e.mul_(2)


def test_double_backward_through_an_in_place_op(torch: Any) -> None:
    def f(lib: Lib) -> tuple[Any, Any]:
        x = lib.t(X, True)
        y = x * x
        y[1:4] *= x[:3]
        (g,) = lib.mod.autograd.grad(y, x, lib.t(UP), create_graph=True)
        (gg,) = lib.mod.autograd.grad(g, x, lib.t(UP[::-1].copy()))
        return g, gg

    g, gg = f(Lib(tc, False))
    h, hh = f(Lib(torch, True))
    np.testing.assert_allclose(g.detach().numpy(), h.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(gg.numpy(), hh.numpy(), rtol=1e-12)

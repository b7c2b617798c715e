"""The torch.autograd surface: names, signatures and behaviour, each compared with PyTorch."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

import tinygrad_conv as tc

RNG = np.random.default_rng(11)
X = RNG.standard_normal(5)
UP = RNG.standard_normal(5)


def t64(a: Any, rg: bool = False) -> tc.Tensor:
    return tc.Tensor(np.array(a, dtype=np.float64), requires_grad=rg)


def test_autograd_holds_what_torch_autograd_holds() -> None:
    names = ["grad", "backward", "Function", "gradcheck", "gradgradcheck", "Variable", "no_grad", "enable_grad",
             "set_grad_enabled", "inference_mode", "detect_anomaly", "set_detect_anomaly", "functional",
             "once_differentiable"]
    for name in names:
        assert hasattr(tc.autograd, name), name
    for fn in ("vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"):
        assert callable(getattr(tc.autograd.functional, fn))


@pytest.mark.parametrize("name", ["grad", "backward", "gradcheck", "gradgradcheck"])
def test_signatures_follow_pytorch(name: str, torch: Any) -> None:
    ours = inspect.signature(getattr(tc.autograd, name)).parameters
    theirs = inspect.signature(getattr(torch.autograd, name)).parameters
    for pname, p in theirs.items():
        assert pname in ours, f"{name} lacks {pname}"
        assert ours[pname].kind == p.kind or p.kind == p.POSITIONAL_OR_KEYWORD, (name, pname)
        if p.default is not p.empty:
            assert ours[pname].default == p.default, (name, pname)
    tensor_backward = inspect.signature(tc.Tensor.backward).parameters
    assert list(tensor_backward) == list(inspect.signature(torch.Tensor.backward).parameters)


# ----------------------------------------------------------------------------- bug 5
class _PolyFirstOrder(tc.Function):
    twice_differentiable = False

    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        ctx.save_for_backward(x)
        return x * x + x ** 3

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        (x,) = ctx.saved_tensors
        return g * (2 * x + 3 * x * x)


def test_first_order_only_function_refuses_a_double_backward() -> None:
    x = t64([3.0], rg=True)
    (g,) = tc.grad(_PolyFirstOrder.apply(x).sum(), x, create_graph=True)
    assert g.tolist() == [33.0]                      # the first derivative is still right
    with pytest.raises(RuntimeError, match="differentiate twice a function that was marked with @once"):
        tc.grad(g.sum(), x)                          # it used to answer 18 (the right one is 20)


def test_once_differentiable_decorator_matches_pytorch(torch: Any) -> None:
    def make(lib: Any, tensor: Any) -> Any:
        class Cube(lib.autograd.Function):
            @staticmethod
            def forward(ctx: Any, x: Any) -> Any:
                ctx.save_for_backward(x)
                return x ** 3

            @staticmethod
            @lib.autograd.function.once_differentiable
            def backward(ctx: Any, g: Any) -> Any:
                (x,) = ctx.saved_tensors
                return tensor(3 * x.detach().numpy() ** 2) * g

        return Cube

    for lib, tensor in ((tc, tc.Tensor), (torch, torch.from_numpy)):
        cube = make(lib, tensor)
        x = lib.tensor(np.array([2.0, -1.0]), requires_grad=True)
        (g,) = lib.autograd.grad(cube.apply(x).sum(), x, create_graph=True)
        np.testing.assert_allclose(g.detach().numpy(), [12.0, 3.0])
        # Both refuse; PyTorch's message depends on whether the seed required grad, ours names the rule.
        with pytest.raises(RuntimeError, match="once_differentiable" if lib is tc else ""):
            lib.autograd.grad(g.sum(), x)


# ----------------------------------------------------------------------------- bug 7
def test_a_seed_gradient_of_another_dtype_is_cast(torch: Any) -> None:
    x = t64(X, rg=True)
    (x * 3).sum().backward(tc.Tensor(2.0))          # a float32 seed for a float64 output
    xt = torch.tensor(X, requires_grad=True)
    (xt * 3).sum().backward(torch.tensor(2.0))
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy())
    x.grad = None
    (x * 3).sum().backward(tc.Tensor(np.array(2)))  # an integer seed too, as PyTorch casts it
    np.testing.assert_allclose(x.grad.numpy(), 6.0)


def test_seed_of_the_wrong_shape_names_the_argument() -> None:
    x = t64(X, rg=True)
    with pytest.raises(RuntimeError, match=r"Mismatch in shape: grad_output\[0\].*`gradient`"):
        (x * 3).sum().backward(tc.Tensor(np.ones(2)))


# ----------------------------------------------------------------------------- bug 12
def test_trailing_nones_beyond_the_inputs_are_accepted(torch: Any) -> None:
    for lib in (tc, torch):
        class Square(lib.autograd.Function):
            @staticmethod
            def forward(ctx: Any, x: Any) -> Any:
                ctx.save_for_backward(x)
                return x * x

            @staticmethod
            def backward(ctx: Any, g: Any) -> Any:
                (x,) = ctx.saved_tensors
                return 2 * x * g, None, None

        x = lib.tensor(np.array([3.0]), requires_grad=True)
        Square.apply(x).sum().backward()
        assert x.grad.tolist() == [6.0]


def test_a_non_none_extra_gradient_is_still_refused() -> None:
    class Bad(tc.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            return x * 2

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return g * 2, g

    x = t64([1.0], rg=True)
    with pytest.raises(RuntimeError, match="returned 2 gradient"):
        Bad.apply(x).sum().backward()


# ----------------------------------------------------------------------------- ctx methods
def _sort_with_indices(lib: Any) -> Any:
    class Sort(lib.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            order = np.argsort(x.detach().numpy(), kind="stable")
            idx = lib.tensor(order) if lib is tc else lib.from_numpy(order)
            ctx.mark_non_differentiable(idx)
            ctx.save_for_backward(idx)
            return x[idx], idx

        @staticmethod
        def backward(ctx: Any, g: Any, g_idx: Any) -> Any:
            (idx,) = ctx.saved_tensors
            out = g * 0
            out[idx] = g
            return out

    return Sort


def test_mark_non_differentiable_matches_pytorch(torch: Any) -> None:
    results = []
    for lib in (tc, torch):
        x = lib.tensor(X, requires_grad=True)
        vals, idx = _sort_with_indices(lib).apply(x)
        assert not idx.requires_grad and vals.requires_grad
        vals.backward(lib.tensor(UP))
        results.append(x.grad.numpy())
    np.testing.assert_allclose(results[0], results[1])


def _add_one_in_place(lib: Any) -> Any:
    class AddOne(lib.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            x.add_(1)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return g

    return AddOne


def test_mark_dirty_makes_the_input_itself_the_output(torch: Any) -> None:
    grads = []
    for lib in (tc, torch):
        x = lib.tensor(X, requires_grad=True)
        y = x * 2
        z = _add_one_in_place(lib).apply(y)
        assert z is y and z.grad_fn is not None
        np.testing.assert_allclose(y.detach().numpy(), X * 2 + 1)
        (z * z).backward(lib.tensor(UP))
        grads.append(x.grad.numpy())
        leaf = lib.tensor(X, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf"):
            _add_one_in_place(lib).apply(leaf)
    np.testing.assert_allclose(grads[0], grads[1])


def test_set_materialize_grads_false_passes_none(torch: Any) -> None:
    seen = {}
    for lib in (tc, torch):
        class Two(lib.autograd.Function):
            name = lib.__name__

            @staticmethod
            def forward(ctx: Any, x: Any) -> Any:
                ctx.set_materialize_grads(False)
                return x * 2, x * 3

            @classmethod
            def backward(cls, ctx: Any, ga: Any, gb: Any) -> Any:
                seen[cls.name] = (ga is None, gb is None)
                return ga * 2 if ga is not None else None

        x = lib.tensor(X, requires_grad=True)
        a, _ = Two.apply(x)
        a.sum().backward()
    assert seen["tinygrad_conv"] == seen["torch"] == (False, True)


def test_setup_context_style_matches_pytorch(torch: Any) -> None:
    grads = []
    for lib in (tc, torch):
        class Mul(lib.autograd.Function):
            @staticmethod
            def forward(x: Any, y: Any) -> Any:
                return x * y

            @staticmethod
            def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
                ctx.save_for_backward(*inputs)

            @staticmethod
            def backward(ctx: Any, g: Any) -> Any:
                x, y = ctx.saved_tensors
                return g * y, g * x

        x = lib.tensor(X, requires_grad=True)
        y = lib.tensor(UP, requires_grad=True)
        Mul.apply(x, y).backward(lib.tensor(X[::-1].copy()))
        grads.append((x.grad.numpy(), y.grad.numpy()))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b)


# ----------------------------------------------------------------------------- grad and backward
def test_grad_options_match_pytorch(torch: Any) -> None:
    out = {}
    for lib in (tc, torch):
        x = lib.tensor(X, requires_grad=True)
        unused = lib.tensor(UP, requires_grad=True)
        y = x ** 2
        g = lib.autograd.grad(y, [x, unused], lib.tensor(UP), only_inputs=True, materialize_grads=True,
                              retain_graph=True)
        batch = lib.tensor(np.stack([UP, X, UP * 2]))
        (gb,) = lib.autograd.grad(y, x, batch, is_grads_batched=True)
        out[lib.__name__] = [g[0].numpy(), g[1].numpy(), gb.numpy()]
    for a, b in zip(out["tinygrad_conv"], out["torch"]):
        np.testing.assert_allclose(a, b)
    x = t64(X, rg=True)
    with pytest.raises(ValueError, match="allow_unused"):
        tc.autograd.grad((x * 2).sum(), x, materialize_grads=True, allow_unused=False)


def test_backward_inputs_matches_pytorch(torch: Any) -> None:
    out = {}
    for lib in (tc, torch):
        a = lib.tensor(X, requires_grad=True)
        b = lib.tensor(UP, requires_grad=True)
        mid = a * b
        mid.retain_grad() if lib is torch else None
        loss = (mid * mid).sum()
        loss.backward(inputs=[a, mid], retain_graph=True)
        out[lib.__name__] = (a.grad.numpy().copy(), b.grad, mid.grad.numpy().copy())
        loss.backward(inputs=a)           # accumulates into a only
        out[lib.__name__ + "2"] = a.grad.numpy().copy()
    ours, theirs = out["tinygrad_conv"], out["torch"]
    np.testing.assert_allclose(ours[0], theirs[0])
    assert ours[1] is None and theirs[1] is None
    np.testing.assert_allclose(ours[2], theirs[2])
    np.testing.assert_allclose(out["tinygrad_conv2"], out["torch2"])


def test_variable_returns_a_new_leaf_sharing_memory(torch: Any) -> None:
    x = tc.Tensor(X)
    v = tc.autograd.Variable(x, requires_grad=True)
    assert isinstance(v, tc.Tensor) and v is not x and v.requires_grad and not x.requires_grad
    assert v.detach().numpy() is x.detach().numpy()
    xt = torch.tensor(X)
    vt = torch.autograd.Variable(xt, requires_grad=True)
    assert vt is not xt and vt.data_ptr() == xt.data_ptr()


# ----------------------------------------------------------------------------- grad modes
def test_bare_decorators_and_generators() -> None:
    @tc.no_grad
    def f(x: tc.Tensor) -> tc.Tensor:
        return x * 2

    @tc.enable_grad
    def g(x: tc.Tensor) -> tc.Tensor:
        return x * 2

    @tc.no_grad()
    def gen(x: tc.Tensor) -> Any:
        for _ in range(2):
            yield (x * 2).requires_grad, tc.is_grad_enabled()

    x = t64(X, rg=True)
    assert not f(x).requires_grad
    with tc.no_grad():
        assert g(x).requires_grad
    items = []
    for item in gen(x):
        items.append(item)
        assert tc.is_grad_enabled()   # restored between the generator's steps
    assert items == [(False, False), (False, False)]


def test_inference_mode_matches_pytorch(torch: Any) -> None:
    for lib in (tc, torch):
        x = lib.tensor(X, requires_grad=True)
        with lib.inference_mode():
            assert not (x * 2).requires_grad
        with lib.inference_mode(False):
            assert (x * 2).requires_grad

        @lib.inference_mode
        def run(t: Any) -> Any:
            return t * 2

        assert not run(x).requires_grad
        assert (x * 2).requires_grad


def test_set_detect_anomaly_switches_at_once() -> None:
    assert not tc.is_anomaly_enabled()
    with tc.set_detect_anomaly(True):
        assert tc.is_anomaly_enabled()
    assert not tc.is_anomaly_enabled()

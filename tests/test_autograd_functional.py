"""tinygrad_conv.autograd.functional against torch.autograd.functional (issue 14, the torch.autograd surface).

Every function (vjp, jvp, jacobian, hessian, vhp, hvp) is compared with PyTorch on the same float64
inputs: the values, the nesting of the result (Tensor / tuple / tuple of tuples), the strict-mode and
``v`` errors, and with ``create_graph=True`` the gradients of the result (under a random upstream
gradient) with respect to the inputs and ``v``. The tests at the end need no PyTorch: they check the
Jacobian and Hessian against float64 finite differences.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import tinygrad_conv as tc
import tinygrad_conv.autograd.functional as AF
from tinygrad_conv import Tensor

NAMES = ("vjp", "jvp", "jacobian", "hessian", "hvp", "vhp")


# ------------------------------------------------------------------------------------------- helpers
def libs(torch: Any) -> tuple[Any, Any]:
    """The few free functions the test functions need, for each library."""
    import torch.nn.functional as tF

    ours = SimpleNamespace(conv2d=tc.functional.conv2d, functional=AF, grad=tc.grad)
    theirs = SimpleNamespace(conv2d=tF.conv2d, functional=torch.autograd.functional, grad=torch.autograd.grad)
    return ours, theirs


def arrays(shapes: Any, seed: int) -> Any:
    """Random float64 arrays with the nesting of ``shapes`` (a shape, or a tuple of shapes)."""
    rng = np.random.default_rng(seed)
    if shapes and isinstance(shapes[0], tuple):
        return tuple(rng.standard_normal(s) for s in shapes)
    return np.array(rng.standard_normal(shapes))


def to_tc(a: Any, requires_grad: bool = False) -> Any:
    if isinstance(a, tuple):
        return tuple(to_tc(x, requires_grad) for x in a)
    return Tensor(np.array(a), requires_grad=requires_grad)


def to_torch(torch: Any, a: Any, requires_grad: bool = False) -> Any:
    if isinstance(a, tuple):
        return tuple(to_torch(torch, x, requires_grad) for x in a)
    return torch.tensor(np.array(a), requires_grad=requires_grad)


def structure(res: Any) -> Any:
    """'T' for a tensor, a tuple of structures for a tuple: the nesting, without the values."""
    if isinstance(res, tuple):
        return tuple(structure(r) for r in res)
    return "T"


def leaves(res: Any) -> list[Any]:
    if isinstance(res, tuple):
        return [x for r in res for x in leaves(r)]
    return [res]


def assert_same(ours: Any, theirs: Any, rtol: float = 1e-9, atol: float = 1e-10) -> None:
    """Same nesting, shapes, dtypes and values (float tolerance)."""
    assert structure(ours) == structure(theirs)
    for o, t in zip(leaves(ours), leaves(theirs)):
        assert isinstance(o, Tensor)
        expected = t.detach().numpy()
        assert o.shape == tuple(expected.shape)
        assert o.dtype == expected.dtype
        np.testing.assert_allclose(o.detach().numpy(), expected, rtol=rtol, atol=atol)


def output_shapes(torch: Any, func: Callable[..., Any], xs: Any) -> Any:
    """The shape(s) of func's output, from a PyTorch run, to build a v of the right shape."""
    out = func(*xs) if isinstance(xs, tuple) else func(xs)
    if isinstance(out, tuple):
        return tuple(tuple(o.shape) for o in out)
    return tuple(out.shape)


# ------------------------------------------------------------------------------------ the functions
# Each case: name -> (maker(lib) -> func, input shape(s)). The makers use only Tensor methods and
# lib.conv2d, so one definition serves both libraries.
GENERAL: dict[str, tuple[Callable[[Any], Callable[..., Any]], Any]] = {
    "single in, single out": (lambda L: lambda x: (x.tanh() * x ** 2) @ x.transpose(0, 1), (3, 4)),
    "reduction to a vector": (lambda L: lambda x: (x.exp() * x).sum(1), (3, 4)),
    "tuple in, single out": (lambda L: lambda a, b: (a @ b).tanh() * a.sum(), ((2, 3), (3, 4))),
    "tuple in, tuple out": (lambda L: lambda a, b: ((a * 2.0).exp(), (a @ b).sigmoid().sum(0), b * b),
                            ((2, 3), (3, 2))),
    "one-element tuple in and out": (lambda L: lambda a: ((a ** 3).sum(1),), ((2, 3),)),
    "output independent of an input": (lambda L: lambda a, b: (a * a, a.sum()), ((3,), (2,))),
    "output is an input": (lambda L: lambda a, b: (a, a * b), ((3,), (3,))),
    "conv2d": (lambda L: lambda x, w: L.conv2d(x, w, padding=1).tanh(), ((1, 2, 4, 4), (3, 2, 3, 3))),
}

SCALAR: dict[str, tuple[Callable[[Any], Callable[..., Any]], Any]] = {
    "single in": (lambda L: lambda x: (x.tanh() * x ** 2).sum(), (2, 3)),
    "one-element out of shape (1, 1)": (lambda L: lambda x: (x.exp() * x).sum().reshape(1, 1), (4,)),
    "tuple in": (lambda L: lambda a, b: ((a @ b).tanh() ** 2).sum() + (a * a * a).sum(), ((2, 3), (3, 2))),
    "independent input": (lambda L: lambda a, b: (a ** 3).sum(), ((3,), (2,))),
    "linear in one input": (lambda L: lambda a, b: (a ** 3).sum() + b.sum(), ((3,), (2,))),
    "conv2d": (lambda L: lambda x, w: (L.conv2d(x, w, padding=1).tanh() ** 2).sum(),
               ((1, 1, 3, 3), (2, 1, 2, 2))),
}


def call(lib: Any, name: str, func: Callable[..., Any], xs: Any, v: Any = None, **kwargs: Any) -> Any:
    fn = getattr(lib.functional, name)
    if name in ("jacobian", "hessian"):
        return fn(func, xs, **kwargs)
    return fn(func, xs, v, **kwargs)


def v_shapes(torch: Any, name: str, func: Callable[..., Any], shapes: Any, xs_t: Any) -> Any:
    """v has the output's shape for vjp, the input's shape for the others."""
    return output_shapes(torch, func, xs_t) if name == "vjp" else shapes


# ------------------------------------------------------------------------------------- plain values
@pytest.mark.parametrize("name", ["vjp", "jvp", "jacobian"])
@pytest.mark.parametrize("case", list(GENERAL), ids=list(GENERAL))
def test_general_functions_match_torch(torch, name, case):
    ours, theirs = libs(torch)
    make, shapes = GENERAL[case]
    xs = arrays(shapes, seed=1)
    xs_t = to_torch(torch, xs)
    v = None if name == "jacobian" else arrays(v_shapes(torch, name, make(theirs), shapes, xs_t), seed=2)
    expected = call(theirs, name, make(theirs), xs_t, None if v is None else to_torch(torch, v))
    got = call(ours, name, make(ours), to_tc(xs), None if v is None else to_tc(v))
    assert_same(got, expected)
    assert all(not t.requires_grad for t in leaves(got))  # detached without create_graph


@pytest.mark.parametrize("name", ["hessian", "hvp", "vhp", "vjp", "jacobian"])
@pytest.mark.parametrize("case", list(SCALAR), ids=list(SCALAR))
def test_scalar_functions_match_torch(torch, name, case):
    ours, theirs = libs(torch)
    make, shapes = SCALAR[case]
    xs = arrays(shapes, seed=3)
    v = None if name in ("hessian", "jacobian") else arrays(
        v_shapes(torch, name, make(theirs), shapes, to_torch(torch, xs)), seed=4)
    expected = call(theirs, name, make(theirs), to_torch(torch, xs), None if v is None else to_torch(torch, v))
    got = call(ours, name, make(ours), to_tc(xs), None if v is None else to_tc(v))
    assert_same(got, expected)


@pytest.mark.parametrize("name", ["vjp", "jvp", "hvp", "vhp"])
def test_v_may_be_none_for_one_element(torch, name):
    # vjp: a one-element output; the others: a single one-element input (here of shape (1,)).
    ours, theirs = libs(torch)
    make = (lambda L: lambda x: (x.exp() * x).sum()) if name == "vjp" else (lambda L: lambda x: (x ** 3 * 2.0).sum())
    shape = (3,) if name == "vjp" else (1,)
    x = arrays(shape, seed=5)
    assert_same(call(ours, name, make(ours), to_tc(x)), call(theirs, name, make(theirs), to_torch(torch, x)))


def test_zero_dim_input_and_output(torch):
    ours, theirs = libs(torch)
    x = np.array(0.7)
    for name in ("jacobian", "hessian", "jvp", "vjp", "hvp", "vhp"):
        make = lambda L: lambda t: t ** 3  # noqa: E731
        assert_same(call(ours, name, make(ours), to_tc(x)), call(theirs, name, make(theirs), to_torch(torch, x)))


def test_float32_inputs_keep_their_dtype_and_v_of_another_float_dtype_is_accepted(torch):
    ours, theirs = libs(torch)
    make = lambda L: lambda x: (x.tanh() * x).sum(0)  # noqa: E731
    x = arrays((3, 2), seed=6).astype(np.float32)
    v = arrays((2,), seed=7)  # float64 v for a float32 output, as PyTorch allows
    expected = theirs.functional.vjp(make(theirs), to_torch(torch, x), to_torch(torch, v))
    got = ours.functional.vjp(make(ours), to_tc(x), to_tc(v))
    assert_same(got, expected, rtol=1e-5, atol=1e-6)
    expected = theirs.functional.jacobian(make(theirs), to_torch(torch, x))
    assert_same(ours.functional.jacobian(make(ours), to_tc(x)), expected, rtol=1e-5, atol=1e-6)


def test_a_tensor_the_function_captures_is_not_the_argument(torch):
    # The function closes over x and is also given x: only the argument's path counts, as in PyTorch
    # (the inputs are re-wrapped in fresh Tensor objects).
    ours, theirs = libs(torch)
    x = arrays((3,), seed=8)
    v = arrays((3,), seed=9)
    for lib, conv in ((ours, to_tc), (theirs, lambda a, rg=False: to_torch(torch, a, rg))):
        xx = conv(x, True)
        res = lib.functional.vjp(lambda t, xx=xx: t * xx.exp(), xx, conv(v))
        if lib is ours:
            got = res
        else:
            expected = res
    assert_same(got, expected)


def test_works_under_no_grad_and_leaves_inputs_alone(torch):
    ours, theirs = libs(torch)
    make, shapes = SCALAR["tuple in"]
    xs = arrays(shapes, seed=10)
    v = arrays(shapes, seed=11)
    xs_ours = to_tc(xs, requires_grad=True)
    with tc.no_grad():
        got = ours.functional.hvp(make(ours), xs_ours, to_tc(v))
        assert not tc.is_grad_enabled()
    with torch.no_grad():
        expected = theirs.functional.hvp(make(theirs), to_torch(torch, xs, True), to_torch(torch, v))
    assert_same(got, expected)
    for t, a in zip(xs_ours, xs):
        assert t.grad is None and t.is_leaf
        np.testing.assert_array_equal(t.detach().numpy(), a)
    assert all(not t.requires_grad for t in leaves(got))  # inputs required grad, but no create_graph


# ------------------------------------------------------------------------------------- create_graph
def _differentiate(lib: Any, res: Any, wrt: list[Any], seed: int, torch: Any = None) -> list[Any]:
    """Gradients of sum(res_k * R_k) with respect to wrt, R random (None -> zeros for comparison)."""
    outs = [t for t in leaves(res) if t.requires_grad]
    upstream = [np.random.default_rng(seed + k).standard_normal(t.shape) for k, t in enumerate(outs)]
    if torch is None:
        gouts = [Tensor(u) for u in upstream]
    else:
        gouts = [torch.tensor(u) for u in upstream]
    grads = lib.grad(outs, wrt, gouts, allow_unused=True)
    return [np.zeros(tuple(w.shape)) if g is None else g.detach().numpy()
            for g, w in zip(grads, wrt)]


CREATE_GRAPH_CASES = [
    ("vjp", GENERAL, "tuple in, tuple out"),
    ("vjp", GENERAL, "conv2d"),
    ("jvp", GENERAL, "tuple in, single out"),
    ("jvp", GENERAL, "conv2d"),
    ("jacobian", GENERAL, "tuple in, tuple out"),
    ("jacobian", GENERAL, "reduction to a vector"),
    ("hessian", SCALAR, "tuple in"),
    ("hessian", SCALAR, "conv2d"),
    ("hvp", SCALAR, "tuple in"),
    ("hvp", SCALAR, "conv2d"),
    ("vhp", SCALAR, "single in"),
    ("vhp", SCALAR, "conv2d"),
]


@pytest.mark.parametrize("name,cases,case", CREATE_GRAPH_CASES, ids=[f"{n}-{c}" for n, _, c in CREATE_GRAPH_CASES])
def test_create_graph_results_differentiate_like_torch(torch, name, cases, case):
    ours, theirs = libs(torch)
    make, shapes = cases[case]
    xs = arrays(shapes, seed=12)
    xs_tc, xs_t = to_tc(xs, True), to_torch(torch, xs, True)
    v_tc = v_t = None
    if name not in ("jacobian", "hessian"):
        v = arrays(v_shapes(torch, name, make(theirs), shapes, to_torch(torch, xs)), seed=13)
        v_tc, v_t = to_tc(v, True), to_torch(torch, v, True)  # v requires grad: gradients reach it too
    expected = call(theirs, name, make(theirs), xs_t, v_t, create_graph=True)
    got = call(ours, name, make(ours), xs_tc, v_tc, create_graph=True)
    assert_same(got, expected)
    assert [t.requires_grad for t in leaves(got)] == [t.requires_grad for t in leaves(expected)]
    assert any(t.requires_grad for t in leaves(got))

    def flat(a: Any) -> list[Any]:
        return [] if a is None else list(a) if isinstance(a, tuple) else [a]

    wrt_tc, wrt_t = flat(xs_tc) + flat(v_tc), flat(xs_t) + flat(v_t)
    got_g = _differentiate(ours, got, wrt_tc, seed=14)
    expected_g = _differentiate(theirs, expected, wrt_t, seed=14, torch=torch)
    for g, e in zip(got_g, expected_g):
        np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-10)


def test_create_graph_without_inputs_requiring_grad_still_builds_a_graph_on_v(torch):
    # The inputs do not require grad, v does: the vjp depends on v (linearly), in both libraries.
    ours, theirs = libs(torch)
    make, shapes = GENERAL["tuple in, single out"]
    xs = arrays(shapes, seed=15)
    v = arrays(output_shapes(torch, make(theirs), to_torch(torch, xs)), seed=16)
    v_tc, v_t = to_tc(v, True), to_torch(torch, v, True)
    got = ours.functional.vjp(make(ours), to_tc(xs), v_tc, create_graph=True)
    expected = theirs.functional.vjp(make(theirs), to_torch(torch, xs), v_t, create_graph=True)
    assert_same(got, expected)
    assert [t.requires_grad for t in leaves(got)] == [t.requires_grad for t in leaves(expected)]
    np.testing.assert_allclose(_differentiate(ours, got, [v_tc], 17)[0],
                               _differentiate(theirs, expected, [v_t], 17, torch)[0], rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------------------------------- strict mode
def _outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except Exception as exc:  # noqa: BLE001 - the type is what is compared
        return type(exc).__name__, str(exc)


STRICT_CASES = [
    # (function, maker, input shapes, create_graph, the words our message must contain)
    ("vjp", lambda L: lambda a, b: a * 2.0, ((3,), (2,)), False, "independent of input 1"),
    ("vjp", lambda L: lambda a: a.detach() * 0.0 + 1.0, (3,), False,
     "Output 0 of the user-provided function does not require gradients"),
    ("vjp", lambda L: lambda a: a * 2.0, (3,), True, "independent of input 0.*create_graph=True"),
    ("jvp", lambda L: lambda a, b: a * 2.0, ((3,), (2,)), False, "independent of input 1"),
    ("jvp", lambda L: lambda a, b: (a * a, b * 3.0), ((3,), (2,)), True, "independent of input 1.*create_graph"),
    ("jacobian", lambda L: lambda a, b: a * 2.0, ((3,), (2,)), False, "Output 0.*independent of input 1"),
    ("jacobian", lambda L: lambda a: a.sum(), (3,), True, "independent of input 0.*create_graph=True"),
    ("hessian", lambda L: lambda a, b: (a ** 3).sum() + b.sum(), ((3,), (2,)), False,
     "jacobian of the user-provided function with respect to input 1 is independent"),
    ("hessian", lambda L: lambda a: (a * 2.0).sum(), (3,), False, "with respect to input 0 is independent"),
    ("hessian", lambda L: lambda a: (a * 2.0).sum(), (), False, "with respect to input 0 is independent"),
    ("hvp", lambda L: lambda a, b: (a ** 3).sum() + b.sum(), ((3,), (2,)), False, "input 1 is independent"),
    ("hvp", lambda L: lambda a, b: (a ** 3).sum(), ((3,), (2,)), False, "independent of input 1"),
    ("vhp", lambda L: lambda a, b: (a ** 3).sum() + b.sum(), ((3,), (2,)), False, "input 1 is independent"),
    ("vhp", lambda L: lambda a, b: (a ** 3).sum(), ((3,), (2,)), False, "independent of input 1"),
]


@pytest.mark.parametrize("name,make,shapes,create_graph,words", STRICT_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(STRICT_CASES)])
def test_strict_raises_where_torch_does_and_non_strict_gives_zeros(torch, name, make, shapes, create_graph, words):
    ours, theirs = libs(torch)
    xs = arrays(shapes, seed=18)
    v = None
    if name not in ("jacobian", "hessian"):
        v = arrays(v_shapes(torch, name, make(theirs), shapes, to_torch(torch, xs)), seed=19)
    kw = {"strict": True, "create_graph": create_graph}
    kind_t, msg_t = _outcome(lambda: call(theirs, name, make(theirs), to_torch(torch, xs, create_graph),
                                          None if v is None else to_torch(torch, v), **kw))
    kind, msg = _outcome(lambda: call(ours, name, make(ours), to_tc(xs, create_graph),
                                      None if v is None else to_tc(v), **kw))
    assert kind_t == "RuntimeError", msg_t  # the case really is a strict-mode error in PyTorch
    assert kind == kind_t, msg
    assert re.search(words, msg), msg

    # Without strict: the same values as PyTorch (zeros where an output ignores an input).
    kw["strict"] = False
    expected = call(theirs, name, make(theirs), to_torch(torch, xs, create_graph),
                    None if v is None else to_torch(torch, v), **kw)
    got = call(ours, name, make(ours), to_tc(xs, create_graph), None if v is None else to_tc(v), **kw)
    assert_same(got, expected)


def test_non_strict_zeros_for_an_unused_input(torch):
    ours, theirs = libs(torch)
    xs = arrays(((3,), (2,)), seed=20)
    got = ours.functional.jacobian(lambda a, b: (a * a, a.sum()), to_tc(xs))
    np.testing.assert_array_equal(got[0][1].numpy(), np.zeros((3, 2)))
    np.testing.assert_array_equal(got[1][1].numpy(), np.zeros((2,)))
    assert_same(got, theirs.functional.jacobian(lambda a, b: (a * a, a.sum()), to_torch(torch, xs)))


# ----------------------------------------------------------------------------------- argument errors
def _x3() -> np.ndarray:
    return np.arange(3.0)


ARG_ERROR_CASES = [
    # (name, func, inputs(lib) , v(lib) or None, words)
    ("vjp", lambda a: a * 2.0, lambda T: T(_x3()), None, "v can only be None"),
    ("vjp", lambda a: a * 2.0, lambda T: T(_x3()), lambda T: T(np.ones(2)), r"v has invalid size.*\(3,\).*\(2,\)"),
    ("vjp", lambda a: a * 2.0, lambda T: T(_x3()), lambda T: T(np.ones((1, 3))), "invalid size"),
    ("vjp", lambda a: a * 2.0, lambda T: T(_x3()), lambda T: (T(_x3()), T(_x3())), "single Tensor"),
    ("vjp", lambda a: (a, a), lambda T: T(_x3()), lambda T: (T(_x3()),), "invalid length.*2.*1"),
    ("vjp", lambda a: (a, a), lambda T: T(_x3()), lambda T: (T(_x3()), T(np.ones(2))), "entry 1 of v"),
    ("vjp", lambda a: a * 2.0, lambda T: T(_x3()), lambda T: [T(_x3())], "v must be a Tensor or a tuple"),
    ("vjp", lambda a: a * 2.0, lambda T: [T(_x3())], lambda T: T(_x3()), "inputs must be a Tensor or a tuple"),
    ("vjp", lambda a: 3.0, lambda T: T(_x3()), lambda T: T(_x3()), "outputs of the user-provided function"),
    ("jvp", lambda a: a * 2.0, lambda T: T(_x3()), None, "v can only be None if the input"),
    ("jvp", lambda a, b: a * b, lambda T: (T(_x3()), T(_x3())), lambda T: (T(_x3()),), "invalid length"),
    ("jvp", lambda a, b: a * b, lambda T: (T(_x3()), 2.0), lambda T: (T(_x3()),), "element 1 is a float"),
    ("jacobian", lambda a: 3.0, lambda T: T(_x3()), None, "outputs of the user-provided function"),
    ("hessian", lambda a: a * a, lambda T: T(_x3()), None, "single element.*shape \\(3,\\)"),
    ("hessian", lambda a: ((a * a).sum(),), lambda T: T(_x3()), None, "should return a single Tensor"),
    ("hessian", lambda a: (a * a).sum(), lambda T: [T(_x3())], None, "inputs must be a Tensor or a tuple"),
    ("hvp", lambda a: a * a, lambda T: T(_x3()), lambda T: T(_x3()), "single element"),
    ("hvp", lambda a: ((a * a).sum(),), lambda T: T(_x3()), lambda T: T(_x3()), "should return a single Tensor"),
    ("hvp", lambda a: (a * a).sum(), lambda T: T(_x3()), None, "v can only be None"),
    ("vhp", lambda a: a * a, lambda T: T(_x3()), lambda T: T(_x3()), "single element"),
    ("vhp", lambda a: (a * a).sum(), lambda T: T(_x3()), lambda T: T(np.ones(4)), "invalid size"),
]


@pytest.mark.parametrize("name,func,inputs,v,words", ARG_ERROR_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(ARG_ERROR_CASES)])
def test_argument_errors_match_torch(torch, name, func, inputs, v, words):
    ours, theirs = libs(torch)
    kind_t, msg_t = _outcome(lambda: call(theirs, name, func, inputs(torch.tensor),
                                          None if v is None else v(torch.tensor)))
    kind, msg = _outcome(lambda: call(ours, name, func, inputs(Tensor), None if v is None else v(Tensor)))
    assert kind_t != "ok"
    assert kind == kind_t, msg
    assert re.search(words, msg), msg


# ------------------------------------------------------------------------ vectorize / strategy
def _f(L: Any) -> Callable[..., Any]:
    return lambda x: x * x


@pytest.mark.parametrize("kwargs,torch_kind", [
    ({"strategy": "forward-mode"}, "NotImplementedError"),
    ({"strategy": "forward-mode", "create_graph": True}, "NotImplementedError"),
    ({"strategy": "forward-mode", "strict": True}, "RuntimeError"),
    ({"strategy": "forward-mode", "strict": True, "create_graph": True}, "NotImplementedError"),
    ({"vectorize": True, "strict": True}, "RuntimeError"),
], ids=["fwd", "fwd-create_graph", "fwd-strict", "fwd-strict-create_graph", "vectorize-strict"])
def test_jacobian_strategy_and_vectorize_errors_match_torch(torch, kwargs, torch_kind):
    ours, theirs = libs(torch)
    kind_t, _ = _outcome(lambda: theirs.functional.jacobian(_f(theirs), torch.ones(3, dtype=torch.float64), **kwargs))
    kind, msg = _outcome(lambda: ours.functional.jacobian(_f(ours), Tensor(np.ones(3)), **kwargs))
    assert kind_t == torch_kind
    assert kind == torch_kind, msg
    assert ("forward-mode" in msg) if "strategy" in kwargs else ("vectorize=True" in msg)


@pytest.mark.parametrize("kwargs", [{"vectorize": True}, {"strategy": "forward-mode", "vectorize": True}])
def test_jacobian_vectorize_is_not_implemented_and_says_why(kwargs):
    # PyTorch computes these with vmap / forward-mode AD; we have neither, and a loop would not be
    # vectorization, so the call says so instead of quietly looping.
    with pytest.raises(NotImplementedError, match="vectorize=True.*(vmap|forward-mode AD)"):
        AF.jacobian(lambda x: x * x, Tensor(np.ones(3)), **kwargs)


@pytest.mark.parametrize("kwargs", [{"vectorize": True},
                                    {"outer_jacobian_strategy": "forward-mode", "vectorize": True}])
def test_hessian_vectorize_is_not_implemented(kwargs):
    with pytest.raises(NotImplementedError, match="vectorize=True"):
        AF.hessian(lambda x: (x ** 3).sum(), Tensor(np.ones(3)), **kwargs)


def test_hessian_forward_mode_outer_jacobian_without_vectorize_matches_torch(torch):
    kind_t, _ = _outcome(lambda: torch.autograd.functional.hessian(
        lambda x: (x ** 3).sum(), torch.ones(3, dtype=torch.float64), outer_jacobian_strategy="forward-mode"))
    with pytest.raises(NotImplementedError, match="forward-mode"):
        AF.hessian(lambda x: (x ** 3).sum(), Tensor(np.ones(3)), outer_jacobian_strategy="forward-mode")
    assert kind_t == "NotImplementedError"


def test_unknown_strategy_is_a_value_error_naming_the_argument():
    # (PyTorch raises AssertionError; the project's rule is a clear exception naming the argument.)
    with pytest.raises(ValueError, match="strategy must be .*'sideways'"):
        AF.jacobian(lambda x: x * x, Tensor(np.ones(3)), strategy="sideways")
    with pytest.raises(ValueError, match="outer_jacobian_strategy must be"):
        AF.hessian(lambda x: (x * x).sum(), Tensor(np.ones(3)), outer_jacobian_strategy="sideways")


def test_signatures_match_torch(torch):
    for name in NAMES:
        ours = inspect.signature(getattr(AF, name))
        theirs = inspect.signature(getattr(torch.autograd.functional, name))
        assert list(ours.parameters) == list(theirs.parameters), name
        assert [p.default for p in ours.parameters.values()] == [p.default for p in theirs.parameters.values()]


def test_importable_from_the_package():
    import tinygrad_conv.autograd as autograd

    assert autograd.functional is AF
    assert set(AF.__all__) == set(NAMES)


# ------------------------------------------------------------------ finite differences (no PyTorch)
def _numeric_jacobian(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    out = f(x)
    jac = np.zeros(out.shape + x.shape)
    for k in range(x.size):
        d = np.zeros(x.size)
        d[k] = eps
        d = d.reshape(x.shape)
        jac.reshape(out.size, x.size)[:, k] = ((f(x + d) - f(x - d)) / (2 * eps)).ravel()
    return jac


def test_jacobian_and_jvp_vjp_agree_with_finite_differences():
    w = np.random.default_rng(21).standard_normal((2, 1, 2, 2))

    def func(x: Tensor) -> Tensor:
        return tc.functional.conv2d(x, Tensor(w), padding=1).tanh() * x.sum()

    x = np.random.default_rng(22).standard_normal((1, 1, 3, 3))
    numeric = _numeric_jacobian(lambda a: func(Tensor(a)).numpy(), x)
    jac = AF.jacobian(func, Tensor(x))
    np.testing.assert_allclose(jac.numpy(), numeric, rtol=1e-6, atol=1e-8)
    # vjp and jvp are contractions of the same Jacobian.
    u = np.random.default_rng(23).standard_normal(numeric.shape[:4])
    t = np.random.default_rng(24).standard_normal(x.shape)
    flat = numeric.reshape(u.size, x.size)
    _, vj = AF.vjp(func, Tensor(x), Tensor(u))
    _, jv = AF.jvp(func, Tensor(x), Tensor(t))
    np.testing.assert_allclose(vj.numpy().ravel(), u.ravel() @ flat, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(jv.numpy().ravel(), flat @ t.ravel(), rtol=1e-6, atol=1e-8)


def test_hessian_hvp_vhp_agree_with_finite_differences_of_the_gradient():
    def func(a: Tensor, b: Tensor) -> Tensor:
        return ((a @ b).tanh() ** 2).sum() + (a ** 3).sum()

    rng = np.random.default_rng(25)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))

    def gradient(flat: np.ndarray) -> np.ndarray:
        ta = Tensor(flat[:6].reshape(2, 3), requires_grad=True)
        tb = Tensor(flat[6:].reshape(3, 2), requires_grad=True)
        ga, gb = tc.grad(func(ta, tb), (ta, tb))
        return np.concatenate([ga.numpy().ravel(), gb.numpy().ravel()])

    numeric = _numeric_jacobian(gradient, np.concatenate([a.ravel(), b.ravel()]))
    H = AF.hessian(func, (Tensor(a), Tensor(b)))
    assert type(H) is tuple and all(type(row) is tuple and len(row) == 2 for row in H)
    ours = np.block([[H[0][0].numpy().reshape(6, 6), H[0][1].numpy().reshape(6, 6)],
                     [H[1][0].numpy().reshape(6, 6), H[1][1].numpy().reshape(6, 6)]])
    np.testing.assert_allclose(ours, numeric, rtol=1e-6, atol=1e-7)
    va, vb = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))
    vflat = np.concatenate([va.ravel(), vb.ravel()])
    _, hv = AF.hvp(func, (Tensor(a), Tensor(b)), (Tensor(va), Tensor(vb)))
    _, vh = AF.vhp(func, (Tensor(a), Tensor(b)), (Tensor(va), Tensor(vb)))
    np.testing.assert_allclose(np.concatenate([t.numpy().ravel() for t in hv]), numeric @ vflat, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.concatenate([t.numpy().ravel() for t in vh]), vflat @ numeric, rtol=1e-6, atol=1e-7)


def test_empty_output_gives_an_empty_jacobian():
    # (PyTorch fails here trying to stack zero rows; the Jacobian of an empty output is simply empty.)
    jac = AF.jacobian(lambda x: x[:0] * 2.0, Tensor(np.ones(3)))
    assert jac.shape == (0, 3)

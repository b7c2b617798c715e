"""The activations added for issue 15 (selu, celu, mish, hardswish, hardsigmoid, prelu, logsigmoid,
softsign, glu), their modules, ``inplace=``, implicit softmax dims, and the blocked kernels behind
sigmoid, elu and softplus, against PyTorch CPU: values and gradients with random upstream
gradients, in both tails, on arrays large enough to take the threaded path."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinygrad_conv as tc
import tinygrad_conv.functional as F
from tinygrad_conv import nn
from tinygrad_conv.testing import check_op

NEW_OPS = ["selu", "celu", "mish", "hardswish", "hardsigmoid", "prelu", "logsigmoid", "softsign", "glu",
           "elu_backward", "softplus_backward", "silu_backward", "hardswish_backward"]
TOL = {np.float32: {"rtol": 3e-6, "atol": 2e-6}, np.float64: {"rtol": 1e-12, "atol": 1e-13}}


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("op", NEW_OPS)
def test_registered_and_checked(op: str) -> None:
    # gradcheck, gradgradcheck, dtypes, non-contiguous inputs, parity with PyTorch when installed.
    report = check_op(op, raise_on_failure=False)
    assert report.ok, str(report)
    assert tc.ops.registry()[op].twice_differentiable


def _values(n: int, dtype) -> np.ndarray:
    """Random values plus both tails and the kinks of every activation here."""
    rng = np.random.default_rng(0)
    special = [0.0, -0.0, 3.0, -3.0, 1e-8, -1e-8, 19.9, 20.0, 20.1, 25.0, -25.0, 88.0, -88.0, 100.0, -100.0,
               800.0, -800.0]
    return np.concatenate([rng.standard_normal(n) * 5, special]).astype(dtype)


CASES = [
    ("selu", lambda x: F.selu(x), lambda TF, x: TF.selu(x)),
    ("celu", lambda x: F.celu(x), lambda TF, x: TF.celu(x)),
    ("celu alpha 2.5", lambda x: F.celu(x, 2.5), lambda TF, x: TF.celu(x, 2.5)),
    ("celu alpha -0.5", lambda x: F.celu(x, -0.5), lambda TF, x: TF.celu(x, -0.5)),
    ("mish", lambda x: F.mish(x), lambda TF, x: TF.mish(x)),
    ("hardswish", lambda x: F.hardswish(x), lambda TF, x: TF.hardswish(x)),
    ("hardsigmoid", lambda x: F.hardsigmoid(x), lambda TF, x: TF.hardsigmoid(x)),
    ("logsigmoid", lambda x: F.logsigmoid(x), lambda TF, x: TF.logsigmoid(x)),
    ("softsign", lambda x: F.softsign(x), lambda TF, x: TF.softsign(x)),
    ("glu", lambda x: F.glu(x, 0), lambda TF, x: TF.glu(x, 0)),
    ("sigmoid", lambda x: F.sigmoid(x), lambda TF, x: TF.sigmoid(x)),
    ("silu", lambda x: F.silu(x), lambda TF, x: TF.silu(x)),
    ("elu", lambda x: F.elu(x), lambda TF, x: TF.elu(x)),
    ("elu alpha 0.3", lambda x: F.elu(x, 0.3), lambda TF, x: TF.elu(x, 0.3)),
    ("softplus", lambda x: F.softplus(x), lambda TF, x: TF.softplus(x)),
    ("softplus beta 2 threshold 3", lambda x: F.softplus(x, 2.0, 3.0), lambda TF, x: TF.softplus(x, 2.0, 3.0)),
    ("gelu", lambda x: F.gelu(x), lambda TF, x: TF.gelu(x)),
    ("leaky_relu", lambda x: F.leaky_relu(x), lambda TF, x: TF.leaky_relu(x)),
    ("leaky_relu slope -1.5", lambda x: F.leaky_relu(x, -1.5), lambda TF, x: TF.leaky_relu(x, -1.5)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [50, 100_000], ids=["small", "threaded"])
@pytest.mark.parametrize("name,ours,theirs", CASES, ids=[c[0] for c in CASES])
def test_values_and_gradients_match_torch(torch, name, ours, theirs, n, dtype) -> None:
    x = _values(n, dtype)
    if name == "glu":
        x = x[: len(x) // 2 * 2]
    g_shape = ours(tc.Tensor(x)).shape
    g = np.random.default_rng(1).standard_normal(g_shape).astype(dtype)
    t = tc.Tensor(x, requires_grad=True)
    y = ours(t)
    y.backward(tc.Tensor(g))
    tx = torch.tensor(x, requires_grad=True)
    ty = theirs(torch.nn.functional, tx)
    ty.backward(torch.from_numpy(g))
    assert y.dtype == dtype and t.grad.dtype == dtype
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(t.grad.detach().numpy(), tx.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize("name,ours,theirs", [c for c in CASES if c[0] in ("sigmoid", "logsigmoid", "softplus")],
                         ids=["sigmoid", "logsigmoid", "softplus"])
def test_tails_are_accurate_relative_to_the_value(torch, name, ours, theirs) -> None:
    # sigmoid(-80) is 1.8e-35: a formula through tanh would give 0 there; ours keeps the digits.
    x = np.array([-87.0, -80.0, -40.0, -17.0, 17.0, 40.0], dtype=np.float32)
    y = ours(tc.Tensor(x)).detach().numpy()
    ref = theirs(torch.nn.functional, torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(y, ref, rtol=1e-6, atol=0)


def test_nan_and_inf_propagate_as_in_torch(torch) -> None:
    x = np.array([np.nan, np.inf, -np.inf, 1.0], dtype=np.float32)
    for name, ours, theirs in CASES:
        # glu halves its input; PyTorch's float32 gelu gives NaN at +inf (its float64 gives inf, as
        # ours does in both): a quirk of its vectorised erf we do not copy.
        if name in ("glu", "gelu"):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = ours(tc.Tensor(x)).detach().numpy()
        ref = theirs(torch.nn.functional, torch.from_numpy(x)).numpy()
        np.testing.assert_array_equal(np.isnan(y), np.isnan(ref), err_msg=name)
        np.testing.assert_allclose(y[~np.isnan(y)], ref[~np.isnan(ref)], rtol=1e-6, err_msg=name)


@pytest.mark.parametrize("name", ["selu", "celu", "mish", "hardswish", "logsigmoid", "softsign", "elu", "softplus",
                                  "silu"])
def test_second_derivative_matches_torch(torch, name) -> None:
    ours, theirs = next((o, t) for n, o, t in CASES if n == name)
    x = np.linspace(-4.5, 4.5, 19) + 0.013  # off the kinks
    rng = np.random.default_rng(2)
    g, gg = rng.standard_normal(x.shape), rng.standard_normal(x.shape)
    t = tc.Tensor(x, requires_grad=True)
    (dx,) = tc.grad(ours(t), t, tc.Tensor(g), create_graph=True)
    (d2,) = tc.grad(dx, t, tc.Tensor(gg))
    tx = torch.tensor(x, requires_grad=True)
    (tdx,) = torch.autograd.grad(theirs(torch.nn.functional, tx), tx, torch.tensor(g), create_graph=True)
    (td2,) = torch.autograd.grad(tdx, tx, torch.tensor(gg))
    np.testing.assert_allclose(d2.detach().numpy(), td2.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("shape,wshape", [((2, 3, 4, 4), (3,)), ((2, 3), (1,)), ((5,), (1,)), ((), ()), ((4, 2), (2,))])
def test_prelu_values_and_both_gradients_match_torch(torch, shape, wshape) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(np.float32)
    if x.size > 1:
        x.reshape(-1)[0] = 0.0  # the kink: the input's gradient there is the slope, as PyTorch's
    w = rng.uniform(-0.5, 0.5, wshape).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    xt, wt = tc.Tensor(x, requires_grad=True), tc.Tensor(w, requires_grad=True)
    y = F.prelu(xt, wt)
    y.backward(tc.Tensor(g))
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = torch.nn.functional.prelu(tx, tw)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(xt.grad.detach().numpy(), tx.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(wt.grad.detach().numpy(), tw.grad.numpy(), rtol=1e-5, atol=1e-6)
    assert wt.grad.shape == wshape


def test_hardswish_slope_at_its_kinks_is_torchs(torch) -> None:
    x = np.array([-3.0, 3.0, -3.0001, 3.0001], dtype=np.float64)
    t = tc.Tensor(x, requires_grad=True)
    F.hardswish(t).backward(tc.ones(4, dtype=np.float64))
    tx = torch.tensor(x, requires_grad=True)
    torch.nn.functional.hardswish(tx).backward(torch.ones(4, dtype=torch.float64))
    np.testing.assert_allclose(t.grad.detach().numpy(), tx.grad.numpy())


def test_errors_name_the_op_and_the_rule() -> None:
    with pytest.raises(ValueError, match="celu: alpha cannot be 0"):
        F.celu(tc.ones(3), alpha=0.0)
    with pytest.raises(ValueError, match=r"glu: the halving dimension must be even, but dim 1 of shape \(3, 5\)"):
        F.glu(tc.ones(3, 5), dim=1)
    with pytest.raises(ValueError, match="glu: does not support 0-d"):
        F.glu(tc.Tensor(1.0))
    with pytest.raises(IndexError, match="glu: dim 2 is out of range"):
        F.glu(tc.ones(4, 4), dim=2)
    with pytest.raises(ValueError, match=r"prelu: weight has 3 slopes but the input of shape \(2, 4\) has 4"):
        F.prelu(tc.ones(2, 4), tc.ones(3))
    with pytest.raises(ValueError, match="prelu: weight must be a scalar or a 1-d tensor"):
        F.prelu(tc.ones(2, 4), tc.ones(1, 4))
    with pytest.raises(TypeError, match="selu: expected a floating-point input"):
        F.selu(tc.Tensor([1, 2]))
    with pytest.raises(ValueError, match="PReLU: num_parameters must be a positive integer"):
        nn.PReLU(0)


def test_tensor_methods_follow_torch() -> None:
    # PyTorch has Tensor.prelu but none of the others as methods.
    x = tc.Tensor([[-1.0, 2.0]])
    assert x.prelu(tc.Tensor([0.5])).tolist() == [[-0.5, 2.0]]
    for name in ("selu", "celu", "mish", "hardswish", "hardsigmoid", "logsigmoid", "softsign", "glu"):
        assert not hasattr(x, name), name


MODULES = [("SELU", (), {}), ("CELU", (1.5,), {}), ("Mish", (), {}), ("Hardswish", (), {}), ("Hardsigmoid", (), {}),
           ("LogSigmoid", (), {}), ("Softsign", (), {}), ("GLU", (), {"dim": 1}), ("PReLU", (), {}),
           ("PReLU", (4,), {"init": 0.1})]


@pytest.mark.parametrize("name,args,kwargs", MODULES, ids=[f"{m[0]}{m[1]}" for m in MODULES])
def test_modules_match_torch(torch, name, args, kwargs) -> None:
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert [k for k, _ in ours.named_parameters()] == [k for k, _ in theirs.named_parameters()]
    x = np.random.default_rng(4).standard_normal((3, 4, 2)).astype(np.float32)
    xt, tx = tc.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = ours(xt), theirs(tx)
    g = np.random.default_rng(5).standard_normal(y.shape).astype(np.float32)
    y.backward(tc.Tensor(g))
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(xt.grad.detach().numpy(), tx.grad.numpy(), rtol=2e-6, atol=1e-6)
    for (_, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.detach().numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-6)


INPLACE = [("ReLU", (), "relu", ()), ("ReLU6", (), "relu6", ()), ("LeakyReLU", (0.2,), "leaky_relu", (0.2,)),
           ("ELU", (0.7,), "elu", (0.7,)), ("SiLU", (), "silu", ()), ("Hardtanh", (-0.5, 0.5), "hardtanh", (-0.5, 0.5)),
           ("SELU", (), "selu", ()), ("CELU", (1.3,), "celu", (1.3,)), ("Mish", (), "mish", ()),
           ("Hardswish", (), "hardswish", ()), ("Hardsigmoid", (), "hardsigmoid", ())]


@pytest.mark.parametrize("name,margs,fname,fargs", INPLACE, ids=[c[0] for c in INPLACE])
def test_inplace_overwrites_the_input_and_differentiates_as_torch(torch, name, margs, fname, fargs) -> None:
    rng = np.random.default_rng(6)
    x = (rng.standard_normal((4, 5)) * 3).astype(np.float32)
    g = rng.standard_normal((4, 5)).astype(np.float32)
    module, tmodule = getattr(nn, name)(*margs, inplace=True), getattr(torch.nn, name)(*margs, inplace=True)
    assert repr(module) == repr(tmodule)
    for call, tcall in [(module, tmodule),
                        (lambda h: getattr(F, fname)(h, *fargs, inplace=True),
                         lambda h: getattr(torch.nn.functional, fname)(h, *fargs, inplace=True))]:
        leaf = tc.Tensor(x, requires_grad=True)
        h = leaf * 2.0
        out = call(h)
        assert out is h  # the input itself holds the result, as PyTorch returns it
        (out * tc.Tensor(g)).sum().backward()
        tleaf = torch.tensor(x, requires_grad=True)
        th = tleaf * 2.0
        tout = tcall(th)
        (tout * torch.from_numpy(g)).sum().backward()
        np.testing.assert_allclose(h.detach().numpy(), th.detach().numpy(), rtol=2e-6, atol=1e-6)
        np.testing.assert_allclose(leaf.grad.detach().numpy(), tleaf.grad.numpy(), rtol=2e-6, atol=1e-6)


def test_inplace_under_no_grad_writes_the_array_and_refuses_a_leaf() -> None:
    x = tc.Tensor([-1.0, 2.0])
    arr = x.detach().numpy()
    with tc.no_grad():
        assert F.relu(x, inplace=True) is x
    assert arr.tolist() == [0.0, 2.0] and x._version == 1
    leaf = tc.Tensor([-1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        nn.ReLU(inplace=True)(leaf)
    assert leaf.tolist() == [-1.0, 2.0]  # the failing call left it unchanged
    d = tc.Tensor(np.ones(1000, dtype=np.float32))
    with tc.no_grad():
        out = F.dropout(d, 0.5, True, True)
    assert out is d and (d.detach().numpy() == 0).any()


def test_defaults_follow_torch(torch) -> None:
    import inspect

    for name in ("selu", "celu", "mish", "hardswish", "hardsigmoid", "glu", "relu", "leaky_relu", "elu", "hardtanh",
                 "relu6", "silu"):
        ours = {k: p.default for k, p in inspect.signature(getattr(F, name)).parameters.items()}
        theirs = {k: p.default for k, p in inspect.signature(getattr(torch.nn.functional, name)).parameters.items()}
        assert ours == theirs, name
    assert inspect.signature(nn.PReLU).parameters["init"].default == 0.25
    assert nn.PReLU().weight.tolist() == [0.25]


@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
def test_softmax_modules_choose_torchs_implicit_dim(torch, ndim) -> None:
    x = np.random.default_rng(7).standard_normal((2, 3, 4, 5)[:ndim]).astype(np.float32)
    for ours, theirs in [(nn.Softmax(), torch.nn.Softmax()), (nn.LogSoftmax(), torch.nn.LogSoftmax())]:
        assert repr(ours) == repr(theirs)
        with pytest.warns(UserWarning, match="Implicit dimension choice"):
            y = ours(tc.Tensor(x))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = theirs(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(y.detach().numpy(), ref, rtol=1e-6, atol=1e-7)
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"


@pytest.mark.parametrize("slope", [0.01, 0.0, -1.5, 3.0, 1.0, 1e-30, float("inf")])
def test_leaky_relu_without_grad_is_torchs_bit_for_bit(slope, torch) -> None:
    # Nothing recorded: leaky_relu takes max(x, s x) (min for s > 1), or the select for s = 0 / inf.
    x = np.concatenate([np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 3e38, -3e38]),
                        np.random.default_rng(0).standard_normal(50_000)]).astype(np.float32)
    with np.errstate(all="ignore"):
        ours = F.leaky_relu(tc.Tensor(x), slope).numpy()
    np.testing.assert_array_equal(ours, torch.nn.functional.leaky_relu(torch.from_numpy(x), slope).numpy())


@pytest.mark.parametrize("w", [[0.25], [0.25, -0.5, 1.0, 0.1, 0.0, 0.3], [2.0, 3.0, 1.5, 4.0, 9.0, 1.1],
                               [0.5, 2.0, 0.5, 2.0, 0.5, 2.0]], ids=["one", "mixed", "above 1", "both sides"])
def test_prelu_without_grad_is_torchs_bit_for_bit(w, torch) -> None:
    x = np.resize(np.concatenate([np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45]),
                                  np.random.default_rng(1).standard_normal(2400)]), (4, 6, 10, 10)).astype(np.float32)
    wa = np.array(w, np.float32)
    with np.errstate(all="ignore"):
        ours = F.prelu(tc.Tensor(x), tc.Tensor(wa))
    assert not ours.requires_grad
    theirs = torch.nn.functional.prelu(torch.from_numpy(x), torch.from_numpy(wa)).numpy()
    np.testing.assert_array_equal(ours.numpy(), theirs)

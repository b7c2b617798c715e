"""Activations and dropout (issue 4) against PyTorch CPU: values and gradients everywhere, PyTorch's
conventions at the kinks and at NaN/inf, second derivatives, our erfc, and dropout's generator."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_conv as tc
from tinygrad_conv.ops import activation as A
from tinygrad_conv.ops.registry import registry
from tinygrad_conv.testing import gradcheck, gradgradcheck

DTYPES = [np.float32, np.float64]
TOL = {np.float32: {"rtol": 2e-6, "atol": 1e-6}, np.float64: {"rtol": 1e-12, "atol": 1e-13}}

# name, ours, PyTorch's given torch.nn.functional (PyTorch is imported only by the tests that
# compare with it, through the torch fixture): every activation and setting checked against PyTorch.
ACTIVATIONS = [
    ("relu", A.relu, lambda TF, x: TF.relu(x)),
    ("leaky_relu", A.leaky_relu, lambda TF, x: TF.leaky_relu(x)),
    ("leaky_relu slope 0.3", lambda x: A.leaky_relu(x, 0.3), lambda TF, x: TF.leaky_relu(x, 0.3)),
    ("leaky_relu slope -2", lambda x: A.leaky_relu(x, -2.0), lambda TF, x: TF.leaky_relu(x, -2.0)),
    ("elu", A.elu, lambda TF, x: TF.elu(x)),
    ("elu alpha 2", lambda x: A.elu(x, 2.0), lambda TF, x: TF.elu(x, 2.0)),
    ("gelu", A.gelu, lambda TF, x: TF.gelu(x)),
    ("gelu tanh", lambda x: A.gelu(x, approximate="tanh"), lambda TF, x: TF.gelu(x, approximate="tanh")),
    ("silu", A.silu, lambda TF, x: TF.silu(x)),
    ("softplus", A.softplus, lambda TF, x: TF.softplus(x)),
    ("softplus beta 2 threshold 3", lambda x: A.softplus(x, 2.0, 3.0), lambda TF, x: TF.softplus(x, 2.0, 3.0)),
    ("hardtanh", A.hardtanh, lambda TF, x: TF.hardtanh(x)),
    ("hardtanh -0.5 2", lambda x: A.hardtanh(x, -0.5, 2.0), lambda TF, x: TF.hardtanh(x, -0.5, 2.0)),
    ("relu6", A.relu6, lambda TF, x: TF.relu6(x)),
]
IDS = [a[0] for a in ACTIVATIONS]
ACT_OPS = ["relu", "masked_grad", "leaky_relu", "elu", "gelu", "gelu_backward", "silu", "softplus", "hardtanh", "relu6",
           "dropout"]


def both(torch, ours, theirs, x: np.ndarray, dtype, seed: int = 0):
    """Our and PyTorch's (output, input gradient) with a random upstream gradient; ``theirs`` takes
    torch.nn.functional first, as in ACTIVATIONS."""
    g = np.random.default_rng(seed).standard_normal(x.shape).astype(dtype)
    t = tc.Tensor(x.astype(dtype), requires_grad=True)
    y = ours(t)
    y.backward(tc.Tensor(g))
    tx = torch.tensor(x.astype(dtype), requires_grad=True)
    ty = theirs(torch.nn.functional, tx)
    ty.backward(torch.from_numpy(g))
    assert y.dtype == dtype and t.grad.dtype == dtype
    return (y.detach().numpy(), t.grad.detach().numpy()), (ty.detach().numpy(), tx.grad.numpy())


# check_op (gradcheck, gradgradcheck, PyTorch parity, ...) runs on every op of ACT_OPS in tests/test_registry_ops.py.
def test_registered_as_methods_and_functional_entries():
    import tinygrad_conv.functional as F

    for name in ACT_OPS:
        if name not in ("gelu_backward", "masked_grad"):
            assert getattr(F, name) is registry()[name].function
    assert tc.Tensor([-1.0, 2.0]).relu().tolist() == [0.0, 2.0]
    assert tc.Tensor([-1.0, 7.0]).relu6().tolist() == [0.0, 6.0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,ours,theirs", ACTIVATIONS, ids=IDS)
def test_values_and_gradients_match_torch(name, ours, theirs, dtype, torch):
    rng = np.random.default_rng(1)
    # A wide spread (both softplus regimes, gelu's tails), with the kinks hit exactly.
    x = np.concatenate([rng.standard_normal(200) * 4, rng.standard_normal(50) * 30,
                        [0.0, -1.0, 1.0, 6.0, -0.5, 2.0, 20.0, 1.5, -20.0, 3e-8, -3e-8]]).reshape(9, 29)
    (y, dx), (ty, tdx) = both(torch, ours, theirs, x, dtype)
    tol = TOL[dtype] if not name.startswith("gelu") or dtype == np.float64 else {"rtol": 1e-5, "atol": 1e-6}
    np.testing.assert_allclose(y, ty, **tol)
    np.testing.assert_allclose(dx, tdx, **tol)


PIECEWISE = [a for a in ACTIVATIONS if a[0] in ("relu", "leaky_relu", "leaky_relu slope -2", "elu", "elu alpha 2",
                                                  "hardtanh", "hardtanh -0.5 2", "relu6")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,ours,theirs", PIECEWISE, ids=[a[0] for a in PIECEWISE])
def test_kinks_and_infinities_follow_torch(name, ours, theirs, dtype, torch):
    # relu'(0) = 0, hardtanh/relu6 pass nothing at either bound, leaky_relu'(0) = slope,
    # elu'(0) = alpha; +-inf and NaN values as PyTorch's.
    x = np.array([0.0, -0.0, -1.0, 1.0, 6.0, -0.5, 2.0, np.nan, np.inf, -np.inf, 5.0, -3.0])
    (y, dx), (ty, tdx) = both(torch, ours, theirs, x, dtype, seed=2)
    np.testing.assert_allclose(y, ty, rtol=1e-6, atol=0)  # NaN where PyTorch has NaN
    finite_grad = ~np.isnan(x) if name.split()[0] in ("hardtanh", "relu6", "elu") else np.ones(x.shape, bool)
    np.testing.assert_allclose(dx[finite_grad], tdx[finite_grad], rtol=1e-6, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,ours,theirs", PIECEWISE, ids=[a[0] for a in PIECEWISE])
def test_gradient_at_nan_follows_torchs_vectorised_kernel(name, ours, theirs, dtype, torch):
    # PyTorch's CPU kernels disagree with themselves at NaN for hardtanh, relu6 and elu: the
    # vectorised body gives 0 (hardtanh, relu6) or NaN (elu), the scalar tail passes the gradient.
    # Ours follows the body, which is what a long array mostly sees; relu and leaky_relu agree.
    x = np.full(64, np.nan)
    (_, dx), (_, tdx) = both(torch, ours, theirs, x, dtype, seed=3)
    np.testing.assert_allclose(dx[0], tdx[0], rtol=1e-6, atol=0)
    rule = {"relu": "passes", "leaky_relu": "passes", "elu": "nan", "hardtanh": 0.0,
            "relu6": 0.0}[name.split()[0]]
    if rule == "nan":
        assert np.isnan(dx).all()
    elif rule == 0.0:
        assert not dx.any()
    else:
        assert np.isfinite(dx).all() and dx.any()


@pytest.mark.parametrize("size", [12, 300_000], ids=["short", "threaded"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,ours,theirs", PIECEWISE, ids=[a[0] for a in PIECEWISE])
def test_non_finite_upstream_gradient_follows_torch(name, ours, theirs, dtype, size, torch):
    # Where relu, hardtanh and relu6 pass nothing, PyTorch selects 0 even for an inf or NaN
    # upstream gradient (threshold_backward); 0 * inf would be NaN. leaky_relu and elu multiply.
    rng = np.random.default_rng(4)
    x = rng.standard_normal(size) * 4
    g = rng.standard_normal(size).astype(dtype)
    hit = rng.choice(size, size=12, replace=False)
    g[hit[:4]], g[hit[4:8]], g[hit[8:]] = np.inf, -np.inf, np.nan
    t = tc.Tensor(x.astype(dtype), requires_grad=True)
    with np.errstate(invalid="ignore"):
        ours(t).backward(tc.Tensor(g))
    tx = torch.tensor(x.astype(dtype), requires_grad=True)
    theirs(torch.nn.functional, tx).backward(torch.from_numpy(g))
    np.testing.assert_allclose(t.grad.detach().numpy(), tx.grad.numpy(), rtol=1e-6, atol=0)  # NaN where PyTorch has it


def test_relu_conventions_spelled_out():
    x = tc.Tensor([0.0, float("nan"), -2.0, 3.0], requires_grad=True)
    y = A.relu(x)
    y.backward(tc.Tensor([1.0, 1.0, 1.0, 1.0]))
    assert y.tolist()[0] == 0.0 and math.isnan(y.tolist()[1])
    assert x.grad.tolist() == [0.0, 1.0, 0.0, 1.0]  # 0 at 0; NaN passes it, as PyTorch
    x = tc.Tensor([0.0, 6.0, 3.0], requires_grad=True)
    A.relu6(x).backward(tc.Tensor([1.0, 1.0, 1.0]))
    assert x.grad.tolist() == [0.0, 0.0, 1.0]


def test_relu_saves_only_its_output():
    x = tc.Tensor(np.random.default_rng(3).standard_normal((4, 5)), requires_grad=True)
    y = A.relu(x)
    (saved,) = y.grad_fn.ctx.saved_tensors
    assert saved.detach().numpy() is y.detach().numpy()  # no copy, no mask, not the input
    y += 1.0  # an in-place change of the saved output is caught at backward
    with pytest.raises(RuntimeError, match="in-place"):
        y.backward(tc.Tensor(np.ones((4, 5))))


def test_relu_double_backward_sees_an_in_place_change_of_its_output():
    # relu's backward uses its output as the mask of the recorded gradient op; changing the
    # output after a create_graph backward must be caught by the double backward, not read.
    x = tc.Tensor(np.array([-1.0, 2.0, 3.0]), requires_grad=True)
    y = A.relu(x)
    dy = tc.Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    (gx,) = tc.grad(y, x, dy, create_graph=True)
    assert gx.tolist() == [0.0, 2.0, 3.0]
    with tc.no_grad():
        y.mul_(0.0)
    with pytest.raises(RuntimeError, match="masked_grad.*in-place|in-place.*masked_grad"):
        gx.sum().backward()
    assert dy.grad is None


@pytest.mark.parametrize("name,ours,theirs", ACTIVATIONS, ids=IDS)
def test_second_derivatives_match_torch(name, ours, theirs, torch):
    # d/dx of <dx, w> and d/d(dy) of it, against PyTorch's double backward, away from the kinks.
    rng = np.random.default_rng(4)
    x = rng.uniform(0.1, 3.0, 24) * np.where(rng.random(24) < 0.5, -1.0, 1.0)
    x = np.where(np.abs(np.abs(x) - 1.0) < 0.05, x + 0.2, x)  # hardtanh's bounds
    dy, w = rng.standard_normal(24), rng.standard_normal(24)
    t, v = tc.Tensor(x, requires_grad=True), tc.Tensor(dy, requires_grad=True)
    (gx,) = tc.grad(ours(t), t, v, create_graph=True)
    gxx, gdy = tc.grad((gx * tc.Tensor(w)).sum(), [t, v], allow_unused=True)
    tx, tv = torch.tensor(x, requires_grad=True), torch.tensor(dy, requires_grad=True)
    (tgx,) = torch.autograd.grad(theirs(torch.nn.functional, tx), tx, tv, create_graph=True)
    tgxx, tgdy = torch.autograd.grad((tgx * torch.from_numpy(w)).sum(), [tx, tv], allow_unused=True)
    np.testing.assert_allclose(gdy.detach().numpy(), tgdy.numpy(), rtol=1e-12, atol=1e-13)
    ours_xx = np.zeros(24) if gxx is None else gxx.detach().numpy()
    theirs_xx = np.zeros(24) if tgxx is None else tgxx.numpy()
    np.testing.assert_allclose(ours_xx, theirs_xx, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_third_order(approximate):
    x = tc.Tensor(np.linspace(-3, 3, 7), requires_grad=True)

    def first(t):
        (g,) = tc.grad(A.gelu(t, approximate).sum(), t, create_graph=True)
        return g

    assert gradgradcheck(first, (x,))


def test_erfc_is_accurate_in_float64():
    z = np.concatenate([np.linspace(-6, 6, 4001), np.linspace(6, 26, 201), [0.0, 2.0, -2.0, 1e-300]])
    ours = A._erfc(z)
    ref = np.array([math.erfc(v) for v in z])
    # Relative error: about 1e-15 near 0, up to about 5e-13 near |z| = 2, where erfc = 1 - erf
    # cancels, and 1e-13 in the far tail (bounded by exp(-z*z) itself).
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=0)
    special = A._erfc(np.array([np.inf, -np.inf, np.nan]))
    assert special[0] == 0.0 and special[1] == 2.0 and np.isnan(special[2])


def test_gelu_tails_and_nan():
    x = np.array([-40.0, -10.0, -5.0, 5.0, 10.0, 40.0, np.nan])
    y = A.gelu(tc.Tensor(x)).detach().numpy()
    phi = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in x[:-1]])
    np.testing.assert_allclose(y[:-1], x[:-1] * phi, rtol=1e-13, atol=0)  # relative, in the tails too
    assert np.isnan(y[-1])


def test_softplus_never_overflows_below_the_threshold():
    x = tc.Tensor(np.array([100.0, -100.0], np.float32))
    y = A.softplus(x, beta=1.0, threshold=1000.0)
    np.testing.assert_allclose(y.detach().numpy(), [100.0, 0.0], rtol=1e-6, atol=1e-30)


def test_activation_errors():
    x = tc.Tensor(np.ones(3, np.float32))
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh'"):
        A.gelu(x, approximate="erf")
    with pytest.raises(ValueError, match="hardtanh: min_val cannot be greater than max_val"):
        A.hardtanh(x, 2.0, 1.0)
    with pytest.raises(TypeError, match="elu: expected a floating-point input"):
        A.elu(tc.Tensor(np.ones(3, np.int64)))
    with pytest.raises(ValueError, match="softplus: beta must not be zero"):
        A.softplus(x, beta=0.0)


def test_pytorch_refuses_the_arguments_we_refuse(torch):
    # Our errors for these (above, and dropout's p below) refuse nothing that PyTorch accepts.
    TF = torch.nn.functional
    with pytest.raises(RuntimeError):
        TF.gelu(torch.ones(3), approximate="erf")
    with pytest.raises(ValueError):
        TF.hardtanh(torch.ones(3), 2.0, 1.0)
    with pytest.raises(ValueError):
        TF.dropout(torch.ones(3), 1.5)


# ----------------------------------------------------------------------------- dropout
def test_dropout_mask_scale_and_gradient():
    rng = np.random.default_rng(5)
    x = tc.Tensor(rng.standard_normal((200, 300)).astype(np.float32), requires_grad=True)
    y = A.dropout(x, p=0.3, generator=np.random.default_rng(0))
    kept = y.detach().numpy() != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y.detach().numpy()[kept], x.detach().numpy()[kept] / 0.7, rtol=1e-6)
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(tc.Tensor(g))
    np.testing.assert_allclose(x.grad.detach().numpy(), np.where(kept, g / 0.7, 0.0), rtol=1e-6)
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


def test_dropout_is_reproducible_with_manual_seed_and_generators():
    x = tc.ones(50, 40)
    A.manual_seed(123)
    a = A.dropout(x).detach().numpy().copy()
    b = A.dropout(x).detach().numpy().copy()
    A.manual_seed(123)
    np.testing.assert_array_equal(A.dropout(x).detach().numpy(), a)
    assert not np.array_equal(a, b)  # the default generator moves on
    c = A.dropout(x, generator=np.random.default_rng(7)).detach().numpy()
    np.testing.assert_array_equal(c, A.dropout(x, generator=np.random.default_rng(7)).detach().numpy())
    seeded = A.manual_seed(1)
    assert A.default_generator() is seeded
    with pytest.raises(ValueError, match="manual_seed: seed must be a non-negative integer"):
        A.manual_seed(-1)


def test_dropout_gradients_by_finite_differences():
    x = tc.Tensor(np.random.default_rng(6).standard_normal((3, 5)), requires_grad=True)

    def fn(t):  # a fresh generator with the same seed per call: the same mask each time
        return A.dropout(t, 0.4, generator=np.random.default_rng(3))

    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


def test_dropout_special_cases():
    x = tc.Tensor(np.random.default_rng(7).standard_normal((4, 4)), requires_grad=True)
    assert A.dropout(x, 0.5, training=False) is x  # evaluation: the identity, as PyTorch
    assert A.dropout(x, 0.0) is x
    y = A.dropout(x, 1.0)
    assert not y.detach().numpy().any() and not np.isnan(y.detach().numpy()).any()
    y.backward(tc.Tensor(np.ones((4, 4))))
    assert not x.grad.detach().numpy().any()
    for p in [-0.1, 1.5, float("nan"), "0.5", True]:
        with pytest.raises(ValueError, match="dropout: p is the probability"):
            A.dropout(x, p)
    with pytest.raises(TypeError, match="dropout: generator must be a numpy.random.Generator"):
        A.dropout(x, 0.5, generator=3)

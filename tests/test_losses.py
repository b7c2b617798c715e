"""Losses against PyTorch: values and gradients, reductions, label smoothing, weights, ignore_index,
large logits, second derivatives, and the errors a wrong target gives."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_conv as tc
from tinygrad_conv import functional as F
from tinygrad_conv import nn
from tinygrad_conv.ops import loss as L
from tinygrad_conv.testing import check_op

LOSSES = ["cross_entropy", "nll_loss", "mse_loss", "binary_cross_entropy_with_logits"]


@pytest.mark.parametrize("name", LOSSES)
def test_registered_and_checked(name: str) -> None:
    # Every declared sample: gradcheck, gradgradcheck, parity with PyTorch when installed.
    report = check_op(name, raise_on_failure=False)
    assert report.ok, str(report)
    assert tc.ops.registry()[name].twice_differentiable


def _torch():
    return pytest.importorskip("torch")


def _grad_pair(fn_ours, fn_torch, x: np.ndarray, *rest_ours, **kw):
    """(our value, our grad, torch value, torch grad) of a loss of x."""
    torch = _torch()
    xo = tc.Tensor(x, requires_grad=True)
    lo = fn_ours(xo, *rest_ours[0], **kw) if rest_ours else fn_ours(xo, **kw)
    g = np.random.default_rng(1).standard_normal(lo.shape).astype(x.dtype)
    lo.backward(tc.Tensor(g))
    xt = torch.tensor(x, requires_grad=True)
    lt = fn_torch(xt, *rest_ours[1], **kw) if rest_ours else fn_torch(xt, **kw)
    lt.backward(torch.tensor(g))
    return lo.detach().numpy(), xo.grad.detach().numpy(), lt.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_matches_torch(reduction: str, smoothing: float, weighted: bool) -> None:
    torch = _torch()
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((7, 5)) * 3).astype(np.float32)
    t = rng.integers(0, 5, 7)
    t[2] = -100  # ignored
    w = rng.uniform(0.2, 3.0, 5).astype(np.float32) if weighted else None
    kw = {"reduction": reduction, "label_smoothing": smoothing}
    ours, g_ours, ref, g_ref = _grad_pair(
        lambda a, tt, **k: L.cross_entropy(a, tt, None if w is None else tc.Tensor(w), **k),
        lambda a, tt, **k: torch.nn.functional.cross_entropy(a, tt, None if w is None else torch.tensor(w), **k),
        x, (tc.Tensor(t),), (torch.tensor(t),), **kw)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g_ours, g_ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(5,), (7, 5), (2, 3, 4, 5)])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("smoothing", [0.1, 1.0])
def test_cross_entropy_smoothed_without_weights_or_ignored_targets(shape, reduction, smoothing) -> None:
    # The path that sums logp against the smoothed target distribution in one product.
    torch = _torch()
    rng = np.random.default_rng(6)
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    c = shape[0] if len(shape) == 1 else shape[1]
    t = rng.integers(0, c, () if len(shape) == 1 else (shape[0],) + shape[2:])
    ours, g_ours, ref, g_ref = _grad_pair(L.cross_entropy, torch.nn.functional.cross_entropy, x,
                                          (tc.Tensor(t),), (torch.tensor(t),), reduction=reduction,
                                          label_smoothing=smoothing)
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g_ours, g_ref, rtol=1e-5, atol=1e-6)
    x64 = tc.Tensor(x.astype(np.float64), requires_grad=True)
    loss = lambda a: L.cross_entropy(a, tc.Tensor(t), reduction=reduction, label_smoothing=smoothing)  # noqa: E731
    assert tc.autograd.gradcheck(loss, (x64,))
    assert tc.autograd.gradgradcheck(loss, (x64,))


@pytest.mark.parametrize("scale", [1e2, 1e4, 1e30])
def test_cross_entropy_large_logits_is_finite_and_matches(scale: float) -> None:
    torch = _torch()
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((6, 4)) * scale).astype(np.float32)
    t = rng.integers(0, 4, 6)
    for smoothing in (0.0, 0.2):
        ours, g_ours, ref, g_ref = _grad_pair(
            L.cross_entropy, torch.nn.functional.cross_entropy, x, (tc.Tensor(t),), (torch.tensor(t),),
            label_smoothing=smoothing)
        assert np.isfinite(ours).all() and np.isfinite(g_ours).all()
        np.testing.assert_allclose(ours, ref, rtol=1e-5)
        np.testing.assert_allclose(g_ours, g_ref, rtol=1e-5, atol=1e-6)


def test_cross_entropy_spatial_and_probabilities() -> None:
    torch = _torch()
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    t = rng.integers(0, 3, (2, 4, 5))
    ours, g_ours, ref, g_ref = _grad_pair(L.cross_entropy, torch.nn.functional.cross_entropy, x,
                                          (tc.Tensor(t),), (torch.tensor(t),), label_smoothing=0.1)
    np.testing.assert_allclose(ours, ref, rtol=1e-5)
    np.testing.assert_allclose(g_ours, g_ref, rtol=1e-5, atol=1e-7)
    p = rng.dirichlet(np.ones(3), (2, 4, 5)).transpose(0, 3, 1, 2).astype(np.float32)
    ours, g_ours, ref, g_ref = _grad_pair(L.cross_entropy, torch.nn.functional.cross_entropy, x,
                                          (tc.Tensor(p),), (torch.tensor(p),), reduction="sum")
    np.testing.assert_allclose(ours, ref, rtol=1e-5)
    np.testing.assert_allclose(g_ours, g_ref, rtol=1e-5, atol=1e-6)


def test_cross_entropy_second_derivative_matches_torch() -> None:
    torch = _torch()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 3))
    t = rng.integers(0, 3, 4)
    v = rng.standard_normal((4, 3))
    xo = tc.Tensor(x, requires_grad=True)
    (g,) = tc.grad(L.cross_entropy(xo, tc.Tensor(t), label_smoothing=0.1), xo, create_graph=True)
    (hv,) = tc.grad((g * tc.Tensor(v)).sum(), xo)
    xt = torch.tensor(x, requires_grad=True)
    (gt,) = torch.autograd.grad(torch.nn.functional.cross_entropy(xt, torch.tensor(t), label_smoothing=0.1),
                                xt, create_graph=True)
    (hvt,) = torch.autograd.grad((gt * torch.tensor(v)).sum(), xt)
    np.testing.assert_allclose(hv.detach().numpy(), hvt.numpy(), rtol=1e-10, atol=1e-12)


def test_nll_loss_matches_torch_with_weights_and_ignore() -> None:
    torch = _torch()
    rng = np.random.default_rng(6)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    t = rng.integers(0, 4, 6)
    t[0] = 3
    t[4] = -1
    w = rng.uniform(0.5, 2.0, 4).astype(np.float32)
    for reduction in ("mean", "sum", "none"):
        ours, g_ours, ref, g_ref = _grad_pair(
            lambda a, tt, **k: L.nll_loss(a, tt, tc.Tensor(w), ignore_index=-1, **k),
            lambda a, tt, **k: torch.nn.functional.nll_loss(a, tt, torch.tensor(w), ignore_index=-1, **k),
            x, (tc.Tensor(t),), (torch.tensor(t),), reduction=reduction)
        np.testing.assert_allclose(ours, ref, rtol=1e-6)
        np.testing.assert_allclose(g_ours, g_ref, rtol=1e-6)


def test_nll_loss_all_ignored_mean_is_nan_like_torch() -> None:
    x = tc.Tensor(np.zeros((2, 3), np.float32))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = L.nll_loss(x, tc.Tensor([-100, -100]))
    assert np.isnan(out.item())


def _ignored_case(pattern: str, spatial: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(input, target, class weights) in float64 with targets ignored by ``pattern``: 'all' ignores
    every target; 'zero-weight' ignores some and gives the others a class weight of 0 (total weight
    0 with entries left); 'some' ignores one."""
    rng = np.random.default_rng(11)
    shape = (3, 4, 2, 2) if spatial else (5, 4)
    x = rng.standard_normal(shape) * 2
    t = rng.integers(0, 3, (shape[0],) + shape[2:])
    w = rng.uniform(0.5, 2.0, 4)
    if pattern == "all":
        t[...] = -100
    elif pattern == "zero-weight":
        t.flat[::2] = -100
        t.flat[1::2] = 3
        w[3] = 0.0
    else:
        t.flat[1] = -100
    return x, t, w


@pytest.mark.parametrize("pattern", ["all", "zero-weight", "some"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [None, 0.0, 0.3])  # None: nll_loss of log-probabilities
@pytest.mark.parametrize("spatial", [False, True])
def test_ignored_targets_match_torch_value_and_gradient(torch, pattern: str, reduction: str, weighted: bool,
                                                        smoothing: float | None, spatial: bool) -> None:
    """Every target ignored: 'mean' is nan (0/0) and the gradient is 0 (it was nan), as PyTorch;
    'sum' and 'none' give 0. With a zero total weight and entries left PyTorch's gradient is nan
    at those entries and 0 at the ignored ones."""
    x, t, w = _ignored_case(pattern, spatial)
    if pattern == "zero-weight" and not weighted:
        pytest.skip("a zero total weight needs class weights")
    weight_o = tc.Tensor(w) if weighted else None
    weight_t = torch.tensor(w) if weighted else None
    xo = tc.Tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):  # the zero-weight case divides by 0, as PyTorch
        if smoothing is None:
            lo = L.nll_loss(F.log_softmax(xo, 1), tc.Tensor(t), weight_o, reduction=reduction)
            lt = torch.nn.functional.nll_loss(torch.log_softmax(xt, 1), torch.tensor(t), weight_t,
                                              reduction=reduction)
        else:
            lo = L.cross_entropy(xo, tc.Tensor(t), weight_o, reduction=reduction, label_smoothing=smoothing)
            lt = torch.nn.functional.cross_entropy(xt, torch.tensor(t), weight_t, reduction=reduction,
                                                   label_smoothing=smoothing)
        g = np.random.default_rng(2).standard_normal(lo.shape)
        lo.backward(tc.Tensor(g))
        lt.backward(torch.tensor(g))
    np.testing.assert_allclose(lo.detach().numpy(), lt.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-14)
    if pattern == "all":
        assert not np.isnan(xo.grad.numpy()).any()


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_all_ignored_second_derivative_and_no_warnings(torch, smoothing: float) -> None:
    import warnings

    x, t, _ = _ignored_case("all", spatial=False)
    v = np.random.default_rng(3).standard_normal(x.shape)
    xo = tc.Tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no 'invalid value' from numpy: PyTorch warns of nothing either
        loss = L.cross_entropy(xo, tc.Tensor(t), label_smoothing=smoothing)
        (g,) = tc.grad(loss, xo, create_graph=True)
        (hv,) = tc.grad((g * tc.Tensor(v)).sum(), xo, allow_unused=True)
    xt = torch.tensor(x, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(t), label_smoothing=smoothing)
    (gt,) = torch.autograd.grad(lt, xt, create_graph=True)
    np.testing.assert_array_equal(g.detach().numpy(), gt.detach().numpy())
    assert np.isnan(loss.item()) and np.isnan(lt.item())
    assert hv is None or not hv.numpy().any()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_torch(reduction: str) -> None:
    torch = _torch()
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((2, 3, 4)).astype(np.float32), rng.standard_normal((2, 3, 4)).astype(np.float32)
    ours, g_ours, ref, g_ref = _grad_pair(L.mse_loss, torch.nn.functional.mse_loss, a,
                                          (tc.Tensor(b),), (torch.tensor(b),), reduction=reduction)
    np.testing.assert_allclose(ours, ref, rtol=1e-6)
    np.testing.assert_allclose(g_ours, g_ref, rtol=1e-6)


@pytest.mark.parametrize("scale", [1.0, 50.0, 1e4])
def test_bce_with_logits_stable_and_matches_torch(scale: float) -> None:
    torch = _torch()
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((5, 3)) * scale).astype(np.float32)
    t = rng.uniform(0, 1, (5, 3)).astype(np.float32)
    pw = rng.uniform(0.5, 3.0, 3).astype(np.float32)
    w = rng.uniform(0.5, 2.0, (5, 3)).astype(np.float32)
    for kwargs in ({}, {"pos_weight": pw}, {"weight": w, "reduction": "none"}):
        ko = {k: tc.Tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        kt = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
        xo = tc.Tensor(x, requires_grad=True)
        lo = L.binary_cross_entropy_with_logits(xo, tc.Tensor(t), **ko)
        lo.sum().backward()
        xt = torch.tensor(x, requires_grad=True)
        lt = torch.nn.functional.binary_cross_entropy_with_logits(xt, torch.tensor(t), **kt)
        lt.sum().backward()
        assert np.isfinite(lo.detach().numpy()).all() and np.isfinite(xo.grad.detach().numpy()).all()
        np.testing.assert_allclose(lo.detach().numpy(), lt.detach().numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(xo.grad.detach().numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_loss_modules_match_functions() -> None:
    rng = np.random.default_rng(9)
    x = tc.Tensor(rng.standard_normal((4, 3)).astype(np.float32))
    t = tc.Tensor(rng.integers(0, 3, 4))
    w = np.array([1.0, 2.0, 0.5], np.float32)
    assert nn.CrossEntropyLoss(weight=w, label_smoothing=0.2)(x, t).item() == \
        L.cross_entropy(x, t, tc.Tensor(w), label_smoothing=0.2).item()
    assert nn.NLLLoss(reduction="sum")(x, t).item() == L.nll_loss(x, t, reduction="sum").item()
    y = tc.Tensor(rng.uniform(0, 1, (4, 3)).astype(np.float32))
    assert nn.MSELoss()(x, y).item() == L.mse_loss(x, y).item()
    assert nn.BCEWithLogitsLoss(pos_weight=[2.0, 1.0, 1.0])(x, y).item() == \
        L.binary_cross_entropy_with_logits(x, y, pos_weight=tc.Tensor([2.0, 1.0, 1.0])).item()
    assert "label_smoothing=0.2" in repr(nn.CrossEntropyLoss(label_smoothing=0.2))


def test_target_errors_name_the_shapes() -> None:
    x = tc.Tensor(np.zeros((4, 10), np.float32))
    with pytest.raises(ValueError, match=r"target must have shape \(4,\).*got \(4, 1\)"):
        L.cross_entropy(x, tc.Tensor(np.zeros((4, 1), np.int64)))
    with pytest.raises(TypeError, match="must be integers.*float32"):
        L.cross_entropy(x, tc.Tensor(np.zeros(4, np.float32)))
    with pytest.raises(IndexError, match=r"\[0, 10\).*from -3 to 12"):
        L.cross_entropy(x, tc.Tensor([0, 12, -3, 1]))
    with pytest.raises(ValueError, match=r"weight must have shape \(C,\) = \(10,\)"):
        L.cross_entropy(x, tc.Tensor([0, 1, 2, 3]), weight=tc.Tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="reduction must be"):
        L.nll_loss(x, tc.Tensor([0, 1, 2, 3]), reduction="avg")
    with pytest.raises(ValueError, match=r"target shape \(4, 9\) must equal input shape \(4, 10\)"):
        L.binary_cross_entropy_with_logits(x, tc.Tensor(np.zeros((4, 9), np.float32)))
    with pytest.raises(ValueError, match=r"input shape \(4, 10\) and target shape \(3,\)"):
        L.mse_loss(x, tc.Tensor(np.zeros(3, np.float32)))

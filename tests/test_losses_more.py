"""The losses added for issue 15 (binary_cross_entropy, l1_loss, smooth_l1_loss, huber_loss, kl_div,
cosine_similarity) and their modules against PyTorch: values and gradients of both arguments with
random upstream gradients, every reduction, weights, the legacy size_average/reduce, the edges
(probabilities of exactly 0 and 1, zero targets, the quadratic/linear boundary) and the errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinygrad_conv as tc
import tinygrad_conv.functional as F
from tinygrad_conv import nn
from tinygrad_conv.testing import check_op

OPS = ["binary_cross_entropy", "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div", "cosine_similarity"]


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("name", OPS)
def test_registered_and_checked(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kl_div's 'mean' warning
        report = check_op(name, raise_on_failure=False)
    assert report.ok, str(report)
    assert tc.ops.registry()[name].twice_differentiable


def _both(torch, ours, theirs, arrays, grad_args=(0, 1), **kw):
    """Our and PyTorch's (value, gradients of the args in grad_args), with a random upstream gradient."""
    ts = [tc.Tensor(a, requires_grad=i in grad_args) for i, a in enumerate(arrays)]
    tt = [torch.tensor(a, requires_grad=i in grad_args) for i, a in enumerate(arrays)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y = ours(*ts, **kw)
        ty = theirs(*tt, **kw)
    g = np.random.default_rng(9).standard_normal(y.shape).astype(y.dtype)
    y.backward(tc.Tensor(g))
    ty.backward(torch.from_numpy(g))
    assert y.shape == tuple(ty.shape) and y.dtype == arrays[0].dtype
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-6)
    for i in grad_args:
        np.testing.assert_allclose(ts[i].grad.detach().numpy(), tt[i].grad.numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=f"arg {i}")


REDUCTIONS = ["mean", "sum", "none"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_matches_torch(torch, reduction, dtype) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0.01, 0.99, (5, 4)).astype(dtype)
    t = rng.uniform(0, 1, (5, 4)).astype(dtype)
    _both(torch, F.binary_cross_entropy, torch.nn.functional.binary_cross_entropy, [x, t], reduction=reduction)
    w = rng.uniform(0.5, 2, 4).astype(dtype)
    _both(torch, lambda a, b: F.binary_cross_entropy(a, b, tc.Tensor(w), reduction=reduction),
          lambda a, b: torch.nn.functional.binary_cross_entropy(a, b, torch.tensor(w), reduction=reduction), [x, t])


def test_binary_cross_entropy_at_exactly_0_and_1_is_torchs(torch) -> None:
    # log clamped to -100 (a loss of 100, not inf); the input gradient divides by max(x(1-x), 1e-12).
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.5], dtype=np.float64)
    t = np.array([1.0, 0.0, 0.0, 1.0, 0.3], dtype=np.float64)
    _both(torch, F.binary_cross_entropy, torch.nn.functional.binary_cross_entropy, [x, t], grad_args=(0,),
          reduction="none")
    assert F.binary_cross_entropy(tc.Tensor([0.0]), tc.Tensor([1.0])).item() == 100.0


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,kw", [("l1_loss", {}), ("smooth_l1_loss", {}), ("smooth_l1_loss", {"beta": 0.3}),
                                     ("smooth_l1_loss", {"beta": 0.0}), ("huber_loss", {}),
                                     ("huber_loss", {"delta": 2.5})])
def test_regression_losses_match_torch(torch, name, kw, reduction) -> None:
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((6, 5)) * 2).astype(np.float32)
    t = (rng.standard_normal((6, 5)) * 2).astype(np.float32)
    x[0, :3] = t[0, :3] + np.array([0.0, kw.get("beta", kw.get("delta", 1.0)), -kw.get("beta", kw.get("delta", 1.0))],
                                   dtype=np.float32)  # exactly 0 and exactly on the boundary
    _both(torch, getattr(F, name), getattr(torch.nn.functional, name), [x, t], reduction=reduction, **kw)


@pytest.mark.parametrize("name", ["l1_loss", "huber_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_element_weights_reduce_as_torch(torch, name, reduction) -> None:
    # l1_loss's weighted mean divides by sum(weight); huber_loss's by the element count.
    rng = np.random.default_rng(2)
    x, t = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    w = rng.uniform(0.1, 2.0, (3, 4))
    _both(torch, lambda a, b: getattr(F, name)(a, b, reduction=reduction, weight=tc.Tensor(w)),
          lambda a, b: getattr(torch.nn.functional, name)(a, b, reduction=reduction, weight=torch.tensor(w)), [x, t])


def test_broadcast_target_warns_and_matches_torch(torch) -> None:
    rng = np.random.default_rng(3)
    x, t = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(4).astype(np.float32)
    with pytest.warns(UserWarning, match="different to the input size"):
        F.l1_loss(tc.Tensor(x), tc.Tensor(t))
    _both(torch, F.smooth_l1_loss, torch.nn.functional.smooth_l1_loss, [x, t])


@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none", "mean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(torch, reduction, log_target) -> None:
    rng = np.random.default_rng(4)
    logp = np.log(rng.dirichlet(np.ones(5), 4))
    q = rng.dirichlet(np.ones(5), 4)
    target = np.log(q) if log_target else q
    _both(torch, F.kl_div, torch.nn.functional.kl_div, [logp, target], reduction=reduction, log_target=log_target)


def test_kl_div_zero_target_contributes_nothing(torch) -> None:
    logp = np.log(np.array([[0.2, 0.3, 0.5]]))
    q = np.array([[0.0, 0.4, 0.6]])
    _both(torch, F.kl_div, torch.nn.functional.kl_div, [logp, q], grad_args=(0,), reduction="batchmean")
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        F.kl_div(tc.Tensor(logp), tc.Tensor(q))


@pytest.mark.parametrize("shapes,dim", [(((4, 5), (4, 5)), 1), (((2, 3, 4), (2, 3, 4)), -1), (((3, 4), (1, 4)), 1),
                                        (((2, 3, 4), (2, 3, 4)), 0), (((5,), (5,)), 0)])
def test_cosine_similarity_matches_torch(torch, shapes, dim) -> None:
    rng = np.random.default_rng(5)
    a, b = (rng.standard_normal(s) for s in shapes)
    _both(torch, F.cosine_similarity, torch.nn.functional.cosine_similarity, [a, b], dim=dim)


def test_cosine_similarity_of_a_zero_vector_is_zero_as_torch(torch) -> None:
    a = np.array([[0.0, 0.0], [1.0, 2.0]])
    b = np.array([[0.0, 0.0], [2.0, 1.0]])
    y = F.cosine_similarity(tc.Tensor(a), tc.Tensor(b))
    np.testing.assert_allclose(y.detach().numpy(), torch.nn.functional.cosine_similarity(torch.tensor(a),
                                                                                         torch.tensor(b)).numpy())


def test_legacy_size_average_and_reduce_map_as_torch(torch) -> None:
    rng = np.random.default_rng(6)
    x, t = rng.uniform(0.1, 0.9, 6), rng.uniform(0, 1, 6)
    for size_average, reduce in [(False, None), (None, False), (True, True), (False, True)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = F.binary_cross_entropy(tc.Tensor(x), tc.Tensor(t), None, size_average, reduce)
            theirs = torch.nn.functional.binary_cross_entropy(torch.tensor(x), torch.tensor(t), None, size_average,
                                                              reduce)
            m, tm = nn.L1Loss(size_average, reduce), torch.nn.L1Loss(size_average, reduce)
        np.testing.assert_allclose(ours.detach().numpy(), theirs.numpy())
        assert m.reduction == tm.reduction


def test_errors_name_the_loss_and_the_rule() -> None:
    with pytest.raises(ValueError, match="binary_cross_entropy: all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(tc.Tensor([1.5]), tc.Tensor([1.0]))
    with pytest.raises(ValueError, match="binary_cross_entropy: all elements of target should be between 0 and 1"):
        F.binary_cross_entropy(tc.Tensor([0.5]), tc.Tensor([1.5]))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: using a target size \(3,\)"):
        F.binary_cross_entropy(tc.Tensor([0.5, 0.5]), tc.Tensor([1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match=r"weight of shape \(3,\) does not broadcast"):
        F.binary_cross_entropy(tc.Tensor([0.5, 0.5]), tc.Tensor([1.0, 0.0]), weight=tc.ones(3))
    with pytest.raises(ValueError, match="huber_loss: does not support non-positive values for delta"):
        F.huber_loss(tc.ones(2), tc.ones(2), delta=0.0)
    with pytest.raises(ValueError, match="smooth_l1_loss: does not support negative values for beta"):
        F.smooth_l1_loss(tc.ones(2), tc.ones(2), beta=-1.0)
    with pytest.raises(ValueError, match="kl_div: reduction must be"):
        F.kl_div(tc.ones(2), tc.ones(2), reduction="bad")
    with pytest.raises(ValueError, match="l1_loss: reduction must be"):
        F.l1_loss(tc.ones(2), tc.ones(2), reduction="avg")
    with pytest.raises(IndexError, match="cosine_similarity: dim 2 is out of range"):
        F.cosine_similarity(tc.ones(2, 3), tc.ones(2, 3), dim=2)
    with pytest.raises(ValueError, match=r"l1_loss: input shape \(2, 3\) and target shape \(4,\) do not broadcast"):
        F.l1_loss(tc.ones(2, 3), tc.ones(4))
    with pytest.raises(ValueError, match="l1_loss: weights and input must have the same size"):
        F.l1_loss(tc.ones(2, 3), tc.ones(2, 3), weight=tc.ones(3))


MODULES = [("BCELoss", {}, "prob"), ("BCELoss", {"reduction": "sum"}, "prob"), ("L1Loss", {}, "real"),
           ("SmoothL1Loss", {"beta": 0.5}, "real"), ("HuberLoss", {"delta": 0.7, "reduction": "none"}, "real"),
           ("KLDivLoss", {"reduction": "batchmean"}, "kl"),
           ("KLDivLoss", {"reduction": "sum", "log_target": True}, "kl")]


@pytest.mark.parametrize("name,kw,domain", MODULES, ids=[f"{m[0]}-{i}" for i, m in enumerate(MODULES)])
def test_loss_modules_match_torch(torch, name, kw, domain) -> None:
    rng = np.random.default_rng(7)
    if domain == "prob":
        x, t = rng.uniform(0.05, 0.95, (4, 3)), rng.uniform(0, 1, (4, 3))
    elif domain == "kl":
        x, t = np.log(rng.dirichlet(np.ones(3), 4)), rng.dirichlet(np.ones(3), 4)
        if kw.get("log_target"):
            t = np.log(t)
    else:
        x, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    ours, theirs = getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw)
    assert repr(ours) == repr(theirs)
    _both(torch, ours, theirs, [x.astype(np.float32), t.astype(np.float32)])


def test_bce_module_weight_is_a_buffer_as_torch(torch) -> None:
    w = np.array([1.0, 2.0, 0.5], dtype=np.float32)
    ours, theirs = nn.BCELoss(weight=tc.Tensor(w)), torch.nn.BCELoss(weight=torch.tensor(w))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    rng = np.random.default_rng(8)
    _both(torch, ours, theirs, [rng.uniform(0.1, 0.9, (2, 3)).astype(np.float32),
                                rng.uniform(0, 1, (2, 3)).astype(np.float32)])


def test_cosine_similarity_module_matches_torch(torch) -> None:
    ours, theirs = nn.CosineSimilarity(dim=0, eps=1e-6), torch.nn.CosineSimilarity(dim=0, eps=1e-6)
    assert repr(ours) == repr(theirs)
    rng = np.random.default_rng(10)
    _both(torch, ours, theirs, [rng.standard_normal((4, 3)), rng.standard_normal((4, 3))])


def test_defaults_follow_torch(torch) -> None:
    import inspect

    for name in OPS:
        ours = {k: p.default for k, p in inspect.signature(getattr(F, name)).parameters.items()}
        try:
            theirs = {k: p.default for k, p in inspect.signature(getattr(torch.nn.functional, name)).parameters.items()}
        except ValueError:  # a builtin without a signature (cosine_similarity)
            theirs = {"x1": inspect.Parameter.empty, "x2": inspect.Parameter.empty, "dim": 1, "eps": 1e-8}
        assert ours == theirs, name
    for name in ("BCELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "KLDivLoss", "CosineSimilarity"):
        ours = {k: p.default for k, p in inspect.signature(getattr(nn, name)).parameters.items()}
        theirs = {k: p.default for k, p in inspect.signature(getattr(torch.nn, name)).parameters.items()}
        assert ours == theirs, name

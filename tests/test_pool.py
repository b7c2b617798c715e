"""Pooling ops (issue 4) against PyTorch CPU: values, indices and gradients over a grid, ties and
NaN pinned to PyTorch's results, double backward, a hypothesis property test, and clear errors.

PyTorch 2.13 corrupts its own heap in max_pool2d's backward when a dilated window lies wholly in
the padding (see the design notes). Those are exactly the configurations where our index is -1,
so every PyTorch max-pool backward here is guarded by ``not (idx == -1).any()``; our behaviour
there is pinned by its own test.
"""

from __future__ import annotations

import itertools
import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinygrad_conv as tc
from tinygrad_conv.ops import pool as P
from tinygrad_conv.ops.registry import registry

DTYPES = [np.float32, np.float64]
TOL = {np.float32: {"rtol": 1e-5, "atol": 1e-6}, np.float64: {"rtol": 1e-12, "atol": 1e-12}}


def out_size(n: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    """PyTorch's pooling output size, written out independently of the kernel module."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (math.ceil(span / s) if ceil else math.floor(span / s)) + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def max_pool_both(torch, x: np.ndarray, dtype, seed: int = 0, **kw):
    """Our and PyTorch's (values, indices, input gradient); PyTorch's backward only when safe."""
    TF = torch.nn.functional
    rng = np.random.default_rng(seed)
    t = tc.Tensor(x.astype(dtype), requires_grad=True)
    y, idx = P.max_pool2d(t, return_indices=True, **kw)
    dy = rng.standard_normal(y.shape).astype(dtype)
    y.backward(tc.Tensor(dy))
    tx = torch.tensor(x.astype(dtype), requires_grad=True)
    ty, ti = TF.max_pool2d(tx, return_indices=True, **kw)
    safe = not (idx.detach().numpy() == -1).any()
    if safe:
        ty.backward(torch.from_numpy(dy))
    ours = (y.detach().numpy(), idx.detach().numpy(), t.grad.detach().numpy())
    theirs = (ty.detach().numpy(), ti.numpy(), tx.grad.numpy() if safe else None)
    return ours, theirs


def avg_pool_both(torch, x: np.ndarray, rng: np.random.Generator, **kw):
    """Our and PyTorch's (values, input gradient) of avg_pool2d on ``x``, with one random upstream
    gradient drawn from ``rng``."""
    TF = torch.nn.functional
    t = tc.Tensor(x, requires_grad=True)
    y = P.avg_pool2d(t, **kw)
    g = rng.standard_normal(y.shape).astype(x.dtype)
    y.backward(tc.Tensor(g))
    tx = torch.tensor(x, requires_grad=True)
    ty = TF.avg_pool2d(tx, **kw)
    ty.backward(torch.from_numpy(g))
    return (y.detach().numpy(), t.grad.detach().numpy()), (ty.detach().numpy(), tx.grad.numpy())


def assert_max_pool_matches(torch, x: np.ndarray, dtype, **kw) -> bool:
    (y, idx, dx), (ty, ti, tdx) = max_pool_both(torch, x, dtype, **kw)
    msg = f"config {kw}, input {x.shape}"
    assert y.dtype == dtype and idx.dtype == np.int64 and dx.dtype == dtype, msg
    np.testing.assert_array_equal(y, ty, err_msg=msg)
    valid = idx != -1
    np.testing.assert_array_equal(idx[valid], ti[valid], err_msg=msg)
    if tdx is None:
        return False
    np.testing.assert_allclose(dx, tdx, **TOL[dtype], err_msg=msg)
    return True


# ----------------------------------------------------------------------------- the registry
# check_op (gradcheck, gradgradcheck, PyTorch parity, ...) runs on every pooling op in tests/test_registry_ops.py.
def test_registered_as_methods_and_functional_entries():
    x = tc.Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    assert x.max_pool2d(2).tolist() == [[[[5.0, 7.0], [13.0, 15.0]]]]
    assert x.avg_pool2d(2).tolist() == [[[[2.5, 4.5], [10.5, 12.5]]]]
    assert x.adaptive_avg_pool2d(1).tolist() == [[[[7.5]]]]
    import tinygrad_conv.functional as F

    for name in ["max_pool2d", "max_unpool2d", "avg_pool2d", "adaptive_avg_pool2d"]:
        assert getattr(F, name) is registry()[name].function
    assert registry()["max_pool2d"].twice_differentiable


# ----------------------------------------------------------------------------- max pool grid
def max_pool_grid():
    """Kernels 1-5 and non-square; strides below, equal to and above the kernel; padding up to
    k // 2 and in pairs; dilation; ceil_mode on and off."""
    for k in [(1, 1), (2, 2), (3, 3), (2, 3), (4, 1), (5, 5)]:
        strides = sorted({(1, 1), k, (k[0] + 1, k[1] + 1), (2, 1)})
        paddings = sorted({(0, 0), (k[0] // 2, k[1] // 2), (k[0] // 2, 0)})
        for s, p, d, ceil in itertools.product(strides, paddings, [(1, 1), (2, 2), (1, 2)], [False, True]):
            yield k, s, p, d, ceil


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_grid_values_indices_gradients(dtype, torch):
    rng = np.random.default_rng(0)
    backward_checked = 0
    for k, s, p, d, ceil in max_pool_grid():
        hw = (7, 9)
        if min(out_size(hw[a], k[a], s[a], p[a], d[a], ceil) for a in (0, 1)) <= 0:
            continue
        x = rng.standard_normal((2, 3) + hw)
        backward_checked += assert_max_pool_matches(torch, x, dtype, kernel_size=k, stride=s, padding=p,
                                                    dilation=d, ceil_mode=ceil)
    assert backward_checked > 300


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_ceil_mode_window_starting_in_padding(dtype, torch):
    # H = 5, k = 2, s = 2, p = 1: ceil gives 4 windows, but the 4th would start at 6 - 1 = 5, in
    # the right padding, so PyTorch drops it (3 windows); without padding ceil adds one (3 vs 2).
    x = np.random.default_rng(1).standard_normal((1, 2, 5, 5))
    for p, ceil, n in [(1, True, 3), (1, False, 3), (0, True, 3), (0, False, 2)]:
        y = P.max_pool2d(tc.Tensor(x.astype(dtype)), 2, 2, p, ceil_mode=ceil)
        assert y.shape == (1, 2, n, n)
        assert assert_max_pool_matches(torch, x, dtype, kernel_size=2, stride=2, padding=p, ceil_mode=ceil)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_global_and_unbatched(dtype, torch):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 5, 6))
    assert assert_max_pool_matches(torch, x, dtype, kernel_size=(5, 6))  # global
    assert P.max_pool2d(tc.Tensor(x), (5, 6)).shape == (2, 3, 1, 1)
    xu = rng.standard_normal((3, 7, 6))
    for kw in [{"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
               {"kernel_size": (2, 3), "dilation": (2, 1)}]:
        assert assert_max_pool_matches(torch, xu, dtype, **kw)
        assert P.max_pool2d(tc.Tensor(xu), **kw).ndim == 3


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_ties_take_first_maximum(dtype, torch):
    # All-equal input with overlapping windows: every window points at its first element, and
    # elements shared by several windows collect all their gradients.
    x = np.full((2, 2, 6, 7), 0.5)
    for kw in [{"kernel_size": 3, "stride": 1, "padding": 1}, {"kernel_size": 2, "stride": 1},
               {"kernel_size": (2, 3), "stride": (1, 2), "padding": 1, "ceil_mode": True},
               {"kernel_size": 3, "stride": 2, "dilation": 2}]:
        assert assert_max_pool_matches(torch, x, dtype, **kw)
    # Few distinct values: many ties inside windows, over overlapping windows.
    rng = np.random.default_rng(3)
    ties = rng.integers(0, 3, (2, 3, 8, 9)).astype(np.float64)
    for kw in [{"kernel_size": 3, "stride": 1, "padding": 1}, {"kernel_size": 3, "stride": 2},
               {"kernel_size": (3, 2), "stride": 1, "dilation": (1, 2)}]:
        assert assert_max_pool_matches(torch, ties, dtype, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_nan_wins_and_last_nan_is_picked(dtype, torch):
    x = np.array([[[[1.0, np.nan, 3.0, np.nan, 2.0]]]])
    (y, idx, dx), (ty, ti, tdx) = max_pool_both(torch, x, dtype, kernel_size=(1, 5))
    assert np.isnan(y).all() and idx.item() == 3 == ti.item()  # PyTorch: the last NaN in the window
    np.testing.assert_array_equal(dx, tdx)
    assert dx[0, 0, 0, 3] != 0 and np.count_nonzero(dx) == 1
    # NaNs scattered over overlapping windows, with +inf and padding around.
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, (2, 2, 7, 8)).astype(np.float64)
    x[rng.random(x.shape) < 0.2] = np.nan
    x[0, 0, 0, 0] = np.inf
    for kw in [{"kernel_size": 3, "stride": 1, "padding": 1}, {"kernel_size": 2, "stride": 2},
               {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}]:
        (y, idx, dx), (ty, ti, tdx) = max_pool_both(torch, x, dtype, **kw)
        np.testing.assert_array_equal(y, ty)  # NaN positions agree too
        np.testing.assert_array_equal(idx, ti)
        np.testing.assert_allclose(dx, tdx, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_window_wholly_in_padding(dtype):
    """PyTorch's defect case (never run through its backward): -inf, index -1, no gradient."""
    x = np.random.default_rng(5).standard_normal((3, 4, 1, 7)).astype(dtype)
    t = tc.Tensor(x, requires_grad=True)
    y, idx = P.max_pool2d(t, 2, padding=1, dilation=2, ceil_mode=True, return_indices=True)
    assert y.shape == (3, 4, 1, 4)
    assert np.all(y.detach().numpy() == -np.inf) and np.all(idx.detach().numpy() == -1)
    y.backward(tc.Tensor(np.ones(y.shape, dtype)))
    assert t.grad.shape == x.shape and not t.grad.detach().numpy().any()
    # Unpooling those indices skips them; double backward reads them as 0.
    ones = tc.Tensor(np.ones(y.shape, dtype))
    assert not P.max_unpool2d(ones, idx, 2, 2, 1, output_size=(1, 7)).detach().numpy().any()
    t.grad = None
    y = P.max_pool2d(t, 2, padding=1, dilation=2, ceil_mode=True)
    v = tc.Tensor(np.ones(y.shape, dtype), requires_grad=True)
    (gx,) = tc.grad(y, t, v, create_graph=True)
    (gv,) = tc.grad(gx.sum(), v)
    assert not gv.detach().numpy().any()


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_window_wholly_in_padding_forward_matches_torch(dtype, torch):
    # PyTorch's forward is safe in its defect case (above) and agrees on the values.
    x = np.random.default_rng(5).standard_normal((3, 4, 1, 7)).astype(dtype)
    y = P.max_pool2d(tc.Tensor(x), 2, padding=1, dilation=2, ceil_mode=True)
    ty = torch.nn.functional.max_pool2d(torch.from_numpy(x), 2, padding=1, dilation=2, ceil_mode=True)
    np.testing.assert_array_equal(y.detach().numpy(), ty.numpy())


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_double_backward_matches_torch(dtype, torch):
    # d/d(dy) of <dx, w> = w gathered at the indices; d/dx is zero (piecewise linear).
    TF = torch.nn.functional
    rng = np.random.default_rng(6)
    x = rng.permutation(2 * 3 * 7 * 7).reshape(2, 3, 7, 7).astype(dtype)
    kw = {"kernel_size": 3, "stride": 2, "padding": 1}
    t = tc.Tensor(x, requires_grad=True)
    y = P.max_pool2d(t, **kw)
    dy = tc.Tensor(rng.standard_normal(y.shape).astype(dtype), requires_grad=True)
    w = rng.standard_normal(x.shape).astype(dtype)
    (gx,) = tc.grad(y, t, dy, create_graph=True)
    gdy, gxx = tc.grad((gx * tc.Tensor(w)).sum(), [dy, t], allow_unused=True)
    tx = torch.tensor(x, requires_grad=True)
    tdy = torch.tensor(dy.detach().numpy(), requires_grad=True)
    (tgx,) = torch.autograd.grad(TF.max_pool2d(tx, **kw), tx, tdy, create_graph=True)
    (tgdy,) = torch.autograd.grad((tgx * torch.from_numpy(w)).sum(), tdy)
    np.testing.assert_allclose(gdy.detach().numpy(), tgdy.numpy(), **TOL[dtype])
    assert gxx is None or not gxx.detach().numpy().any()


def test_max_pool_saves_only_indices_and_frees_them():
    x = tc.Tensor(np.random.default_rng(7).standard_normal((2, 3, 8, 8)), requires_grad=True)
    y = P.max_pool2d(x, 2)
    ctx = y.grad_fn.ctx
    for value in vars(ctx).values():
        assert not (isinstance(value, np.ndarray) and np.shares_memory(value, x.detach().numpy()))
    assert ctx.indices.dtype == np.int64 and ctx.indices.shape == y.shape
    y.backward(tc.Tensor(np.ones(y.shape)))
    assert y.grad_fn.released and "indices" not in vars(y.grad_fn.ctx)


def test_max_pool_returned_indices_changed_in_place_is_an_error():
    x = tc.Tensor(np.random.default_rng(8).standard_normal((1, 1, 4, 4)), requires_grad=True)
    y, idx = P.max_pool2d(x, 2, return_indices=True)
    idx += 1
    with pytest.raises(RuntimeError, match="in-place"):
        y.backward(tc.Tensor(np.ones(y.shape)))


def test_max_pool_non_contiguous_input(torch):
    TF = torch.nn.functional
    base = np.random.default_rng(9).standard_normal((2, 3, 9, 8))
    x = base.transpose(0, 1, 3, 2)  # a strided view
    assert assert_max_pool_matches(torch, np.ascontiguousarray(x), np.float64, kernel_size=3, stride=2)
    ours = P.max_pool2d(tc.Tensor(x), 3, 2)
    np.testing.assert_array_equal(ours.detach().numpy(), TF.max_pool2d(torch.from_numpy(np.ascontiguousarray(x)), 3, 2))


def test_empty_batch_like_torch(torch):
    TF = torch.nn.functional
    x = np.zeros((0, 3, 5, 5))
    t = tc.Tensor(x, requires_grad=True)
    for ours, theirs in [(lambda a: P.max_pool2d(a, 2), lambda a: TF.max_pool2d(a, 2)),
                         (lambda a: P.avg_pool2d(a, 2, padding=1), lambda a: TF.avg_pool2d(a, 2, padding=1)),
                         (lambda a: P.adaptive_avg_pool2d(a, 2), lambda a: TF.adaptive_avg_pool2d(a, 2))]:
        y = ours(t)
        assert y.shape == tuple(theirs(torch.from_numpy(x)).shape)
        y.sum().backward()
        assert t.grad.shape == x.shape
        t.grad = None
    y, idx = P.max_pool2d(t, 2, return_indices=True)
    assert P.max_unpool2d(y, idx, 2).shape == (0, 3, 4, 4)


# ----------------------------------------------------------------------------- max unpool
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_unpool_inverts_max_pool_like_torch(dtype, torch):
    TF = torch.nn.functional
    rng = np.random.default_rng(10)
    for shape, kw, size in [((2, 3, 6, 6), {"kernel_size": 2}, None),
                            ((2, 3, 7, 7), {"kernel_size": 2}, (7, 7)),
                            ((1, 2, 9, 8), {"kernel_size": (3, 2), "stride": (3, 2), "padding": (1, 1)},
                             None),
                            ((3, 5, 5), {"kernel_size": 2, "stride": 3}, (5, 5))]:
        x = rng.standard_normal(shape).astype(dtype)
        y, idx = P.max_pool2d(tc.Tensor(x), return_indices=True, **kw)
        # stride >= kernel: windows do not overlap, indices are distinct, PyTorch's keep-one
        # and our sum agree.
        yt = tc.Tensor(y.detach().numpy(), requires_grad=True)
        out = P.max_unpool2d(yt, idx, output_size=size, **kw)
        g = rng.standard_normal(out.shape).astype(dtype)
        out.backward(tc.Tensor(g))
        tyt = torch.tensor(y.detach().numpy(), requires_grad=True)
        tout = TF.max_unpool2d(tyt, torch.from_numpy(idx.detach().numpy()), output_size=size, **kw)
        tout.backward(torch.from_numpy(g))
        np.testing.assert_array_equal(out.detach().numpy(), tout.detach().numpy())
        np.testing.assert_allclose(yt.grad.detach().numpy(), tyt.grad.numpy(), **TOL[dtype])


def test_max_unpool_writes_one_of_the_values_that_share_an_index():
    # Overlapping windows pick the same maximum twice; max_unpool2d writes it once, as PyTorch's
    # does (max_pool2d's own backward, a separate op, adds them: that is its adjoint).
    x = tc.Tensor(np.array([[[[0.0, 5.0, 0.0]]]]))
    y, idx = P.max_pool2d(x, (1, 2), stride=1, return_indices=True)
    assert idx.tolist() == [[[[1, 1]]]]
    assert P.max_unpool2d(y, idx, (1, 2), stride=1).tolist() == [[[[0.0, 5.0, 0.0]]]]
    # index -1 is skipped
    out = P.max_unpool2d(tc.Tensor(np.ones((1, 1, 1, 2))), tc.Tensor(np.array([[[[-1, 2]]]])), (1, 2))
    assert out.tolist() == [[[[0.0, 0.0, 1.0, 0.0]]]]


def test_max_unpool_double_backward_is_unpool_again():
    rng = np.random.default_rng(11)
    x = tc.Tensor(rng.standard_normal((1, 2, 2, 2)), requires_grad=True)
    idx = tc.Tensor(np.array([0, 3, 9, 14] * 2).reshape(1, 2, 2, 2))
    y = P.max_unpool2d(x, idx, 2)
    v = tc.Tensor(rng.standard_normal(y.shape), requires_grad=True)
    (gx,) = tc.grad(y, x, v, create_graph=True)
    picked = v.detach().numpy().reshape(1, 2, 16)[:, :, [0, 3, 9, 14]].reshape(1, 2, 2, 2)
    np.testing.assert_array_equal(gx.detach().numpy(), picked)
    w = rng.standard_normal(gx.shape)
    (gv,) = tc.grad((gx * tc.Tensor(w)).sum(), v)
    np.testing.assert_array_equal(gv.detach().numpy(), P.max_unpool2d(tc.Tensor(w), idx, 2).detach().numpy())


# ----------------------------------------------------------------------------- average pool
def avg_pool_grid():
    for k in [(1, 1), (2, 2), (3, 3), (2, 3), (5, 5)]:
        strides = sorted({(1, 1), k, (k[0] + 1, k[1] + 1)})
        paddings = sorted({(0, 0), (k[0] // 2, k[1] // 2), (0, k[1] // 2)})
        for s, p, ceil, cip, div in itertools.product(strides, paddings, [False, True], [True, False],
                                                      [None, 3]):
            yield k, s, p, ceil, cip, div


@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_pool_grid_values_and_gradients(dtype, torch):
    rng = np.random.default_rng(12)
    checked = 0
    for k, s, p, ceil, cip, div in avg_pool_grid():
        hw = (7, 8)
        if min(out_size(hw[a], k[a], s[a], p[a], 1, ceil) for a in (0, 1)) <= 0:
            continue
        kw = {"kernel_size": k, "stride": s, "padding": p, "ceil_mode": ceil, "count_include_pad": cip,
              "divisor_override": div}
        x = rng.standard_normal((2, 3) + hw).astype(dtype)
        (y, dx), (ty, tdx) = avg_pool_both(torch, x, rng, **kw)
        msg = str(kw)
        assert y.dtype == dtype and dx.dtype == dtype
        np.testing.assert_allclose(y, ty, **TOL[dtype], err_msg=msg)
        np.testing.assert_allclose(dx, tdx, **TOL[dtype], err_msg=msg)
        checked += 1
    assert checked > 250


@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_pool_global_unbatched_negative_divisor(dtype, torch):
    rng = np.random.default_rng(13)
    for shape, kw in [((2, 3, 5, 6), {"kernel_size": (5, 6)}),
                      ((3, 6, 5), {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
                      ((2, 2, 6, 6), {"kernel_size": 2, "divisor_override": -2})]:
        x = rng.standard_normal(shape).astype(dtype)
        (y, dx), (ty, tdx) = avg_pool_both(torch, x, rng, **kw)
        np.testing.assert_allclose(y, ty, **TOL[dtype])
        np.testing.assert_allclose(dx, tdx, **TOL[dtype])


def test_avg_pool_double_backward_matches_torch(torch):
    TF = torch.nn.functional
    rng = np.random.default_rng(14)
    kw = {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False}
    x = rng.standard_normal((2, 2, 7, 6))
    t = tc.Tensor(x, requires_grad=True)
    dy = tc.Tensor(rng.standard_normal(P.avg_pool2d(t, **kw).shape), requires_grad=True)
    (gx,) = tc.grad(P.avg_pool2d(t, **kw), t, dy, create_graph=True)
    w = rng.standard_normal(x.shape)
    (gdy,) = tc.grad((gx * tc.Tensor(w)).sum(), dy)
    tx = torch.tensor(x, requires_grad=True)
    tdy = torch.tensor(dy.detach().numpy(), requires_grad=True)
    (tgx,) = torch.autograd.grad(TF.avg_pool2d(tx, **kw), tx, tdy, create_graph=True)
    (tgdy,) = torch.autograd.grad((tgx * torch.from_numpy(w)).sum(), tdy)
    np.testing.assert_allclose(gdy.detach().numpy(), tgdy.numpy(), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- adaptive
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,size", [((2, 3, 7, 5), (3, 2)), ((2, 3, 7, 5), 1), ((2, 3, 4, 6), (4, 6)),
                                        ((2, 3, 5, 4), (7, 9)), ((3, 6, 5), (None, 2)), ((0, 3, 5, 5), 2)])
def test_adaptive_avg_pool_matches_torch(dtype, shape, size, torch):
    TF = torch.nn.functional
    rng = np.random.default_rng(15)
    x = rng.standard_normal(shape).astype(dtype)
    t = tc.Tensor(x, requires_grad=True)
    y = P.adaptive_avg_pool2d(t, size)
    g = rng.standard_normal(y.shape).astype(dtype)
    y.backward(tc.Tensor(g))
    tx = torch.tensor(x, requires_grad=True)
    ty = TF.adaptive_avg_pool2d(tx, size)
    ty.backward(torch.from_numpy(g))
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(t.grad.detach().numpy(), tx.grad.numpy(), **TOL[dtype])


def test_adaptive_avg_pool_to_zero_size(torch):
    # PyTorch allows an empty output (its backward refuses it; ours gives a zero gradient).
    TF = torch.nn.functional
    x = tc.Tensor(np.ones((2, 3, 5, 5)), requires_grad=True)
    y = P.adaptive_avg_pool2d(x, 0)
    assert y.shape == tuple(TF.adaptive_avg_pool2d(torch.ones(2, 3, 5, 5), 0).shape) == (2, 3, 0, 0)
    y.sum().backward()
    assert x.grad.shape == x.shape and not x.grad.detach().numpy().any()


# ----------------------------------------------------------------------------- property test
@st.composite
def pool_configs(draw):
    k = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    s = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    ceil = draw(st.booleans())
    # At least the smallest size the window fits in (floor mode), and up to 8 more.
    h_min = max(1, d[0] * (k[0] - 1) + 1 - 2 * p[0])
    w_min = max(1, d[1] * (k[1] - 1) + 1 - 2 * p[1])
    h, w = draw(st.integers(h_min, h_min + 8)), draw(st.integers(w_min, w_min + 8))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    batched = draw(st.booleans())
    seed = draw(st.integers(0, 2**16))
    return (n, c, h, w) if batched else (c, h, w), k, s, p, d, ceil, seed


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pool_configs())
def test_property_random_max_pool_configs_match_torch(torch, cfg):
    shape, k, s, p, d, ceil, seed = cfg
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if seed % 3 == 0:  # ties too
        x = np.round(x)
    # Forward and indices always; backward only where no window lies wholly in the padding.
    assert_max_pool_matches(torch, x, np.float64, kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=ceil)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pool_configs(), st.booleans(), st.sampled_from([None, 2, -3]))
def test_property_random_avg_pool_configs_match_torch(torch, cfg, cip, div):
    shape, k, s, p, _, ceil, seed = cfg
    rng = np.random.default_rng(seed)
    if min(out_size(shape[-2 + a], k[a], s[a], p[a], 1, ceil) for a in (0, 1)) <= 0:
        return
    x = rng.standard_normal(shape)
    kw = {"kernel_size": k, "stride": s, "padding": p, "ceil_mode": ceil, "count_include_pad": cip,
          "divisor_override": div}
    (y, dx), (ty, tdx) = avg_pool_both(torch, x, rng, **kw)
    np.testing.assert_allclose(y, ty, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, tdx, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- errors
X4 = (2, 3, 5, 5)
INVALID = [
    # (op, input shape, args, kwargs, the argument the message must name)
    ("max_pool2d", X4, (0,), {}, "kernel_size"),
    ("max_pool2d", X4, (-1,), {}, "kernel_size"),
    ("max_pool2d", X4, ((2, 0),), {}, "kernel_size"),
    ("max_pool2d", X4, ((2, 2, 2),), {}, "kernel_size"),
    ("max_pool2d", X4, ((),), {}, "kernel_size"),
    ("max_pool2d", X4, (2.0,), {}, "kernel_size"),
    ("max_pool2d", X4, (2, 0), {}, "stride"),
    ("max_pool2d", X4, (2, -1), {}, "stride"),
    ("max_pool2d", X4, (2, (1, 1, 1)), {}, "stride"),
    ("max_pool2d", X4, (2, 1, -1), {}, "padding"),
    ("max_pool2d", X4, (3, 1, 2), {}, "padding"),
    ("max_pool2d", X4, (1, 1, 1), {}, "padding"),
    ("max_pool2d", X4, (3, 1, (1, 1, 1)), {}, "padding"),
    ("max_pool2d", X4, (2, 1, 0, 0), {}, "dilation"),
    ("max_pool2d", X4, (2, 1, 0, -1), {}, "dilation"),
    ("max_pool2d", X4, (2, 1, 0, (1, 1, 1)), {}, "dilation"),
    ("max_pool2d", X4, (6,), {}, "output height"),
    ("max_pool2d", X4, (3,), {"dilation": 3}, "output height"),
    ("max_pool2d", (5, 5), (2,), {}, "input"),
    ("max_pool2d", (1, 1, 1, 5, 5), (2,), {}, "input"),
    ("max_pool2d", (2, 0, 5, 5), (2,), {}, "input"),
    ("max_pool2d", (2, 3, 0, 5), (2,), {}, "input"),
    ("max_pool2d", (0, 5, 5), (2,), {}, "input"),
    ("avg_pool2d", X4, (0,), {}, "kernel_size"),
    ("avg_pool2d", X4, (2, 0), {}, "stride"),
    ("avg_pool2d", X4, (3, 1, 2), {}, "padding"),
    ("avg_pool2d", X4, (3, 1, -1), {}, "padding"),
    ("avg_pool2d", X4, (2,), {"divisor_override": 0}, "divisor_override"),
    ("avg_pool2d", X4, (6,), {}, "output height"),
    ("avg_pool2d", X4, ((2, 2, 2),), {}, "kernel_size"),
    ("avg_pool2d", X4, (2, (2, 2, 2)), {}, "stride"),
    ("avg_pool2d", X4, (2, 2, (0, 0, 0)), {}, "padding"),
    ("avg_pool2d", (5, 5), (2,), {}, "input"),
    ("avg_pool2d", (2, 3, 0, 5), (2,), {}, "input"),
    ("adaptive_avg_pool2d", X4, (-1,), {}, "output_size"),
    ("adaptive_avg_pool2d", X4, ((2, 2, 2),), {}, "output_size"),
    ("adaptive_avg_pool2d", X4, ((2,),), {}, "output_size"),
    ("adaptive_avg_pool2d", (5, 5), (2,), {}, "input"),
    ("adaptive_avg_pool2d", (2, 3, 0, 5), (2,), {}, "input"),
]


@pytest.mark.parametrize("op,shape,args,kwargs,arg", INVALID,
                         ids=[f"{c[0]}-{c[4]}-{i}" for i, c in enumerate(INVALID)])
def test_invalid_configurations_raise_where_torch_raises(op, shape, args, kwargs, arg, torch):
    TF = torch.nn.functional
    x = np.random.default_rng(16).standard_normal(shape).astype(np.float32)
    with pytest.raises((RuntimeError, ValueError, TypeError, IndexError)):
        getattr(TF, op)(torch.from_numpy(x), *args, **kwargs)
    with pytest.raises((ValueError, RuntimeError, TypeError)) as err:
        getattr(P, op)(tc.Tensor(x), *args, **kwargs)
    message = str(err.value)
    assert message.startswith(f"{op}:") and arg in message, message


def test_window_too_large_message_shows_the_formula_with_the_numbers():
    x = tc.Tensor(np.zeros((1, 2, 3, 8), np.float32))
    with pytest.raises(ValueError) as err:
        P.max_pool2d(x, (5, 2), stride=(1, 2), padding=(0, 1), dilation=(1, 3))
    msg = str(err.value)
    assert "output height = floor((H + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1" in msg
    assert "floor((3 + 2*0 - 1*(5 - 1) - 1) / 1) + 1 = -1" in msg
    with pytest.raises(ValueError, match=re.escape("ceil((3 + 2*0 - (5 - 1) - 1) / 1) + 1 = -1")):
        P.avg_pool2d(x, (5, 2), stride=1, ceil_mode=True)
    # A window that only fits in ceil mode is fine, as in PyTorch.
    assert P.max_pool2d(tc.Tensor(np.zeros((1, 1, 5, 5))), 6, ceil_mode=True, padding=3).shape == (1, 1, 2, 2)
    assert P.max_pool2d(tc.Tensor(np.zeros((1, 1, 5, 5))), (6, 1), ceil_mode=True).shape == (1, 1, 1, 5)


def test_integer_input_is_refused_clearly():
    with pytest.raises(TypeError, match="max_pool2d: expected a floating-point input"):
        P.max_pool2d(tc.Tensor(np.ones((1, 1, 4, 4), np.int64)), 2)


def test_max_unpool_errors(torch):
    TF = torch.nn.functional
    x = tc.Tensor(np.random.default_rng(17).standard_normal(X4).astype(np.float32))
    y, idx = P.max_pool2d(x, 2, return_indices=True)
    ty, ti = TF.max_pool2d(torch.from_numpy(x.detach().numpy()), 2, return_indices=True)
    cases = [
        ((idx, 2), {}, "out of range", (ti, 2), {}),  # default size 4x4 < the 5x5 the indices need
        ((tc.Tensor(idx.detach().numpy()[:, :, :1]), 2), {"output_size": (5, 5)}, "shape",
         (ti[:, :, :1], 2), {"output_size": (5, 5)}),
        ((tc.Tensor(idx.detach().numpy() + 20), 2), {"output_size": (5, 5)}, "out of range",
         (ti + 20, 2), {"output_size": (5, 5)}),
        ((tc.Tensor(idx.detach().numpy() - 20), 2), {"output_size": (5, 5)}, "out of range",
         (ti - 20, 2), {"output_size": (5, 5)}),
        ((idx, 2), {"output_size": (6, 6)}, "output_size", (ti, 2), {"output_size": (6, 6)}),
        ((idx, 2), {"output_size": (1, 1)}, "output_size", (ti, 2), {"output_size": (1, 1)}),
        ((idx, 2), {"output_size": (3, 5, 5)}, "output_size", (ti, 2), {"output_size": (3, 5, 5)}),
        ((idx, 2, 2, 5), {}, "output size", (ti, 2, 2, 5), {}),
        ((tc.Tensor(idx.detach().numpy().astype(np.float32)), 2), {"output_size": (5, 5)}, "indices",
         (ti.float(), 2), {"output_size": (5, 5)}),
    ]
    for args, kwargs, words, targs, tkwargs in cases:
        with pytest.raises((RuntimeError, ValueError)):
            TF.max_unpool2d(ty, *targs, **tkwargs)
        with pytest.raises((ValueError, TypeError)) as err:
            P.max_unpool2d(y, *args, **kwargs)
        assert str(err.value).startswith("max_unpool2d:") and words in str(err.value), str(err.value)
    # Where PyTorch accepts a zero kernel (and returns an empty output) we still refuse it.
    with pytest.raises(ValueError, match="max_unpool2d: kernel_size must be positive"):
        P.max_unpool2d(y, idx, 0)
    # The 4-element output_size form and the default size.
    out = P.max_unpool2d(y, idx, 2, output_size=(2, 3, 5, 5))
    np.testing.assert_array_equal(out.detach().numpy(), TF.max_unpool2d(ty, ti, 2, output_size=(2, 3, 5, 5)).numpy())

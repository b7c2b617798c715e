"""Pooling kernels against PyTorch: values, indices and input gradients.

PyTorch 2.13 CPU corrupts its heap in max_pool2d's backward when a dilated window lies wholly in
the padding. Those are exactly the configurations where our index is -1, so every torch backward
here is guarded by ``not (idx == -1).any()``, and our handling of them is checked against a pure
NumPy expectation instead.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tinygrad_conv.kernels import pool
from tinygrad_conv.kernels.pool import (
    adaptive_avg_pool2d,
    adaptive_avg_pool2d_backward,
    avg_pool2d,
    avg_pool2d_backward,
    gather_plane,
    max_pool2d,
    max_unpool2d,
    pool2d_output_size,
)

DTYPES = [np.float32, np.float64]


def tol(dtype) -> dict:
    return {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}


def sizes_ok(hw, kernel, stride, padding, dilation, ceil_mode) -> bool:
    return all(pool2d_output_size(hw[a], kernel[a], stride[a], padding[a], dilation[a], ceil_mode) > 0
               for a in (0, 1))


def max_pool_configs():
    """Kernels 1-5 and non-square; strides below/equal/above the kernel; padding up to k//2."""
    kernels = [(1, 1), (2, 2), (3, 3), (2, 3), (4, 1), (5, 5)]
    for k in kernels:
        strides = {(1, 1), k, (k[0] + 1, k[1] + 1), (2, 1)}
        paddings = {(0, 0), (k[0] // 2, k[1] // 2), (k[0] // 2, 0)}
        for s, p, d, ceil in itertools.product(sorted(strides), sorted(paddings),
                                               [(1, 1), (2, 2), (1, 2)], [False, True]):
            yield k, s, p, d, ceil


def input_for(kind: str, shape, dtype, rng) -> np.ndarray:
    if kind == "random":
        return rng.standard_normal(shape).astype(dtype)
    if kind == "ties":  # few distinct values, so most windows hold several maxima
        return rng.integers(0, 3, shape).astype(dtype)
    if kind == "nan":  # several NaNs per window: PyTorch picks the last one
        x = rng.integers(0, 3, shape).astype(dtype)
        x[rng.random(shape) < 0.25] = np.nan
        return x
    raise ValueError(kind)


def torch_max_pool(torch, x, k, s, p, d, ceil, dy=None):
    tx = torch.from_numpy(x.copy()).requires_grad_(dy is not None)
    ty, ti = torch.nn.functional.max_pool2d(tx, k, s, p, d, ceil, return_indices=True)
    if dy is None:
        return ty.detach().numpy(), ti.numpy(), None
    ty.backward(torch.from_numpy(dy))
    return ty.detach().numpy(), ti.numpy(), tx.grad.numpy()


# ----------------------------------------------------------------------------------------------
# output size


def test_output_size_matches_torch(torch):
    F = torch.nn.functional
    x = torch.zeros(1, 1, 1, 1)
    for n, k, s, p, d, ceil in itertools.product(range(1, 12), range(1, 6), range(1, 5), range(0, 3),
                                                 range(1, 3), [False, True]):
        if p > k // 2:
            continue
        ours = pool2d_output_size(n, k, s, p, d, ceil)
        if ours <= 0:
            continue
        # A forward on a (1, n) plane is safe even where a window lies in the padding.
        got = F.max_pool2d(x.expand(1, 1, 1, n), (1, k), (1, s), (0, p), (1, d), ceil).shape[-1]
        assert ours == got, (n, k, s, p, d, ceil)


def test_ceil_mode_drops_window_starting_in_padding():
    # Ceil would give 4 windows, but the 4th would start at 6 - 1 = 5, in the right padding.
    assert pool2d_output_size(5, 2, 2, 1, 1, True) == 3
    assert pool2d_output_size(5, 2, 2, 1, 1, False) == 3
    assert pool2d_output_size(5, 2, 2, 0, 1, True) == 3  # ceil adds a window over the edge
    assert pool2d_output_size(5, 2, 2, 0, 1, False) == 2


# ----------------------------------------------------------------------------------------------
# max pool


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["random", "ties", "nan"])
def test_max_pool_grid_matches_torch(dtype, kind, torch):
    rng = np.random.default_rng(1)
    checked_backward = 0
    for hw in [(7, 9), (8, 8)]:
        for k, s, p, d, ceil in max_pool_configs():
            if not sizes_ok(hw, k, s, p, d, ceil):
                continue
            x = input_for(kind, (2, 3) + hw, dtype, rng)
            x_before = x.copy()
            y, idx = max_pool2d(x, k, s, p, d, ceil)
            np.testing.assert_array_equal(x, x_before)
            assert y.dtype == dtype and idx.dtype == np.int64
            dy = rng.standard_normal(y.shape).astype(dtype)
            wholly_padded = bool((idx == -1).any())
            ty, ti, tdx = torch_max_pool(torch, x, k, s, p, d, ceil, None if wholly_padded else dy)
            cfg = (hw, k, s, p, d, ceil)
            np.testing.assert_array_equal(y, ty, err_msg=str(cfg))
            valid = idx != -1
            np.testing.assert_array_equal(idx[valid], ti[valid], err_msg=str(cfg))
            if wholly_padded:
                continue
            dx = max_unpool2d(dy, idx, hw)
            assert dx.dtype == dtype
            np.testing.assert_allclose(dx, tdx, **tol(dtype), err_msg=str(cfg))
            checked_backward += 1
    assert checked_backward > 500


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_all_equal_input_takes_first_in_window(dtype, torch):
    x = np.full((1, 2, 6, 7), 1.5, dtype=dtype)
    for k, s, p in [((3, 3), (1, 1), (1, 1)), ((2, 3), (1, 2), (1, 1)), ((4, 4), (2, 2), (2, 2))]:
        y, idx = max_pool2d(x, k, s, p, (1, 1), True)
        _, ti, tdx = torch_max_pool(torch, x, k, s, p, (1, 1), True, np.ones(y.shape, dtype))
        np.testing.assert_array_equal(idx, ti)
        np.testing.assert_array_equal(max_unpool2d(np.ones(y.shape, dtype), idx, (6, 7)), tdx)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_minus_inf_windows_point_at_first_element_inside(dtype, torch):
    # Every value ties with the -inf padding; PyTorch points at the first in-input element.
    x = np.full((2, 2, 5, 6), -np.inf, dtype=dtype)
    x[0, 0, 2, 3] = 1.0
    for k, s, p, d in [((3, 3), (2, 2), (1, 1), (1, 1)), ((2, 2), (1, 1), (1, 1), (2, 2)),
                       ((3, 2), (2, 1), (1, 1), (1, 2))]:
        y, idx = max_pool2d(x, k, s, p, d, True)
        ty, ti, _ = torch_max_pool(torch, x, k, s, p, d, True)
        assert not (idx == -1).any()
        np.testing.assert_array_equal(y, ty)
        np.testing.assert_array_equal(idx, ti)


def test_max_pool_nan_rule(torch):
    x = np.array([[[[1.0, np.nan, 3.0, np.nan, 2.0]]]])
    y, idx = max_pool2d(x, (1, 5), (1, 1), (0, 0), (1, 1), False)
    assert np.isnan(y).all() and idx.item() == 3  # a NaN wins, the last one in scan order
    assert torch_max_pool(torch, x, (1, 5), (1, 1), (0, 0), (1, 1), False)[1].item() == 3
    # A NaN beats +inf, and NaN in the padding-free part of a padded window still wins.
    x = np.array([[[[np.inf, np.nan], [np.inf, 0.0]]]], dtype=np.float32)
    y, idx = max_pool2d(x, (2, 2), (1, 1), (1, 1), (1, 1), False)
    ty, ti, _ = torch_max_pool(torch, x, (2, 2), (1, 1), (1, 1), (1, 1), False)
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_array_equal(idx, ti)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_window_wholly_in_padding(dtype):
    """The oracle's defect case: no torch backward here; output -inf, index -1, no gradient."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 1, 7)).astype(dtype)
    y, idx = max_pool2d(x, (2, 2), (2, 2), (1, 1), (2, 2), True)
    assert y.shape == (3, 4, 1, 4)
    assert np.all(y == -np.inf) and np.all(idx == -1)
    dy = rng.standard_normal(y.shape).astype(dtype)
    dx = max_unpool2d(dy, idx, (1, 7))
    assert dx.shape == x.shape and dx.dtype == dtype and not dx.any()
    assert not gather_plane(x, idx).any()
    # Only the rows are wholly padded here; the columns are fine.
    x = rng.standard_normal((2, 2, 2, 6)).astype(dtype)
    y, idx = max_pool2d(x, (2, 2), (1, 2), (1, 0), (3, 1), False)
    assert np.all(y == -np.inf) and np.all(idx == -1)
    assert not max_unpool2d(np.ones_like(y), idx, (2, 6)).any()


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_window_wholly_in_padding_forward_matches_torch(dtype, torch):
    # The torch forward is safe in its defect case (above) and agrees on the values.
    x = np.random.default_rng(2).standard_normal((3, 4, 1, 7)).astype(dtype)
    y, _ = max_pool2d(x, (2, 2), (2, 2), (1, 1), (2, 2), True)
    np.testing.assert_array_equal(y, torch_max_pool(torch, x, (2, 2), (2, 2), (1, 1), (2, 2), True)[0])


def brute_max_pool(x, k, s, p, d, ceil):
    """Loop reference with PyTorch's rules and our -1 for windows without an input element."""
    n, c, h, w = x.shape
    oh = pool2d_output_size(h, k[0], s[0], p[0], d[0], ceil)
    ow = pool2d_output_size(w, k[1], s[1], p[1], d[1], ceil)
    y = np.full((n, c, oh, ow), -np.inf, dtype=x.dtype)
    idx = np.full((n, c, oh, ow), -1, dtype=np.int64)
    for b, ch, i, j in itertools.product(range(n), range(c), range(oh), range(ow)):
        for a, e in itertools.product(range(k[0]), range(k[1])):
            r, q = i * s[0] - p[0] + a * d[0], j * s[1] - p[1] + e * d[1]
            if not (0 <= r < h and 0 <= q < w):
                continue
            v = x[b, ch, r, q]
            if idx[b, ch, i, j] == -1 or v > y[b, ch, i, j] or np.isnan(v):
                y[b, ch, i, j], idx[b, ch, i, j] = v, r * w + q
    return y, idx


def test_max_pool_matches_loop_reference_beyond_torch_limits():
    """Paddings past k//2 (torch refuses them) and dilated windows wholly in the padding."""
    rng = np.random.default_rng(10)
    for _ in range(150):
        k = tuple(int(v) for v in rng.integers(1, 4, 2))
        s = tuple(int(v) for v in rng.integers(1, 4, 2))
        d = tuple(int(v) for v in rng.integers(1, 4, 2))
        p = tuple(int(v) for v in rng.integers(0, 4, 2))
        hw = tuple(int(v) for v in rng.integers(1, 7, 2))
        ceil = bool(rng.integers(0, 2))
        if not sizes_ok(hw, k, s, p, d, ceil):
            continue
        x = input_for(["random", "ties", "nan"][int(rng.integers(0, 3))], (1, 2) + hw, np.float64, rng)
        y, idx = max_pool2d(x, k, s, p, d, ceil)
        ry, ridx = brute_max_pool(x, k, s, p, d, ceil)
        cfg = (hw, k, s, p, d, ceil)
        np.testing.assert_array_equal(y, ry, err_msg=str(cfg))
        np.testing.assert_array_equal(idx, ridx, err_msg=str(cfg))
        dy = rng.standard_normal(y.shape)
        dx = max_unpool2d(dy, idx, hw)
        expected = np.zeros_like(x)
        for b, ch, i, j in itertools.product(*map(range, y.shape)):
            if ridx[b, ch, i, j] >= 0:
                expected[b, ch].flat[ridx[b, ch, i, j]] += dy[b, ch, i, j]
        np.testing.assert_allclose(dx, expected, rtol=1e-12, atol=1e-12, err_msg=str(cfg))


def test_max_pool_many_chunks_and_noncontiguous(monkeypatch, torch):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, (5, 3, 16, 12)).astype(np.float32).transpose(0, 1, 3, 2)  # a view
    assert not x.flags.c_contiguous
    expected = [max_pool2d(np.ascontiguousarray(x), (3, 3), (2, 2), (1, 1), (1, 1), True),
                max_pool2d(np.ascontiguousarray(x), (2, 2), (2, 2), (0, 0), (1, 1), False)]
    # Chunks of 4 planes: 15 planes give three full chunks and a partial one.
    monkeypatch.setattr(pool, "_CHUNK_BYTES", 4 * 12 * 16 * 4)
    for (y0, i0), args in zip(expected, [((3, 3), (2, 2), (1, 1), (1, 1), True),
                                         ((2, 2), (2, 2), (0, 0), (1, 1), False)]):
        y, idx = max_pool2d(x, *args)
        ty, ti, _ = torch_max_pool(torch, np.ascontiguousarray(x), *args)
        np.testing.assert_array_equal(y, y0)
        np.testing.assert_array_equal(idx, i0)
        np.testing.assert_array_equal(idx, ti)


def test_global_max_pool(torch):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 5, 7)).astype(np.float32)
    y, idx = max_pool2d(x, (5, 7), (5, 7), (0, 0), (1, 1), False)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    ty, ti, tdx = torch_max_pool(torch, x, (5, 7), (5, 7), (0, 0), (1, 1), False, dy)
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_array_equal(idx, ti)
    np.testing.assert_array_equal(max_unpool2d(dy, idx, (5, 7)), tdx)


# ----------------------------------------------------------------------------------------------
# unpool and gather


@pytest.mark.parametrize("dtype", DTYPES)
def test_unpool_and_gather_match_torch_max_unpool(dtype, torch):
    """With distinct indices (non-overlapping windows) torch's max_unpool2d agrees with ours,
    and its backward is our gather."""
    F = torch.nn.functional
    rng = np.random.default_rng(5)
    for k, s, hw in [((2, 2), (2, 2), (8, 8)), ((3, 2), (3, 3), (9, 7)), ((2, 2), (3, 2), (7, 6))]:
        x = rng.standard_normal((2, 3) + hw).astype(dtype)
        _, idx = max_pool2d(x, k, s, (0, 0), (1, 1), False)
        v = rng.standard_normal(idx.shape).astype(dtype)
        tv = torch.from_numpy(v.copy()).requires_grad_(True)
        tout = F.max_unpool2d(tv, torch.from_numpy(idx), k, s, output_size=hw)
        g = rng.standard_normal(tout.shape).astype(dtype)
        tout.backward(torch.from_numpy(g))
        np.testing.assert_array_equal(max_unpool2d(v, idx, hw), tout.detach().numpy())
        np.testing.assert_array_equal(gather_plane(g, idx), tv.grad.numpy())


def test_unpool_adds_repeated_indices_and_skips_minus_one():
    dy = np.array([[[[1.0, 2.0, 4.0, 8.0]]]], dtype=np.float32)
    idx = np.array([[[[3, 3, -1, 0]]]], dtype=np.int64)
    dx = max_unpool2d(dy, idx, (2, 2))
    np.testing.assert_array_equal(dx, [[[[8.0, 0.0], [0.0, 3.0]]]])
    x = np.arange(4.0).reshape(1, 1, 2, 2)
    np.testing.assert_array_equal(gather_plane(x, idx), [[[[3.0, 3.0, 0.0, 0.0]]]])


def test_gather_is_adjoint_of_unpool():
    rng = np.random.default_rng(6)
    idx = rng.integers(-1, 20, (2, 3, 4, 5))
    dy = rng.standard_normal(idx.shape)
    x = rng.standard_normal((2, 3, 4, 5))
    lhs = np.sum(max_unpool2d(dy, idx, (4, 5)) * x)
    rhs = np.sum(dy * gather_plane(x, idx))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12)


# ----------------------------------------------------------------------------------------------
# average pool


def avg_configs():
    for k in [(1, 1), (2, 2), (3, 3), (3, 2), (5, 4)]:
        for s in sorted({(1, 1), (2, 2), (3, 1), k, (k[0] + 1, k[1] + 1)}):
            for p in sorted({(0, 0), (k[0] // 2, k[1] // 2), (k[0] // 2, 0)}):
                for ceil, cip, div in itertools.product([False, True], [False, True], [None, 3]):
                    yield k, s, p, ceil, cip, div


@pytest.mark.parametrize("dtype", DTYPES)
def test_avg_pool_grid_matches_torch(dtype, torch):
    F = torch.nn.functional
    rng = np.random.default_rng(7)
    count = 0
    for hw in [(7, 9), (8, 8), (1, 5)]:
        for k, s, p, ceil, cip, div in avg_configs():
            if not sizes_ok(hw, k, s, p, (1, 1), ceil):
                continue
            x = rng.standard_normal((2, 3) + hw).astype(dtype)
            tx = torch.from_numpy(x.copy()).requires_grad_(True)
            ty = F.avg_pool2d(tx, k, s, p, ceil, cip, div)
            y = avg_pool2d(x, k, s, p, ceil, cip, div)
            assert y.dtype == dtype
            cfg = (hw, k, s, p, ceil, cip, div)
            np.testing.assert_allclose(y, ty.detach().numpy(), **tol(dtype), err_msg=str(cfg))
            dy = rng.standard_normal(y.shape).astype(dtype)
            ty.backward(torch.from_numpy(dy))
            dx = avg_pool2d_backward(dy, hw, k, s, p, ceil, cip, div)
            assert dx.dtype == dtype and dx.shape == x.shape
            np.testing.assert_allclose(dx, tx.grad.numpy(), **tol(dtype), err_msg=str(cfg))
            count += 1
    assert count > 800


def test_avg_pool_global_and_adjoint():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 6, 5))
    y = avg_pool2d(x, (6, 5), (6, 5), (0, 0), False, True, None)
    np.testing.assert_allclose(y, x.mean(axis=(2, 3), keepdims=True))
    # Linear map: <avg(x), dy> == <x, avg_backward(dy)>.
    args = ((3, 3), (2, 2), (1, 1), True, False, None)
    y = avg_pool2d(x, *args)
    dy = rng.standard_normal(y.shape)
    np.testing.assert_allclose(np.sum(y * dy), np.sum(x * avg_pool2d_backward(dy, (6, 5), *args)))


# ----------------------------------------------------------------------------------------------
# adaptive average pool


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hw, out", [((7, 9), (3, 4)), ((8, 8), (1, 1)), ((5, 6), (5, 6)),
                                     ((5, 6), (7, 3)), ((10, 3), (4, 2)), ((13, 11), (5, 1))])
def test_adaptive_avg_pool_matches_torch(dtype, hw, out, torch):
    F = torch.nn.functional
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3) + hw).astype(dtype)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    ty = F.adaptive_avg_pool2d(tx, out)
    y = adaptive_avg_pool2d(x, out)
    assert y.dtype == dtype and y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y, ty.detach().numpy(), **tol(dtype))
    dy = rng.standard_normal(y.shape).astype(dtype)
    ty.backward(torch.from_numpy(dy))
    dx = adaptive_avg_pool2d_backward(dy, hw)
    assert dx.dtype == dtype and dx.shape == x.shape
    np.testing.assert_allclose(dx, tx.grad.numpy(), **tol(dtype))

"""kernels.reduce.sum_axes against its plain reference, np.sum: same shapes and dtypes, and the
same values up to the rounding of another summation order."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tinygrad_conv.kernels.reduce import sum_axes


def _all_axes(ndim: int) -> list[tuple[int, ...]]:
    return [c for r in range(ndim + 1) for c in itertools.combinations(range(ndim), r)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4, 3, 5, 2), (32, 8, 4, 4), (1, 3, 2), (0, 3, 2), (5,)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_sum_axes_equals_np_sum(dtype, shape, keepdims) -> None:
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for layout in (x, np.asfortranarray(x), x[..., ::-1]):
        for axes in _all_axes(len(shape)):
            got = np.asarray(sum_axes(layout, axes, keepdims))
            want = np.asarray(np.sum(layout, axis=axes, keepdims=keepdims))
            assert got.shape == want.shape and got.dtype == want.dtype, (axes, layout.strides)
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol * 10)


def test_sum_axes_keeps_nan_and_inf() -> None:
    x = np.ones((4, 3, 2), dtype=np.float32)
    x[1, 0, 1], x[2, 2, 0] = np.nan, np.inf
    got = sum_axes(x, (0, 2), keepdims=False)
    assert np.isnan(got[0]) and got[1] == 8.0 and got[2] == np.inf


def test_integer_sums_take_the_reference_path() -> None:
    x = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    got = sum_axes(x, (0, 2), keepdims=False, dtype=np.int64)
    assert got.dtype == np.int64 and got.tolist() == np.sum(x, axis=(0, 2), dtype=np.int64).tolist()

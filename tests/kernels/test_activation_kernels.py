"""The fast activation kernels (kernels/activation.py) against their textbook references
(kernels/reference.py): the same values to rounding, on random values with the kinks, +-0, +-inf
and NaN mixed in, for small arrays (one whole-array call) and large ones (blocks, split over
threads), in float32 and float64.

The fast kernels reorder the arithmetic (max(x, s x) for leaky_relu, relu(x) - |x| Phi(-|x|) for
gelu, trunc(clip(x, -3, 3) / 3) for hardswish's kinks ...), so the comparison is to a tolerance of a
few float32 or float64 ulps, with NaN where the reference has NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from tinygrad_conv.kernels import activation as K
from tinygrad_conv.kernels import parallel as P
from tinygrad_conv.kernels import reference as R

SIZES = {"small": 61, "large": 300_007}
TOL = {np.float32: {"rtol": 3e-6, "atol": 1e-30}, np.float64: {"rtol": 1e-12, "atol": 1e-300}}


@pytest.fixture(params=[1, 2], ids=lambda n: f"threads{n}")
def threads(request: pytest.FixtureRequest):
    before = P.get_num_threads()
    P.set_num_threads(request.param)
    yield request.param
    P.set_num_threads(before)


def _inputs(n: int, dtype, seed: int = 0, scale: float = 4.0) -> np.ndarray:
    """Random values, with the kinks of these activations, +-0, +-inf and NaN placed at random."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * scale).astype(dtype)
    special = np.array([0.0, -0.0, 3.0, -3.0, 6.0, 1.0, -1.0, 20.0, -20.0, 1e-30, -1e-30, 40.0, -40.0,
                        np.inf, -np.inf, np.nan], dtype=dtype)
    at = rng.choice(n, size=min(n, 3 * special.size), replace=False)
    x[at] = np.resize(special, at.size)
    return x


def _check(ours: np.ndarray, ref: np.ndarray, dtype, **tol: Any) -> None:
    assert ours.dtype == dtype and ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, **(tol or TOL[dtype]))


def _tol(name: str, dtype) -> dict[str, Any]:
    # gelu's tanh form computes 1 + tanh(u) with u < 0, which cancels: both kernels carry an absolute
    # error of an ulp of 1 there (times g in the gradient), whatever order the products take.
    if name.startswith("gelu_tanh"):
        return {"rtol": TOL[dtype]["rtol"], "atol": 1e-6 if dtype == np.float32 else 1e-14}
    return TOL[dtype]


DTYPES = [np.float32, np.float64]
UNARY: list[tuple[str, Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = [
    ("sigmoid", K.sigmoid, R.sigmoid),
    ("silu", K.silu, R.silu),
    ("silu_and_sigmoid", lambda x: K.silu_and_sigmoid(x)[0], R.silu),
    ("hardswish", K.hardswish, R.hardswish),
    ("gelu_tanh", K.gelu_tanh, R.gelu_tanh),
    ("leaky_relu 0.01", lambda x: K.leaky_relu(x, 0.01), lambda x: R.leaky_relu(x, 0.01)),
    ("leaky_relu -1.5", lambda x: K.leaky_relu(x, -1.5), lambda x: R.leaky_relu(x, -1.5)),
    ("leaky_relu 3", lambda x: K.leaky_relu(x, 3.0), lambda x: R.leaky_relu(x, 3.0)),
    ("leaky_relu 0", lambda x: K.leaky_relu(x, 0.0), lambda x: R.leaky_relu(x, 0.0)),
    ("elu", lambda x: K.elu(x, 1.0), lambda x: R.elu(x, 1.0)),
    ("elu alpha 2", lambda x: K.elu(x, 2.0), lambda x: R.elu(x, 2.0)),
    ("selu", lambda x: K.elu(x, 1.6732632423543772, 1.0507009873554805),
     lambda x: R.elu(x, 1.6732632423543772, 1.0507009873554805)),
    ("celu 1.5", lambda x: K.elu(x, 1.5, 1.0, 1 / 1.5), lambda x: R.elu(x, 1.5, 1.0, 1 / 1.5)),
]
BINARY: list[tuple[str, Callable[..., np.ndarray], Callable[..., np.ndarray]]] = [
    ("silu_grad", K.silu_grad, R.silu_grad),
    ("silu_grad kept sigmoid", lambda g, x: K.silu_grad(g, x, K.sigmoid(x)), R.silu_grad),
    ("hardswish_grad", K.hardswish_grad, R.hardswish_grad),
    ("gelu_tanh_grad", K.gelu_tanh_grad, R.gelu_tanh_grad),
    ("log_sigmoid_grad", K.log_sigmoid_grad, R.log_sigmoid_grad),
    ("softplus_grad", lambda g, x: K.softplus_grad(g, x, 1.0, 20.0), lambda g, x: R.softplus_grad(g, x, 1.0, 20.0)),
    ("softplus_grad beta 2 threshold 3", lambda g, x: K.softplus_grad(g, x, 2.0, 3.0),
     lambda g, x: R.softplus_grad(g, x, 2.0, 3.0)),
    ("elu_grad", lambda g, x: K.elu_grad(g, x, 1.0), lambda g, x: R.elu_grad(g, x, 1.0)),
    ("elu_grad alpha 2", lambda g, x: K.elu_grad(g, x, 2.0), lambda g, x: R.elu_grad(g, x, 2.0)),
    ("selu_grad", lambda g, x: K.elu_grad(g, x, 1.6732632423543772, 1.0507009873554805),
     lambda g, x: R.elu_grad(g, x, 1.6732632423543772, 1.0507009873554805)),
    ("celu_grad 1.5", lambda g, x: K.elu_grad(g, x, 1.5, 1.0, 1 / 1.5),
     lambda g, x: R.elu_grad(g, x, 1.5, 1.0, 1 / 1.5)),
]


@pytest.mark.parametrize("size", list(SIZES), ids=list(SIZES))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,fast,ref", UNARY, ids=[u[0] for u in UNARY])
def test_unary_kernels_match_their_reference(name, fast, ref, dtype, size, threads) -> None:
    x = _inputs(SIZES[size], dtype).reshape(-1, 1) if size == "small" else _inputs(SIZES[size], dtype)
    before = x.copy()
    with np.errstate(all="ignore"):
        _check(fast(x), ref(x), dtype, **_tol(name, dtype))
    np.testing.assert_array_equal(x, before)  # inputs untouched


@pytest.mark.parametrize("size", list(SIZES), ids=list(SIZES))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,fast,ref", BINARY, ids=[b[0] for b in BINARY])
def test_gradient_kernels_match_their_reference(name, fast, ref, dtype, size, threads) -> None:
    n = SIZES[size]
    x = _inputs(n, dtype)
    g = np.random.default_rng(5).standard_normal(n).astype(dtype)
    with np.errstate(all="ignore"):
        _check(fast(g, x), ref(g, x), dtype, **_tol(name, dtype))


def test_gradient_kernels_broadcast_the_upstream_gradient() -> None:
    x = _inputs(4 * 50_000, np.float32).reshape(4, 50_000)
    g = np.random.default_rng(6).standard_normal((1, 50_000)).astype(np.float32)
    for name, fast, ref in BINARY:
        with np.errstate(all="ignore"):
            _check(fast(g, x), ref(g, x), np.float32, **_tol(name, np.float32))


@pytest.mark.parametrize("size", list(SIZES), ids=list(SIZES))
def test_hardswish_grad_is_pytorchs_at_and_around_the_kinks(size, torch) -> None:
    kinks = np.array([-3.0, 3.0], dtype=np.float32)
    near = np.concatenate([kinks, np.nextafter(kinks, 0), np.nextafter(kinks, 2 * kinks), [0.0, -0.0]])
    x = np.resize(near.astype(np.float32), SIZES[size])
    g = np.random.default_rng(7).standard_normal(x.size).astype(np.float32)
    theirs = torch.ops.aten.hardswish_backward(torch.from_numpy(g), torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(K.hardswish_grad(g, x), theirs)


@pytest.mark.parametrize("size", list(SIZES), ids=list(SIZES))
def test_gelu_float32_kernels_match_the_float64_erfc(size, threads) -> None:
    # The float32 erfc fit is accurate to ~1e-7 relative; gelu's relative error in the far negative
    # tail adds the conditioning of exp(-x^2 / 2) in float32 (x^2 rounded), up to ~2e-5 at x = -12.
    x = _inputs(SIZES[size], np.float32, scale=5.0)
    x = x[~np.isinf(x)]  # -inf is NaN (-inf * 0) in both; +inf is checked below
    _check(K.gelu_f32(x), R.gelu(x), np.float32, rtol=3e-5, atol=1e-37)
    g = np.random.default_rng(8).standard_normal(x.size).astype(np.float32)
    # the slope crosses 0 near x = -0.75: there the error is absolute (~5e-7)
    _check(K.gelu_grad_f32(g, x), R.gelu_grad(g, x), np.float32, rtol=3e-5, atol=2e-6)
    ends = np.array([np.inf, -np.inf, np.nan, 3e38, -3e38], dtype=np.float32)
    np.testing.assert_array_equal(K.gelu_f32(ends), np.array([np.inf, np.nan, np.nan, 3e38, -0.0], np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
def test_prelu_kernel_matches_its_reference_for_each_slope_layout(dtype) -> None:
    x = _inputs(2 * 6 * 50 * 50, dtype).reshape(2, 6, 50, 50)
    for w in (np.array(0.25), np.array([0.25, -0.5, 1.0, 0.1, 0.0, 0.3]), np.array([2.0, 3.0, 1.5, 4.0, 9.0, 1.1]),
              np.array([0.5, 2.0, 0.5, 2.0, 0.5, 2.0]), np.array([np.inf, 0.5, 0.5, 0.5, 0.5, 0.5])):
        w = w.astype(dtype).reshape((-1, 1, 1) if w.ndim else ())
        _check(K.prelu(x, w), R.prelu(x, w), dtype)


def test_leaky_relu_factor_is_the_slope_everywhere() -> None:
    x = _inputs(100_003, np.float32)
    factor = K.leaky_relu_factor(x, 0.2)
    np.testing.assert_array_equal(factor, np.where(x > 0, np.float32(1.0), np.float32(0.2)))

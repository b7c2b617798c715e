"""The fast kernels equal the textbook ones in kernels/reference.py, over random configurations.

Every fast kernel (conv.py, winograd.py, pool.py, elementwise.py) is compared with its reference,
forward values and every gradient kernel, on shapes, strides, paddings, dilations and groups drawn
by hypothesis. The reference gradients are checked to be the gradients of the reference forwards
without PyTorch (a linear map's gradient is its adjoint: <A x, g> == <x, A^T g>), and against
PyTorch where it is installed (the ``torch`` fixture skips just those tests without it).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import tinygrad_conv as tc
import tinygrad_conv.functional as F
from tinygrad_conv.kernels import conv as K
from tinygrad_conv.kernels import elementwise as E
from tinygrad_conv.kernels import pool as P
from tinygrad_conv.kernels import reference as R
from tinygrad_conv.kernels import winograd as W

FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# the torch tests take the (stateless) fixture, which hypothesis would otherwise warn about
FEW_TORCH = settings(max_examples=15, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
EXACT = {"rtol": 1e-10, "atol": 1e-10}  # float64: the two sides differ by summation order only


@pytest.fixture
def torch():
    """PyTorch, or a skip of the one test that asked for it. On one thread: these problems are tiny,
    and a thread pool's start-up on a busy machine cost more than the tests."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


def pairs(lo: int, hi: int) -> st.SearchStrategy[tuple[int, int]]:
    return st.tuples(st.integers(lo, hi), st.integers(lo, hi))


def dot(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.vdot(a, b))


# ----------------------------------------------------------------------------------------------
# convolution
# ----------------------------------------------------------------------------------------------


class Conv(NamedTuple):
    """A conv2d problem: x (N, C, H, W), w (F, C//groups, kh, kw) and a random upstream gradient."""

    x: np.ndarray
    w: np.ndarray
    dy: np.ndarray
    stride: tuple[int, int]
    padding: tuple[tuple[int, int], tuple[int, int]]
    dilation: tuple[int, int]
    groups: int

    @property
    def args(self) -> tuple:
        return self.stride, self.padding, self.dilation, self.groups

    @property
    def x_hw(self) -> tuple[int, int]:
        return self.x.shape[2], self.x.shape[3]


@st.composite
def conv_problems(draw) -> Conv:
    """Kernels 1-4 (non-square too), strides and dilations 1-3, asymmetric padding 0-3, 1-3 groups
    (so depthwise convs too), and inputs from the smallest the kernel fits up to 6 larger."""
    groups = draw(st.integers(1, 3))
    c, f = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kernel, stride, dilation = draw(pairs(1, 4)), draw(pairs(1, 3)), draw(pairs(1, 3))
    padding = (draw(pairs(0, 3)), draw(pairs(0, 3)))
    hw = [draw(st.integers(max(1, dilation[a] * (kernel[a] - 1) + 1 - sum(padding[a])),
                           max(1, dilation[a] * (kernel[a] - 1) + 1 - sum(padding[a])) + 6)) for a in (0, 1)]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((draw(st.integers(1, 2)), c, hw[0], hw[1]))
    w = rng.standard_normal((f, c // groups) + kernel)
    y_shape = R.conv2d(x, w, stride, padding, dilation, groups).shape
    return Conv(x, w, rng.standard_normal(y_shape), stride, padding, dilation, groups)


@FEW
@given(conv_problems())
def test_conv_kernels_equal_reference(p: Conv):
    """Forward, input gradient (conv_transpose2d) and weight gradient; im2col and col2im."""
    kernel = p.w.shape[2:]
    y = K.conv2d(p.x, p.w, *p.args)
    np.testing.assert_allclose(y, R.conv2d(p.x, p.w, *p.args), **EXACT)
    dx = K.conv_transpose2d(p.dy, p.w, *p.args, p.x_hw)
    np.testing.assert_allclose(dx, R.conv2d_input_grad(p.dy, p.w, p.x_hw, *p.args), **EXACT)
    np.testing.assert_allclose(dx, R.conv2d_input_grad_by_correlation(p.dy, p.w, p.x_hw, *p.args), **EXACT)
    np.testing.assert_allclose(dx, R.conv_transpose2d(p.dy, p.w, *p.args, p.x_hw), **EXACT)
    dw = K.conv2d_weight_grad(p.x, p.dy, kernel, *p.args)
    np.testing.assert_allclose(dw, R.conv2d_weight_grad(p.x, p.dy, kernel, *p.args), **EXACT)
    fewer = p.dy[:, :, : max(1, p.dy.shape[2] - 1), : max(1, p.dy.shape[3] - 1)]  # the leading windows only
    np.testing.assert_allclose(K.conv2d_weight_grad(p.x, fewer, kernel, *p.args),
                               R.conv2d_weight_grad(p.x, fewer, kernel, *p.args), **EXACT)
    assert (y.shape, dx.shape, dw.shape) == (p.dy.shape, p.x.shape, p.w.shape)

    cols = R.im2col(p.x, kernel, p.stride, p.padding, p.dilation)
    np.testing.assert_array_equal(K.im2col(p.x, kernel, p.stride, p.padding, p.dilation), cols)
    dcols = np.random.default_rng(0).standard_normal(cols.shape)
    np.testing.assert_allclose(K.col2im(dcols, p.x.shape, kernel, p.stride, p.padding, p.dilation),
                               R.col2im(dcols, p.x.shape, kernel, p.stride, p.padding, p.dilation), **EXACT)


@FEW
@given(conv_problems())
def test_reference_conv_gradients_are_adjoints(p: Conv):
    """conv2d is linear in x and in w, so its gradients are the adjoints: <conv2d(x, w), dy> is
    <x, input_grad(dy)> and <w, weight_grad(x, dy)>; col2im is im2col's adjoint. A wrong gradient
    would break an equality for random x, w, dy with probability one."""
    y_dot = dot(R.conv2d(p.x, p.w, *p.args), p.dy)
    assert np.isclose(y_dot, dot(p.x, R.conv2d_input_grad(p.dy, p.w, p.x_hw, *p.args)), rtol=1e-10, atol=1e-10)
    assert np.isclose(y_dot, dot(p.w, R.conv2d_weight_grad(p.x, p.dy, p.w.shape[2:], *p.args)), rtol=1e-10,
                      atol=1e-10)
    kernel = p.w.shape[2:]
    cols = R.im2col(p.x, kernel, p.stride, p.padding, p.dilation)
    dcols = np.random.default_rng(1).standard_normal(cols.shape)
    assert np.isclose(dot(cols, dcols), dot(p.x, R.col2im(dcols, p.x.shape, kernel, p.stride, p.padding, p.dilation)))


class Transposed(NamedTuple):
    """A conv_transpose2d problem in PyTorch's terms, output_padding included."""

    x: np.ndarray
    w: np.ndarray
    stride: tuple[int, int]
    padding: tuple[int, int]
    output_padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int

    @property
    def out_hw(self) -> tuple[int, int]:
        # PyTorch's size rule: (H - 1)*s - 2*p + d*(k - 1) + output_padding + 1
        h, w = (((self.x.shape[2 + a] - 1) * self.stride[a] - 2 * self.padding[a]
                 + self.dilation[a] * (self.w.shape[2 + a] - 1) + self.output_padding[a] + 1) for a in (0, 1))
        return h, w

    @property
    def pads(self) -> tuple[tuple[int, int], tuple[int, int]]:
        return ((self.padding[0],) * 2, (self.padding[1],) * 2)


@st.composite
def transposed_problems(draw) -> Transposed:
    """PyTorch's rule: output_padding below the stride or the dilation; an output of at least 1."""
    groups = draw(st.integers(1, 3))
    c_in, c_out = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    kernel, stride, dilation = draw(pairs(1, 4)), draw(pairs(1, 3)), draw(pairs(1, 3))
    padding = draw(pairs(0, 3))
    hw = draw(pairs(1, 6))
    output_padding = tuple(draw(st.integers(0, max(stride[a], dilation[a]) - 1)) for a in (0, 1))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((draw(st.integers(1, 2)), c_in) + hw)
    w = rng.standard_normal((c_in, c_out // groups) + kernel)
    p = Transposed(x, w, stride, padding, output_padding, dilation, groups)
    assume(min(p.out_hw) >= 1)
    return p


@FEW
@given(transposed_problems())
def test_conv_transpose2d_kernel_and_its_gradients_equal_reference(p: Transposed):
    """The fast transposed conv equals the fractionally strided one; the op's gradients (which
    run the fast conv2d and weight-gradient kernels) are the reference's adjoints."""
    args = (p.stride, p.pads, p.dilation, p.groups, p.out_hw)
    y = R.conv_transpose2d(p.x, p.w, *args)
    np.testing.assert_allclose(K.conv_transpose2d(p.x, p.w, *args), y, **EXACT)
    assert y.shape[2:] == p.out_hw

    x, w = tc.Tensor(p.x, requires_grad=True), tc.Tensor(p.w, requires_grad=True)
    out = F.conv_transpose2d(x, w, None, p.stride, p.padding, p.output_padding, p.groups, p.dilation)
    rng = np.random.default_rng(2)
    g = rng.standard_normal(y.shape)
    out.backward(tc.Tensor(g))
    x2, w2 = rng.standard_normal(p.x.shape), rng.standard_normal(p.w.shape)
    assert np.isclose(dot(x.grad.numpy(), x2), dot(R.conv_transpose2d(x2, p.w, *args), g), rtol=1e-10, atol=1e-10)
    assert np.isclose(dot(w.grad.numpy(), w2), dot(R.conv_transpose2d(p.x, w2, *args), g), rtol=1e-10, atol=1e-10)


def test_reference_kernels_take_an_empty_batch():
    """Shapes as for any batch, nothing computed (the ops accept an empty batch, as PyTorch does)."""
    x, w, dy = np.zeros((0, 4, 6, 5)), np.ones((6, 2, 3, 2)), np.zeros((0, 6, 3, 5))
    args = ((2, 1), ((0, 1), (1, 0)), (1, 1), 2)
    assert R.conv2d(x, w, *args).shape == dy.shape
    assert R.conv2d_input_grad(dy, w, (6, 5), *args).shape == x.shape
    assert R.conv2d_input_grad_by_correlation(dy, w, (6, 5), *args).shape == x.shape
    assert R.conv_transpose2d(dy, w, *args, (6, 5)).shape == x.shape
    np.testing.assert_array_equal(R.conv2d_weight_grad(x, dy, (3, 2), *args), np.zeros((6, 2, 3, 2)))
    values, indices = R.max_pool2d(x, (2, 2), (2, 2), (1, 1), (1, 1), False)
    assert values.shape == indices.shape == (0, 4, 4, 3)
    assert R.max_unpool2d(values, indices, (6, 5)).shape == R.gather_plane(x, indices).shape[:2] + (6, 5)
    assert R.avg_pool2d_backward(values, (6, 5), (2, 2), (2, 2), (1, 1), False, True, None).shape == x.shape


def test_depthwise_is_grouped_with_one_group_per_channel():
    """Channel multiplier 2: each of the 3 channels meets its own 2 kernels, and nothing else."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((6, 1, 3, 3))
    args = ((2, 1), ((1, 1), (0, 2)), (1, 2))
    y = R.depthwise_conv2d(x, w, *args)
    np.testing.assert_allclose(K.conv2d(x, w, *args, 3), y, **EXACT)
    for ch in range(3):  # output channels 2*ch, 2*ch + 1 see input channel ch alone
        alone = R.conv2d(x[:, ch : ch + 1], w[2 * ch : 2 * ch + 2], *args, 1)
        np.testing.assert_allclose(y[:, 2 * ch : 2 * ch + 2], alone, **EXACT)


@st.composite
def winograd_problems(draw) -> Conv:
    """What Winograd takes: 3x3, stride 1, no dilation or groups, padding 0-2 per side."""
    padding = (draw(pairs(0, 2)), draw(pairs(0, 2)))
    hw = [draw(st.integers(max(1, 3 - sum(padding[a])), 9)) for a in (0, 1)]
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((draw(st.integers(1, 3)), draw(st.integers(1, 4)), hw[0], hw[1]))
    w = rng.standard_normal((draw(st.integers(1, 4)), x.shape[1], 3, 3))
    dy = rng.standard_normal((x.shape[0], w.shape[0], hw[0] + sum(padding[0]) - 2, hw[1] + sum(padding[1]) - 2))
    return Conv(x, w, dy, (1, 1), padding, (1, 1), 1)


@FEW
@given(winograd_problems(), st.sampled_from([2**40, 3000]))
def test_winograd_kernels_equal_reference(p: Conv, budget: int):
    """Called directly in float64, where they must agree to rounding; a small budget splits the batch."""
    np.testing.assert_allclose(W.conv2d(p.x, p.w, p.padding, budget), R.conv2d(p.x, p.w, *p.args), **EXACT)
    np.testing.assert_allclose(W.input_grad(p.dy, p.w, p.padding, budget),
                               R.conv2d_input_grad(p.dy, p.w, p.x_hw, *p.args), **EXACT)
    np.testing.assert_allclose(W.weight_grad(p.x, p.dy, p.padding, budget),
                               R.conv2d_weight_grad(p.x, p.dy, (3, 3), *p.args), **EXACT)


def test_float32_convs_through_winograd_equal_reference(monkeypatch):
    """The conv kernels as the ops call them, with Winograd taking every float32 3x3 stride-1 conv."""
    monkeypatch.setattr(W, "MIN_CHANNELS", 1)
    monkeypatch.setattr(K, "ALGORITHM", "winograd")
    assert W.applies(np.float32, (3, 3), (1, 1), (1, 1), 1, 2, 2)
    rng = np.random.default_rng(4)
    x, w, dy = (rng.standard_normal(s).astype(np.float32) for s in ((3, 5, 8, 7), (4, 5, 3, 3), (3, 4, 8, 5)))
    args = ((1, 1), ((1, 1), (0, 0)), (1, 1), 1)
    tol = {"rtol": 1e-4, "atol": 1e-4}
    for fast, ref in ((K.conv2d(x, w, *args), R.conv2d(x, w, *args)),
                      (K.conv_transpose2d(dy, w, *args, (8, 7)), R.conv2d_input_grad(dy, w, (8, 7), *args)),
                      (K.conv2d_weight_grad(x, dy, (3, 3), *args), R.conv2d_weight_grad(x, dy, (3, 3), *args))):
        assert fast.dtype == ref.dtype == np.float32
        np.testing.assert_allclose(fast, ref, **tol)


# ----------------------------------------------------------------------------------------------
# pooling
# ----------------------------------------------------------------------------------------------


class Pool(NamedTuple):
    x: np.ndarray
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    ceil_mode: bool

    @property
    def max_args(self) -> tuple:
        return self.kernel, self.stride, self.padding, self.dilation, self.ceil_mode


def _values(kind: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Random values; few distinct ones (ties); with NaNs (several in a window); with infinities."""
    if kind == "random":
        return rng.standard_normal(shape)
    x = rng.integers(0, 3, shape).astype(np.float64)
    if kind == "nan":
        x[rng.random(shape) < 0.3] = np.nan
    if kind == "inf":
        x[rng.random(shape) < 0.5] = -np.inf
        x[rng.random(shape) < 0.1] = np.inf
    return x


@st.composite
def pool_problems(draw, dilated: bool = True) -> Pool:
    """PyTorch's rules: padding at most half the kernel, at least one window (floor or ceil)."""
    kernel, stride = draw(pairs(1, 4)), draw(pairs(1, 4))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    dilation = draw(pairs(1, 3)) if dilated else (1, 1)
    hw = tuple(draw(st.integers(max(1, dilation[a] * (kernel[a] - 1) + 1 - 2 * padding[a]),
                                max(1, dilation[a] * (kernel[a] - 1) + 1 - 2 * padding[a]) + 6)) for a in (0, 1))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["random", "ties", "nan", "inf"]))
    x = _values(kind, (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + hw, rng)
    return Pool(x, kernel, stride, padding, dilation, draw(st.booleans()))


def assert_same_max_pool(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> None:
    np.testing.assert_array_equal(a[0], b[0])  # NaN equals NaN here
    np.testing.assert_array_equal(a[1], b[1])
    assert a[0].dtype == b[0].dtype and a[1].dtype == b[1].dtype == np.int64


@FEW
@given(pool_problems())
def test_max_pool_kernels_equal_reference(p: Pool):
    """Values and indices (ties, NaN, all -inf windows, windows wholly in the padding) from the
    fast kernel, im2col + argmax and the loops; then the backward scatter and its gather."""
    fast = P.max_pool2d(p.x, *p.max_args)
    assert_same_max_pool(fast, R.max_pool2d_loop(p.x, *p.max_args))
    assert_same_max_pool(fast, R.max_pool2d(p.x, *p.max_args))
    rng = np.random.default_rng(5)
    idx, hw = fast[1], p.x.shape[2:]
    dy = rng.standard_normal(idx.shape)
    np.testing.assert_allclose(P.max_unpool2d(dy, idx, hw), R.max_unpool2d(dy, idx, hw), **EXACT)
    ddx = rng.standard_normal(p.x.shape)
    np.testing.assert_array_equal(P.gather_plane(ddx, idx), R.gather_plane(ddx, idx))
    # the scatter and the gather are each other's adjoints
    assert np.isclose(dot(R.max_unpool2d(dy, idx, hw), ddx), dot(dy, R.gather_plane(ddx, idx)))


@FEW
@given(pool_problems(dilated=False), st.booleans(), st.sampled_from([None, 2, -3]))
def test_avg_pool_kernels_equal_reference(p: Pool, count_include_pad: bool, divisor_override: int | None):
    x = np.random.default_rng(6).standard_normal(p.x.shape)  # finite: the sums differ in order only
    args = (p.kernel, p.stride, p.padding, p.ceil_mode, count_include_pad, divisor_override)
    y = R.avg_pool2d(x, *args)
    np.testing.assert_allclose(P.avg_pool2d(x, *args), y, **EXACT)
    dy = np.random.default_rng(7).standard_normal(y.shape)
    dx = R.avg_pool2d_backward(dy, x.shape[2:], *args)
    np.testing.assert_allclose(P.avg_pool2d_backward(dy, x.shape[2:], *args), dx, **EXACT)
    assert np.isclose(dot(y, dy), dot(x, dx))  # the backward is the forward's adjoint


@FEW
@given(pairs(1, 9), pairs(1, 9), st.integers(0, 2**32 - 1))
def test_adaptive_avg_pool_kernels_equal_reference(hw, out_hw, seed):
    rng = np.random.default_rng(seed)
    x, dy = rng.standard_normal((2, 3) + hw), rng.standard_normal((2, 3) + out_hw)
    y, dx = R.adaptive_avg_pool2d(x, out_hw), R.adaptive_avg_pool2d_backward(dy, hw)
    np.testing.assert_allclose(P.adaptive_avg_pool2d(x, out_hw), y, **EXACT)
    np.testing.assert_allclose(P.adaptive_avg_pool2d_backward(dy, hw), dx, **EXACT)
    assert np.isclose(dot(y, dy), dot(x, dx))


def test_float32_pools_keep_dtype_and_match():
    x = np.random.default_rng(8).standard_normal((2, 3, 9, 8)).astype(np.float32)
    assert_same_max_pool(P.max_pool2d(x, (3, 2), (2, 2), (1, 1), (1, 1), True),
                         R.max_pool2d(x, (3, 2), (2, 2), (1, 1), (1, 1), True))
    y = R.avg_pool2d(x, (3, 3), (2, 2), (1, 1), True, False, None)
    assert y.dtype == np.float32
    np.testing.assert_allclose(P.avg_pool2d(x, (3, 3), (2, 2), (1, 1), True, False, None), y, rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------------------------
# relu
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [64, 3 * 2**16 + 5], ids=["plain", "split-over-threads"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_kernels_equal_reference(size, dtype):
    """Bit for bit, at NaN, +-0 and the infinities too, on the fast kernels' plain and threaded paths."""
    rng = np.random.default_rng(9)
    x, g = (rng.standard_normal(size).astype(dtype) for _ in range(2))
    for a in (x, g):
        a[rng.choice(size, 40, replace=False)] = np.array([np.nan, 0.0, -0.0, np.inf, -np.inf] * 8, dtype=dtype)
    y = R.relu(x)
    np.testing.assert_array_equal(E.relu(x), y)
    assert np.array_equal(np.signbit(E.relu(x)), np.signbit(y))
    for mask in (y, y != 0):
        np.testing.assert_array_equal(E.masked(g, mask), R.masked(g, mask))
        assert R.masked(g, mask).dtype == dtype


# ----------------------------------------------------------------------------------------------
# the references against PyTorch
# ----------------------------------------------------------------------------------------------


def _torch_grads(torch, fn, arrays, g):
    """fn's output and the gradients of <fn(*arrays), g> w.r.t. every array, by PyTorch."""
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    grads = torch.autograd.grad(out, ts, torch.tensor(g))
    return [out.detach().numpy()] + [t.numpy() for t in grads]


@FEW_TORCH
@given(conv_problems())
def test_reference_conv2d_and_gradients_match_torch(torch, p: Conv):
    (pt, pb), (pl, pr) = p.padding
    tf = torch.nn.functional

    def conv(x, w):
        return tf.conv2d(tf.pad(x, (pl, pr, pt, pb)), w, None, p.stride, 0, p.dilation, p.groups)

    y, gx, gw = _torch_grads(torch, conv, (p.x, p.w), p.dy)
    np.testing.assert_allclose(R.conv2d(p.x, p.w, *p.args), y, **EXACT)
    np.testing.assert_allclose(R.conv2d_input_grad(p.dy, p.w, p.x_hw, *p.args), gx, **EXACT)
    np.testing.assert_allclose(R.conv2d_input_grad_by_correlation(p.dy, p.w, p.x_hw, *p.args), gx, **EXACT)
    np.testing.assert_allclose(R.conv2d_weight_grad(p.x, p.dy, p.w.shape[2:], *p.args), gw, **EXACT)


@FEW_TORCH
@given(transposed_problems())
def test_reference_conv_transpose2d_and_gradients_match_torch(torch, p: Transposed):
    """The transposed conv's gradients are a conv2d of g and a conv2d weight gradient, read with
    the forward's top/left padding and the bottom/right padding that lands on x's size."""
    def conv_t(x, w):
        return torch.nn.functional.conv_transpose2d(x, w, None, p.stride, p.padding, p.output_padding, p.groups,
                                                    p.dilation)

    g = np.random.default_rng(10).standard_normal((p.x.shape[0], p.w.shape[1] * p.groups) + p.out_hw)
    y, gx, gw = _torch_grads(torch, conv_t, (p.x, p.w), g)
    np.testing.assert_allclose(R.conv_transpose2d(p.x, p.w, p.stride, p.pads, p.dilation, p.groups, p.out_hw), y,
                               **EXACT)
    after = [(p.x.shape[2 + a] - 1) * p.stride[a] + p.dilation[a] * (p.w.shape[2 + a] - 1) + 1 - p.padding[a]
             - p.out_hw[a] for a in (0, 1)]
    g_adj = R.pad2d(g, ((p.padding[0], after[0]), (p.padding[1], after[1])))
    no_pad = ((0, 0), (0, 0))
    np.testing.assert_allclose(R.conv2d(g_adj, p.w, p.stride, no_pad, p.dilation, p.groups), gx, **EXACT)
    np.testing.assert_allclose(R.conv2d_weight_grad(g_adj, p.x, p.w.shape[2:], p.stride, no_pad, p.dilation,
                                                    p.groups), gw, **EXACT)


@FEW_TORCH
@given(pool_problems())
def test_reference_max_pools_match_torch(torch, p: Pool):
    x = torch.tensor(p.x, requires_grad=True)
    y, idx = torch.nn.functional.max_pool2d(x, p.kernel, p.stride, p.padding, p.dilation, p.ceil_mode,
                                            return_indices=True)
    values, indices = R.max_pool2d_loop(p.x, *p.max_args)
    assert_same_max_pool(R.max_pool2d(p.x, *p.max_args), (values, indices))
    np.testing.assert_array_equal(values, y.detach().numpy())
    # A window wholly in the padding has no input pixel: we say -1, PyTorch an index past the window
    # (and its backward then corrupts its heap, so it is not run there).
    inside = indices != -1
    np.testing.assert_array_equal(indices[inside], idx.numpy()[inside])
    if not inside.all():
        return
    g = np.random.default_rng(11).standard_normal(y.shape)
    (gx,) = torch.autograd.grad(y, x, torch.tensor(g))
    np.testing.assert_allclose(R.max_unpool2d(g, indices, p.x.shape[2:]), gx.numpy(), **EXACT)


@FEW_TORCH
@given(pool_problems(dilated=False), st.booleans(), st.sampled_from([None, 2, -3]))
def test_reference_avg_pool_matches_torch(torch, p: Pool, count_include_pad: bool, divisor_override: int | None):
    x = np.random.default_rng(12).standard_normal(p.x.shape)
    args = (p.kernel, p.stride, p.padding, p.ceil_mode, count_include_pad, divisor_override)

    def avg(t):
        return torch.nn.functional.avg_pool2d(t, *args)

    y = R.avg_pool2d(x, *args)
    g = np.random.default_rng(13).standard_normal(y.shape)
    ty, tgx = _torch_grads(torch, avg, (x,), g)
    np.testing.assert_allclose(y, ty, **EXACT)
    np.testing.assert_allclose(R.avg_pool2d_backward(g, x.shape[2:], *args), tgx, **EXACT)


def test_reference_adaptive_avg_pool_and_relu_match_torch(torch):
    rng = np.random.default_rng(14)
    x = rng.standard_normal((2, 3, 7, 9))
    g = rng.standard_normal((2, 3, 3, 4))
    y, gx = _torch_grads(torch, lambda t: torch.nn.functional.adaptive_avg_pool2d(t, (3, 4)), (x,), g)
    np.testing.assert_allclose(R.adaptive_avg_pool2d(x, (3, 4)), y, **EXACT)
    np.testing.assert_allclose(R.adaptive_avg_pool2d_backward(g, (7, 9)), gx, **EXACT)

    x = np.array([-2.0, -0.0, 0.0, 1.5, np.nan, np.inf, -np.inf])
    g = np.array([1.0, 2.0, 3.0, 4.0, 5.0, np.nan, np.inf])
    y, gx = _torch_grads(torch, torch.relu, (x,), g)
    np.testing.assert_array_equal(R.relu(x), y)
    np.testing.assert_array_equal(R.masked(g, R.relu(x)), gx)  # NaN passes the gradient; inf at x<0 does not

"""max_pool2d's sliding kernel (windows wholly inside the input, computed on contiguous shifted
slices) held equal to the plain loop of ``kernels/reference.py`` and to PyTorch: values and indices
bit for bit, ties to the first maximum in scan order, the NaN rule through the fallback, and the
code widths, chunking and layouts the kernel has its own branches for."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import tinygrad_conv as tc
from tinygrad_conv.kernels import pool
from tinygrad_conv.kernels import reference as ref


def _inputs(shape, dtype, rng):
    yield "random", rng.standard_normal(shape).astype(dtype)
    yield "ties", rng.integers(0, 3, shape).astype(dtype)  # several maxima in most windows
    relu = np.maximum(rng.standard_normal(shape), 0).astype(dtype)  # what a LeNet pools: many zeros
    yield "relu", relu
    minus_inf = relu.copy()
    minus_inf[:, :, : shape[2] // 2] = -np.inf  # windows of only -inf point at their first pixel
    yield "minus inf", minus_inf


CONFIGS = [  # (kernel, stride, dilation) with windows that fit the input without padding
    ((2, 2), (2, 2), (1, 1)),
    ((3, 3), (2, 2), (1, 1)),
    ((3, 3), (1, 1), (1, 1)),
    ((2, 3), (3, 1), (2, 1)),
    ((1, 1), (1, 1), (1, 1)),
    ((1, 4), (2, 2), (1, 1)),
    ((4, 1), (1, 3), (1, 2)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel,stride,dilation", CONFIGS)
def test_sliding_kernel_equals_the_loop_reference(kernel, stride, dilation, dtype):
    rng = np.random.default_rng(0)
    for hw in [(8, 8), (9, 7), (4, 4)]:
        oh = pool.pool2d_output_size(hw[0], kernel[0], stride[0], 0, dilation[0], False)
        ow = pool.pool2d_output_size(hw[1], kernel[1], stride[1], 0, dilation[1], False)
        if oh <= 0 or ow <= 0:
            continue
        for kind, x in _inputs((3, 2) + hw, dtype, rng):
            fast = pool._max_pool2d_sliding(x.reshape(6, *hw), kernel, stride, dilation, (oh, ow))
            assert fast is not None, kind  # no NaN: the sliding kernel answers itself
            want_y, want_i = ref.max_pool2d_loop(x, kernel, stride, (0, 0), dilation, False)
            msg = f"{kind} {hw} {kernel} {stride} {dilation}"
            np.testing.assert_array_equal(fast[0].reshape(want_y.shape), want_y, err_msg=msg)
            np.testing.assert_array_equal(fast[1].reshape(want_i.shape), want_i, err_msg=msg)
            assert fast[0].dtype == dtype and fast[1].dtype == np.int64


def test_sliding_kernel_hands_nan_to_the_general_kernel():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, (2, 3, 6, 6)).astype(np.float32)
    x[rng.random(x.shape) < 0.25] = np.nan  # several NaNs per window: the last one wins
    assert pool._max_pool2d_sliding(x.reshape(6, 6, 6), (2, 2), (2, 2), (1, 1), (3, 3)) is None
    y, idx = pool.max_pool2d(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    want_y, want_i = ref.max_pool2d_loop(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(idx, want_i)


def test_sliding_kernel_wide_planes_use_16_bit_codes():
    """A tap offset past 255 (the second row of a 300-wide plane) needs the uint16 code."""
    rng = np.random.default_rng(2)
    x = rng.integers(0, 3, (1, 2, 4, 300)).astype(np.float32)
    fast = pool._max_pool2d_sliding(x.reshape(2, 4, 300), (2, 2), (2, 2), (1, 1), (2, 150))
    assert fast is not None
    want_y, want_i = ref.max_pool2d_loop(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(fast[0].reshape(want_y.shape), want_y)
    np.testing.assert_array_equal(fast[1].reshape(want_i.shape), want_i)


def test_sliding_kernel_offsets_past_16_bits_take_the_general_kernel():
    x = np.zeros((1, 1, 2, 70000), dtype=np.float32)
    assert pool._max_pool2d_sliding(x.reshape(1, 2, 70000), (2, 1), (1, 1), (1, 1), (1, 70000)) is None
    y, idx = pool.max_pool2d(x, (2, 1), (1, 1), (0, 0), (1, 1), False)
    assert idx[0, 0, 0, 5] == 5 and y.shape == (1, 1, 1, 70000)


def test_sliding_kernel_chunks_and_non_contiguous_input(monkeypatch):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 4, (5, 3, 12, 10)).astype(np.float32).transpose(0, 1, 3, 2)  # a view
    want = ref.max_pool2d_loop(np.ascontiguousarray(x), (2, 3), (2, 2), (0, 0), (1, 1), False)
    monkeypatch.setattr(pool, "_CHUNK_BYTES", 4 * 10 * 12 * 4)  # 4 planes a chunk: 15 = 4 + 4 + 4 + 3
    y, idx = pool.max_pool2d(x, (2, 3), (2, 2), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(y, want[0])
    np.testing.assert_array_equal(idx, want[1])


def test_lenet_pools_match_torch_values_indices_and_gradients(torch):
    """The two pools of the default LeNet, on ReLU outputs (ties at 0), with a random upstream gradient."""
    rng = np.random.default_rng(4)
    for shape in [(32, 32, 8, 8), (32, 64, 4, 4), (3, 6, 28, 28)]:
        x = np.maximum(rng.standard_normal(shape), 0).astype(np.float32)
        t = tc.Tensor(x, requires_grad=True)
        y, idx = tc.functional.max_pool2d(t, 2, return_indices=True)
        dy = rng.standard_normal(y.shape).astype(np.float32)
        y.backward(tc.Tensor(dy))
        tx = torch.tensor(x, requires_grad=True)
        ty, ti = torch.nn.functional.max_pool2d(tx, 2, return_indices=True)
        ty.backward(torch.from_numpy(dy))
        np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
        np.testing.assert_array_equal(idx.numpy(), ti.numpy())
        np.testing.assert_array_equal(t.grad.numpy(), tx.grad.numpy())


def test_window_corner_cache_is_read_only():
    flat, in_plane = pool._window_corners(2, (4, 4), (2, 2), (2, 2))
    assert flat.tolist() == [0, 2, 8, 10, 16, 18, 24, 26]
    assert in_plane.tolist() == [0, 2, 8, 10] * 2
    for a in (flat, in_plane):
        with pytest.raises(ValueError):
            a[0] = 1


def test_every_config_of_a_small_grid_matches_the_reference():
    """Random sizes, kernels, strides and dilations through the public kernel (sliding or not)."""
    rng = np.random.default_rng(5)
    for k, s, d in itertools.product([(1, 2), (2, 2), (3, 2)], [(1, 1), (2, 3)], [(1, 1), (2, 1)]):
        hw = tuple(int(v) for v in rng.integers(3, 9, 2))
        if min(pool.pool2d_output_size(hw[a], k[a], s[a], 0, d[a], False) for a in (0, 1)) <= 0:
            continue
        x = rng.integers(0, 3, (2, 2) + hw).astype(np.float64)
        y, idx = pool.max_pool2d(x, k, s, (0, 0), d, False)
        want_y, want_i = ref.max_pool2d_loop(x, k, s, (0, 0), d, False)
        np.testing.assert_array_equal(y, want_y, err_msg=str((hw, k, s, d)))
        np.testing.assert_array_equal(idx, want_i, err_msg=str((hw, k, s, d)))


# ----------------------------------------------------------------------------------------------
# the first-order backward: the scatter-add kernel called directly, not through the recorded op


@pytest.mark.parametrize("kw", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 1, "padding": 1},
                                {"kernel_size": (2, 3), "stride": (2, 1), "dilation": (1, 2), "ceil_mode": True}])
def test_first_order_backward_equals_the_recorded_scatter_add(kw):
    """max_pool2d's gradient without create_graph (the kernel) and with it (the registered op),
    overlapping windows included, batched and unbatched."""
    rng = np.random.default_rng(7)
    x = rng.integers(0, 3, (4, 3, 8, 7)).astype(np.float64)  # ties: overlapping windows share maxima
    shape = tc.functional.max_pool2d(tc.Tensor(x), **kw).shape
    g = rng.standard_normal(shape)
    for xs, gs in ((x, g), (x[0], g[0])):
        grads = []
        for create_graph in (False, True):
            t = tc.Tensor(xs, requires_grad=True)
            (gx,) = tc.autograd.grad(tc.functional.max_pool2d(t, **kw), [t], tc.Tensor(gs), create_graph=create_graph)
            grads.append(gx.detach().numpy())
        np.testing.assert_array_equal(grads[0], grads[1])
        assert grads[0].shape == xs.shape


def test_scatter_add_with_minus_one_indices_after_the_min_check():
    """Index -1 (a window wholly in the padding) still goes to the spare slot and is dropped."""
    dy = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    idx = np.array([[[[0, -1], [0, 3]]]])
    np.testing.assert_array_equal(pool.scatter_add_plane(dy, idx, (2, 2)), [[[[4.0, 0.0], [0.0, 4.0]]]])

"""Tests of the Winograd F(2x2, 3x3) kernels (tinygrad_conv.kernels.winograd).

The reference is the im2col kernel set (itself checked against PyTorch and the textbook forms in
test_conv_kernels.py), and PyTorch directly where it is installed. Winograd only runs for float32
layers with many channels; these tests call it on float64 (where agreement must be to rounding)
and force it onto small float32 problems by lowering ``MIN_CHANNELS``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import tinygrad_conv as tc
import tinygrad_conv.functional as F
from tinygrad_conv.kernels import conv as K
from tinygrad_conv.kernels import winograd as W
from tinygrad_conv.kernels import workspace

ONE = (1, 1)
BIG = 2**40  # a memory budget that never splits the batch


def _direct(x, w, dy, padding):
    """The im2col kernels' forward, input gradient and weight gradient (Winograd switched off)."""
    saved = K.ALGORITHM
    K.ALGORITHM = "im2col"
    try:
        h, wd = x.shape[2:]
        return (K.conv2d(x, w, ONE, padding, ONE, 1), K.conv_transpose2d(dy, w, ONE, padding, ONE, 1, (h, wd)),
                K.conv2d_weight_grad(x, dy, (3, 3), ONE, padding, ONE, 1))
    finally:
        K.ALGORITHM = saved


def _problem(n, c, h, w, f, padding, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((f, c, 3, 3)).astype(dtype)
    (pt, pb), (pl, pr) = padding
    dy = rng.standard_normal((n, f, h + pt + pb - 2, w + pl + pr - 2)).astype(dtype)
    return x, wt, dy


PADDINGS = [((0, 0), (0, 0)), ((1, 1), (1, 1)), ((2, 2), (2, 2)), ((0, 2), (1, 0)), ((2, 1), (0, 1))]
SIZES = [(3, 3), (4, 4), (5, 6), (7, 9), (8, 8), (1, 2)]
# the (size, padding) pairs where the 3x3 kernel fits in the padded input
GRID = [(hw, p) for hw, p in itertools.product(SIZES, PADDINGS) if hw[0] + sum(p[0]) >= 3 and hw[1] + sum(p[1]) >= 3]


@pytest.mark.parametrize("hw,padding", GRID, ids=str)
def test_float64_matches_im2col_to_rounding(hw, padding):
    """Odd and even output sizes (a half-empty last tile), every padding up to 2 per side."""
    h, w = hw
    x, wt, dy = _problem(3, 4, h, w, 5, padding, np.float64)
    y, dx, dw = _direct(x, wt, dy, padding)
    np.testing.assert_allclose(W.conv2d(x, wt, padding, BIG), y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(W.input_grad(dy, wt, padding, BIG), dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(W.weight_grad(x, dy, padding, BIG), dw, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("budget_samples", [1, 2, 5])
def test_batch_chunks_give_the_same_result(budget_samples):
    """Chunks of 1 and 2 samples (a ragged last chunk of 1) reuse their work arrays correctly."""
    padding = ((1, 0), (2, 1))
    x, wt, dy = _problem(5, 3, 7, 6, 4, padding, np.float64, seed=1)
    oh, ow = dy.shape[2:]
    per_sample = 16 * -(-oh // 2) * -(-ow // 2) * 4 * 8  # transformed tiles of one sample, max(C, F) = 4
    whole = (W.conv2d(x, wt, padding, BIG), W.input_grad(dy, wt, padding, BIG), W.weight_grad(x, dy, padding, BIG))
    budget = budget_samples * per_sample
    chunked = (W.conv2d(x, wt, padding, budget), W.input_grad(dy, wt, padding, budget),
               W.weight_grad(x, dy, padding, budget))
    for a, b in zip(whole, chunked):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_applies_only_where_it_can_pay():
    args = ((3, 3), ONE, ONE, 1)
    assert W.applies(np.float32, *args, 64, 64)
    assert W.applies(np.float32, *args, 256, 256)
    assert W.applies(np.float32, *args, 32, 64)
    assert not W.applies(np.float64, *args, 64, 64)  # float64 keeps the direct sum
    assert not W.applies(np.float32, *args, 3, 64)  # too few input channels
    assert not W.applies(np.float32, *args, 64, 8)
    assert not W.applies(np.float32, (3, 3), (2, 2), ONE, 1, 64, 64)  # B5: strided
    assert not W.applies(np.float32, (3, 3), ONE, (2, 2), 1, 64, 64)
    assert not W.applies(np.float32, (3, 3), ONE, ONE, 2, 64, 64)
    assert not W.applies(np.float32, (5, 5), ONE, ONE, 1, 64, 64)


@pytest.fixture
def winograd_everywhere(monkeypatch):
    """Run every float32 3x3 stride-1 conv of a test through Winograd, whatever its channels."""
    monkeypatch.setattr(W, "MIN_CHANNELS", 1)
    monkeypatch.setattr(K, "ALGORITHM", "winograd")


def _torch_reference(x, wt, dy, padding):
    torch = pytest.importorskip("torch")
    fn = torch.nn.functional
    xt = torch.tensor(x, requires_grad=True)
    wtt = torch.tensor(wt, requires_grad=True)
    (pt, pb), (pl, pr) = padding
    yt = fn.conv2d(fn.pad(xt, (pl, pr, pt, pb)), wtt)
    gx, gw = torch.autograd.grad(yt, (xt, wtt), torch.tensor(dy))
    return yt.detach().numpy(), gx.numpy(), gw.numpy()


@pytest.mark.parametrize("padding", PADDINGS[:4], ids=str)
def test_float32_kernels_match_torch(padding, winograd_everywhere):
    x, wt, dy = _problem(4, 6, 9, 8, 5, padding, np.float32, seed=2)
    ty, tdx, tdw = _torch_reference(x, wt, dy, padding)
    y = K.conv2d(x, wt, ONE, padding, ONE, 1)
    dx = K.conv_transpose2d(dy, wt, ONE, padding, ONE, 1, x.shape[2:])
    dw = K.conv2d_weight_grad(x, dy, (3, 3), ONE, padding, ONE, 1)
    for ours, theirs in ((y, ty), (dx, tdx), (dw, tdw)):
        assert ours.dtype == np.float32 and ours.flags.c_contiguous
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def test_padding_over_two_uses_im2col_for_the_input_gradient(winograd_everywhere):
    """The input gradient's conv would need a negative padding: the im2col kernel takes it."""
    padding = ((3, 3), (1, 1))
    x, wt, dy = _problem(2, 3, 5, 6, 4, padding, np.float32, seed=3)
    ty, tdx, tdw = _torch_reference(x, wt, dy, padding)
    np.testing.assert_allclose(K.conv2d(x, wt, ONE, padding, ONE, 1), ty, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(K.conv_transpose2d(dy, wt, ONE, padding, ONE, 1, (5, 6)), tdx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(K.conv2d_weight_grad(x, dy, (3, 3), ONE, padding, ONE, 1), tdw, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("where", ["x", "w", "dy"])
def test_non_finite_values_fall_back_to_the_direct_sum(where, winograd_everywhere):
    """inf - inf in a transform would give nan where the direct sum gives inf: the kernels notice
    the non-finite result and redo the pass with im2col, which agrees with PyTorch."""
    padding = ((1, 1), (1, 1))
    x, wt, dy = _problem(2, 3, 6, 6, 4, padding, np.float32, seed=4)
    {"x": x, "w": wt, "dy": dy}[where][0, 1, 2, 2] = np.inf
    ty, tdx, tdw = _torch_reference(x, wt, dy, padding)
    with np.errstate(invalid="ignore", over="ignore"):  # PyTorch's inf - inf are real here too
        y = K.conv2d(x, wt, ONE, padding, ONE, 1)
        dx = K.conv_transpose2d(dy, wt, ONE, padding, ONE, 1, (6, 6))
        dw = K.conv2d_weight_grad(x, dy, (3, 3), ONE, padding, ONE, 1)
    for ours, theirs in ((y, ty), (dx, tdx), (dw, tdw)):
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
        np.testing.assert_array_equal(np.isinf(ours), np.isinf(theirs))
        finite = np.isfinite(theirs)
        np.testing.assert_allclose(ours[finite], theirs[finite], rtol=1e-4, atol=1e-4)


def test_inputs_are_left_unchanged_and_views_are_accepted(winograd_everywhere):
    rng = np.random.default_rng(5)
    big = rng.standard_normal((4, 8, 9, 10)).astype(np.float32)
    x = big[::2, ::2, :, 1:]  # a strided (2, 4, 9, 9) view
    wt = rng.standard_normal((4, 5, 3, 3)).astype(np.float32).transpose(1, 0, 2, 3)  # (5, 4, 3, 3) view
    dy = rng.standard_normal((2, 9, 9, 5)).astype(np.float32).transpose(0, 3, 1, 2)  # channels-last memory
    copies = [a.copy() for a in (x, wt, dy)]
    pad = ((1, 1), (1, 1))
    xc, wc, dyc = (np.ascontiguousarray(a) for a in (x, wt, dy))
    np.testing.assert_array_equal(K.conv2d(x, wt, ONE, pad, ONE, 1), K.conv2d(xc, wc, ONE, pad, ONE, 1))
    np.testing.assert_array_equal(K.conv_transpose2d(dy, wt, ONE, pad, ONE, 1, (9, 9)),
                                  K.conv_transpose2d(dyc, wc, ONE, pad, ONE, 1, (9, 9)))
    np.testing.assert_array_equal(K.conv2d_weight_grad(x, dy, (3, 3), ONE, pad, ONE, 1),
                                  K.conv2d_weight_grad(xc, dyc, (3, 3), ONE, pad, ONE, 1))
    for before, after in zip(copies, (x, wt, dy)):
        np.testing.assert_array_equal(before, after)


def test_memory_budget_bounds_peak_memory(winograd_everywhere, monkeypatch):
    """The budget splits the batch: the peak is a fraction of the one-chunk peak, which itself is
    at least the whole batch's transformed input."""
    import tracemalloc

    rng = np.random.default_rng(6)
    x = rng.standard_normal((64, 8, 16, 16)).astype(np.float32)
    w = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    y = K.conv2d(x, w, ONE, ((1, 1), (1, 1)), ONE, 1)
    tiles_bytes = 16 * (64 * 8 * 8) * 8 * 4  # the whole batch's transformed input: 2.1 MB

    def peak(budget: int) -> int:
        monkeypatch.setattr(K, "_MEMORY_BUDGET", budget)
        monkeypatch.setattr(K, "_CACHE_TARGET", budget)
        workspace.clear()  # the scratch the kernels keep between calls is allocated, and counted, again
        tracemalloc.start()
        try:
            K.conv2d(x, w, ONE, ((1, 1), (1, 1)), ONE, 1)
            K.conv2d_weight_grad(x, y, (3, 3), ONE, ((1, 1), (1, 1)), ONE, 1)
            K.conv_transpose2d(y, w, ONE, ((1, 1), (1, 1)), ONE, 1, (16, 16))
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    whole = peak(2**40)
    assert whole > tiles_bytes
    assert peak(tiles_bytes // 16) < whole / 3


def test_ops_take_the_winograd_path_and_match_torch(monkeypatch):
    """Through the autograd ops at a size where Winograd can run (64 channels), forced to run it:
    forward and both gradients with a random upstream gradient, and a double backward."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(K, "ALGORITHM", "winograd")
    assert W.applies(np.float32, (3, 3), ONE, ONE, 1, 64, 64)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 64, 6, 5)).astype(np.float32)
    w = (rng.standard_normal((64, 64, 3, 3)) * 0.1).astype(np.float32)
    g = rng.standard_normal((2, 64, 6, 5)).astype(np.float32)
    tx, tw = tc.Tensor(x, requires_grad=True), tc.Tensor(w, requires_grad=True)
    y = F.conv2d(tx, tw, padding=1)
    gx, gw = tc.grad(y, (tx, tw), tc.Tensor(g), create_graph=True)
    ggx = tc.grad((gx * gx).sum() + (gw * gw).sum(), tx)[0]

    px, pw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    py = torch.nn.functional.conv2d(px, pw, padding=1)
    pgx, pgw = torch.autograd.grad(py, (px, pw), torch.tensor(g), create_graph=True)
    pggx = torch.autograd.grad((pgx * pgx).sum() + (pgw * pgw).sum(), px)[0]
    np.testing.assert_allclose(y.detach().numpy(), py.detach().numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gx.detach().numpy(), pgx.detach().numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(gw.detach().numpy(), pgw.detach().numpy(), rtol=1e-4, atol=2e-4)
    np.testing.assert_allclose(ggx.numpy(), pggx.numpy(), rtol=1e-3, atol=1e-3)


def test_exhaustive_small_sizes_against_im2col():
    """Every image size from 1 to 6 on each axis with paddings 0-2: tile edges in every position."""
    for h, w, p in itertools.product(range(1, 7), range(1, 7), range(3)):
        padding = ((p, 2 - p), (2 - p, p)) if (h + w) % 2 else ((p, p), (p, p))
        if h + sum(padding[0]) < 3 or w + sum(padding[1]) < 3:
            continue
        x, wt, dy = _problem(2, 2, h, w, 3, padding, np.float64, seed=h * 10 + w)
        y, dx, dw = _direct(x, wt, dy, padding)
        np.testing.assert_allclose(W.conv2d(x, wt, padding, BIG), y, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(W.input_grad(dy, wt, padding, BIG), dx, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(W.weight_grad(x, dy, padding, BIG), dw, rtol=1e-12, atol=1e-12)


# The measured choice itself (ALGORITHM = "benchmark", the fake-clock tests) is tested in test_conv_variants.py.


def test_benchmark_mode_through_the_kernels_matches_im2col(monkeypatch):
    """At a size where Winograd can run, the measured choice (either one) gives im2col's values to
    rounding, and the choice is remembered for each of the three kernels."""
    monkeypatch.setattr(K, "ALGORITHM", "benchmark")
    monkeypatch.setattr(K, "_choices", {})
    padding = ((1, 1), (1, 1))
    x, wt, dy = _problem(2, 16, 6, 6, 16, padding, np.float32, seed=8)
    y, dx, dw = _direct(x, wt, dy, padding)
    np.testing.assert_allclose(K.conv2d(x, wt, ONE, padding, ONE, 1), y, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(K.conv_transpose2d(dy, wt, ONE, padding, ONE, 1, (6, 6)), dx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(K.conv2d_weight_grad(x, dy, (3, 3), ONE, padding, ONE, 1), dw, rtol=1e-4, atol=1e-4)
    assert sorted(key[0] for key in K._choices) == ["conv2d", "input_grad", "weight_grad"]

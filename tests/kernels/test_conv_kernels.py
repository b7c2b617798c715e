"""Tests of the convolution kernels in tinygrad_conv.kernels.conv.

Parity with PyTorch (forward, input gradient through autograd with a random upstream gradient,
weight gradient) over a grid of strides, paddings, dilations, groups and kernel shapes, plus
checks that need no torch: the textbook form of the input gradient (dilate, pad, rotate the
kernel by 180 degrees, correlate), a naive loop for the weight gradient, and the building blocks.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tinygrad_conv.kernels import conv as K

# ------------------------------------------------------------------------------------------------
# Configurations: (N, C, H, W, F, groups, kernel, stride, padding pairs, dilation)
# ------------------------------------------------------------------------------------------------

P0 = ((0, 0), (0, 0))
P1 = ((1, 1), (1, 1))
P2 = ((2, 2), (2, 2))
P_PAIR = ((2, 2), (1, 1))
P_ASYM = ((0, 1), (1, 0))  # PyTorch's 'same' padding for even kernels puts the extra row/col last

CONFIGS = [
    # stride 1..3, square kernels
    (2, 3, 9, 9, 4, 1, (3, 3), (1, 1), P0, (1, 1)),
    (2, 3, 9, 9, 4, 1, (3, 3), (2, 2), P1, (1, 1)),
    (2, 3, 10, 11, 4, 1, (3, 3), (3, 3), P2, (1, 1)),
    # unequal stride pairs; odd sizes where the stride leaves a remainder
    (2, 3, 9, 10, 5, 1, (3, 3), (2, 1), P1, (1, 1)),
    (2, 2, 11, 8, 3, 1, (3, 2), (1, 3), P0, (1, 1)),
    (1, 2, 12, 13, 3, 1, (2, 2), (3, 2), P_PAIR, (1, 1)),
    # padding pairs and asymmetric padding
    (2, 3, 8, 9, 4, 1, (2, 2), (1, 1), P_ASYM, (1, 1)),
    (2, 3, 7, 8, 4, 1, (4, 3), (1, 1), P_PAIR, (1, 1)),
    (2, 2, 9, 9, 3, 1, (2, 4), (2, 2), P_ASYM, (1, 1)),
    # dilation 1..3 and pairs
    (2, 3, 11, 11, 4, 1, (3, 3), (1, 1), P1, (2, 2)),
    (2, 3, 13, 12, 4, 1, (3, 3), (2, 2), P2, (3, 3)),
    (2, 2, 12, 12, 3, 1, (3, 2), (1, 2), P1, (2, 3)),
    (1, 2, 12, 11, 3, 1, (2, 3), (3, 1), P_ASYM, (3, 1)),
    # groups 2 and depthwise (groups == C, with channel multiplier 1 and 2)
    (2, 4, 9, 9, 6, 2, (3, 3), (1, 1), P1, (1, 1)),
    (2, 4, 10, 9, 4, 2, (3, 2), (2, 1), P_ASYM, (2, 1)),
    (2, 4, 9, 9, 4, 4, (3, 3), (1, 1), P1, (1, 1)),
    (2, 3, 10, 10, 6, 3, (5, 5), (2, 2), P2, (1, 1)),
    # 1x1 kernels (no junk columns at all), with stride
    (2, 5, 7, 7, 4, 1, (1, 1), (1, 1), P0, (1, 1)),
    (2, 4, 8, 7, 6, 2, (1, 1), (2, 3), P1, (1, 1)),
    # non-square kernels, batch 1
    (1, 3, 8, 12, 2, 1, (1, 5), (1, 1), ((0, 0), (2, 2)), (1, 1)),
    (1, 3, 12, 8, 2, 1, (5, 1), (2, 1), ((2, 2), (0, 0)), (1, 2)),
    # kernel as large as the padded input: a single output pixel
    (2, 2, 4, 5, 3, 1, (4, 5), (1, 1), P0, (1, 1)),
    # stride larger than kernel: some input pixels get no gradient
    (2, 2, 9, 9, 3, 1, (2, 2), (3, 3), P0, (1, 1)),
]


def _ids(cfg: tuple) -> str:
    n, c, h, w, f, g, k, s, p, d = cfg
    return f"N{n}C{c}_{h}x{w}_F{f}g{g}_k{k[0]}x{k[1]}_s{s[0]}{s[1]}_p{p}_d{d[0]}{d[1]}"


def _tols(dtype: type) -> dict:
    return {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-10}


def _rand(rng: np.random.Generator, shape: tuple, dtype: type) -> np.ndarray:
    return rng.standard_normal(shape).astype(dtype)


def _problem(cfg: tuple, dtype: type, seed: int = 0):
    n, c, h, w, f, g, k, s, p, d = cfg
    rng = np.random.default_rng(seed)
    x = _rand(rng, (n, c, h, w), dtype)
    wt = _rand(rng, (f, c // g) + k, dtype)
    oh = K.conv2d_output_size(h, k[0], s[0], sum(p[0]), d[0])
    ow = K.conv2d_output_size(w, k[1], s[1], sum(p[1]), d[1])
    dy = _rand(rng, (n, f, oh, ow), dtype)
    return x, wt, dy


# ------------------------------------------------------------------------------------------------
# Parity with PyTorch
# ------------------------------------------------------------------------------------------------


def _torch_conv(torch, x, w, s, p, d, g, dy):
    """PyTorch forward, dx and dw; asymmetric padding is applied with F.pad first."""
    fn = torch.nn.functional
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    (pt, pb), (pl, pr) = p
    yt = fn.conv2d(fn.pad(xt, (pl, pr, pt, pb)), wt, stride=s, dilation=d, groups=g)
    gx, gw = torch.autograd.grad(yt, (xt, wt), torch.tensor(dy))
    return yt.detach().numpy(), gx.numpy(), gw.numpy()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg", CONFIGS, ids=_ids)
def test_conv2d_matches_torch(cfg, dtype):
    torch = pytest.importorskip("torch")
    n, c, h, w, f, g, k, s, p, d = cfg
    x, wt, dy = _problem(cfg, dtype)
    y = K.conv2d(x, wt, s, p, d, g)
    dx = K.conv_transpose2d(dy, wt, s, p, d, g, (h, w))
    dw = K.conv2d_weight_grad(x, dy, k, s, p, d, g)
    ty, tdx, tdw = _torch_conv(torch, x, wt, s, p, d, g, dy)
    assert y.dtype == dx.dtype == dw.dtype == dtype
    assert y.shape == ty.shape and dx.shape == x.shape and dw.shape == wt.shape
    np.testing.assert_allclose(y, ty, **_tols(dtype))
    np.testing.assert_allclose(dx, tdx, **_tols(dtype))
    np.testing.assert_allclose(dw, tdw, **_tols(dtype))


# (N, C_in, H, W, C_out, groups, kernel, stride, padding, output_padding, dilation)
CT_CONFIGS = [
    (2, 3, 5, 5, 4, 1, (3, 3), (1, 1), (0, 0), (0, 0), (1, 1)),
    (2, 4, 6, 5, 2, 1, (4, 4), (2, 2), (1, 1), (0, 0), (1, 1)),
    (2, 4, 5, 6, 3, 1, (3, 3), (2, 2), (1, 1), (1, 1), (1, 1)),  # output_padding
    (2, 3, 4, 5, 2, 1, (3, 2), (3, 2), (1, 0), (2, 1), (1, 1)),
    (2, 4, 5, 5, 6, 2, (3, 3), (2, 1), (1, 1), (1, 0), (1, 2)),
    (1, 4, 4, 4, 4, 4, (3, 3), (1, 1), (2, 2), (0, 0), (2, 2)),  # depthwise
    (2, 2, 5, 4, 3, 1, (3, 3), (1, 1), (1, 1), (1, 1), (2, 2)),  # output_padding >= stride
    (2, 3, 3, 3, 2, 1, (1, 1), (3, 3), (0, 0), (2, 2), (1, 1)),  # 1x1, output_padding 2
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cfg", CT_CONFIGS, ids=lambda c: f"Cin{c[1]}_k{c[6]}_s{c[7]}_p{c[8]}_op{c[9]}_d{c[10]}")
def test_conv_transpose2d_matches_torch(cfg, dtype):
    """Public conv_transpose2d, its input gradient (conv2d) and its weight gradient, which is
    conv2d_weight_grad with the roles of x and dy swapped."""
    torch = pytest.importorskip("torch")
    n, cin, h, w, cout, g, k, s, p, op, d = cfg
    rng = np.random.default_rng(1)
    x = _rand(rng, (n, cin, h, w), dtype)
    wt = _rand(rng, (cin, cout // g) + k, dtype)
    oh = K.conv_transpose2d_output_size(h, k[0], s[0], p[0], op[0], d[0])
    ow = K.conv_transpose2d_output_size(w, k[1], s[1], p[1], op[1], d[1])
    pads = ((p[0], p[0]), (p[1], p[1]))
    y = K.conv_transpose2d(x, wt, s, pads, d, g, (oh, ow))

    xt = torch.tensor(x, requires_grad=True)
    wtt = torch.tensor(wt, requires_grad=True)
    yt = torch.nn.functional.conv_transpose2d(xt, wtt, stride=s, padding=p, output_padding=op, groups=g, dilation=d)
    assert yt.shape == (n, cout, oh, ow)
    np.testing.assert_allclose(y, yt.detach().numpy(), **_tols(dtype))

    dy = _rand(rng, (n, cout, oh, ow), dtype)
    gx, gw = torch.autograd.grad(yt, (xt, wtt), torch.tensor(dy))
    dx = K.conv2d(dy, wt, s, pads, d, g)[:, :, :h, :w]  # output_padding >= stride: crop extra outputs
    dw = K.conv2d_weight_grad(dy, x, k, s, pads, d, g)
    assert dx.dtype == dw.dtype == dtype
    np.testing.assert_allclose(dx, gx.numpy(), **_tols(dtype))
    np.testing.assert_allclose(dw, gw.numpy(), **_tols(dtype))


def test_nonfinite_values_follow_torch():
    """Junk columns must not turn into NaN where the true result is finite (0 * inf)."""
    torch = pytest.importorskip("torch")
    cfg = (2, 2, 7, 7, 3, 1, (3, 3), (1, 1), P1, (1, 1))
    x, wt, dy = _problem(cfg, np.float64)
    x[0, 1, 3, 0] = np.inf  # left edge: junk windows wrap onto it from the previous row
    wt[1, 0, 2, 2] = np.nan
    n, c, h, w, f, g, k, s, p, d = cfg
    ty, tdx, tdw = _torch_conv(torch, x, wt, s, p, d, g, dy)
    np.testing.assert_allclose(K.conv2d(x, wt, s, p, d, g), ty, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(K.conv_transpose2d(dy, wt, s, p, d, g, (h, w)), tdx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(K.conv2d_weight_grad(x, dy, k, s, p, d, g), tdw, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# Independent textbook checks (no torch)
# ------------------------------------------------------------------------------------------------


def _correlate_valid(x: np.ndarray, w: np.ndarray, dilation: tuple[int, int], groups: int) -> np.ndarray:
    """Stride-1 valid cross-correlation written with sliding_window_view and einsum."""
    kh, kw = w.shape[2:]
    dh, dw = dilation
    win = np.lib.stride_tricks.sliding_window_view(x, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))
    win = win[..., ::dh, ::dw]  # (N, C, OH, OW, kh, kw)
    n, c = x.shape[:2]
    f = w.shape[0]
    win = win.reshape(n, groups, c // groups, *win.shape[2:])
    wg = w.reshape(groups, f // groups, c // groups, kh, kw)
    y = np.einsum("ngchwij,gfcij->ngfhw", win, wg)
    return y.reshape(n, f, *y.shape[-2:])


def _textbook_input_grad(dy, w, x_hw, stride, padding, dilation, groups):
    """Dilate dy by the stride, pad it by d*(k-1), correlate with the kernel rotated by 180
    degrees and in/out channels swapped per group, then crop the padding off (zero-extending
    where the stride skipped the last rows/cols)."""
    f, cg, kh, kw = w.shape
    fg = f // groups
    w_rot = np.rot90(w, 2, axes=(2, 3))
    w_swapped = w_rot.reshape(groups, fg, cg, kh, kw).transpose(0, 2, 1, 3, 4).reshape(groups * cg, fg, kh, kw)
    full_pad = ((dilation[0] * (kh - 1),) * 2, (dilation[1] * (kw - 1),) * 2)
    full = _correlate_valid(K.pad2d(K.dilate2d(dy, stride), full_pad), w_swapped, dilation, groups)
    (pt, _), (pl, _) = padding
    h, wd = x_hw
    out = np.zeros(dy.shape[:1] + (groups * cg, h, wd), dtype=dy.dtype)
    part = full[:, :, pt : pt + h, pl : pl + wd]
    out[:, :, : part.shape[2], : part.shape[3]] = part
    return out


def _naive_weight_grad(x, dy, kernel, stride, padding, dilation, groups):
    n, c, h, w = x.shape
    f, oh, ow = dy.shape[1:]
    cg, fg = c // groups, f // groups
    xp = K.pad2d(x, padding)
    dw = np.zeros((f, cg) + tuple(kernel), dtype=x.dtype)
    for fo in range(f):
        g = fo // fg
        for ci in range(cg):
            for i in range(kernel[0]):
                for j in range(kernel[1]):
                    r0, c0 = i * dilation[0], j * dilation[1]
                    patch = xp[
                        :,
                        g * cg + ci,
                        r0 : r0 + stride[0] * (oh - 1) + 1 : stride[0],
                        c0 : c0 + stride[1] * (ow - 1) + 1 : stride[1],
                    ]
                    dw[fo, ci, i, j] = np.sum(patch * dy[:, fo])
    return dw


@pytest.mark.parametrize("cfg", CONFIGS[::2], ids=_ids)
def test_gradients_match_textbook_forms(cfg):
    n, c, h, w, f, g, k, s, p, d = cfg
    x, wt, dy = _problem(cfg, np.float64, seed=3)
    dx = K.conv_transpose2d(dy, wt, s, p, d, g, (h, w))
    np.testing.assert_allclose(dx, _textbook_input_grad(dy, wt, (h, w), s, p, d, g), rtol=1e-10, atol=1e-10)
    dw = K.conv2d_weight_grad(x, dy, k, s, p, d, g)
    np.testing.assert_allclose(dw, _naive_weight_grad(x, dy, k, s, p, d, g), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("cfg", CONFIGS[1::3], ids=_ids)
def test_forward_matches_correlation(cfg):
    n, c, h, w, f, g, k, s, p, d = cfg
    x, wt, _ = _problem(cfg, np.float64, seed=4)
    ref = _correlate_valid(K.pad2d(x, p), wt, d, g)[:, :, :: s[0], :: s[1]]
    y = K.conv2d(x, wt, s, p, d, g)
    np.testing.assert_allclose(y, ref[:, :, : y.shape[2], : y.shape[3]], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("cfg", CONFIGS[::3], ids=_ids)
def test_input_grad_is_adjoint_of_conv2d(cfg):
    """<conv2d(x), dy> == <x, conv_transpose2d(dy)> for random x, dy."""
    n, c, h, w, f, g, k, s, p, d = cfg
    x, wt, dy = _problem(cfg, np.float64, seed=5)
    lhs = np.vdot(K.conv2d(x, wt, s, p, d, g), dy)
    rhs = np.vdot(x, K.conv_transpose2d(dy, wt, s, p, d, g, (h, w)))
    assert lhs == pytest.approx(rhs, rel=1e-10)


# ------------------------------------------------------------------------------------------------
# Building blocks, sizes, memory budget, layouts
# ------------------------------------------------------------------------------------------------


def test_output_size_formulas():
    assert K.conv2d_output_size(28, 5, 1, 0, 1) == 24
    assert K.conv2d_output_size(32, 3, 2, 2, 1) == 16
    assert K.conv2d_output_size(10, 3, 3, 0, 2) == 2  # (10 - 5) // 3 + 1
    assert K.conv2d_output_size(8, 2, 1, 1, 1) == 8  # 'same' for an even kernel: pad 0 + 1
    assert K.conv_transpose2d_output_size(16, 4, 2, 1, 0, 1) == 32
    assert K.conv_transpose2d_output_size(5, 3, 2, 1, 1, 1) == 10
    assert K.conv_transpose2d_output_size(4, 3, 1, 0, 0, 2) == 8


def test_pad2d_and_dilate2d():
    x = np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3)
    p = K.pad2d(x, ((0, 1), (2, 0)))
    assert p.shape == (1, 1, 3, 5) and p.dtype == np.float32
    np.testing.assert_array_equal(p[0, 0], [[0, 0, 0, 1, 2], [0, 0, 3, 4, 5], [0, 0, 0, 0, 0]])
    dl = K.dilate2d(x, (2, 3))
    assert dl.shape == (1, 1, 3, 7)
    np.testing.assert_array_equal(dl[0, 0], [[0, 0, 0, 1, 0, 0, 2], [0] * 7, [3, 0, 0, 4, 0, 0, 5]])


@pytest.mark.parametrize("k,s,p,d", [((3, 3), (1, 1), P1, (1, 1)), ((2, 3), (2, 1), P_ASYM, (1, 2))])
def test_im2col_col2im(k, s, p, d):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 7, 8))
    cols = K.im2col(x, k, s, p, d)
    oh = K.conv2d_output_size(7, k[0], s[0], sum(p[0]), d[0])
    ow = K.conv2d_output_size(8, k[1], s[1], sum(p[1]), d[1])
    assert cols.shape == (2, 3 * k[0] * k[1], oh * ow)
    # a column is one window, rows ordered (c, i, j)
    xp = K.pad2d(x, p)
    o_h, o_w = oh - 1, ow - 1
    window = xp[
        1,
        :,
        o_h * s[0] : o_h * s[0] + (k[0] - 1) * d[0] + 1 : d[0],
        o_w * s[1] : o_w * s[1] + (k[1] - 1) * d[1] + 1 : d[1],
    ]
    np.testing.assert_array_equal(cols[1, :, -1], window.reshape(-1))
    # col2im is im2col's adjoint
    c = rng.standard_normal(cols.shape)
    back = K.col2im(c, x.shape, k, s, p, d)
    assert back.shape == x.shape
    assert np.vdot(cols, c) == pytest.approx(np.vdot(x, back), rel=1e-12)
    # and it is what the conv input gradient scatters: dx = col2im(w^T dy)
    w = rng.standard_normal((4, 3) + k)
    dy = rng.standard_normal((2, 4, oh, ow))
    dcols = np.einsum("fk,nfp->nkp", w.reshape(4, -1), dy.reshape(2, 4, -1))
    np.testing.assert_allclose(
        K.col2im(dcols, x.shape, k, s, p, d), K.conv_transpose2d(dy, w, s, p, d, 1, (7, 8)), atol=1e-12
    )


@pytest.mark.parametrize("cfg", [CONFIGS[1], CONFIGS[10], CONFIGS[14]], ids=_ids)
def test_memory_budget_chunks_the_batch(cfg, monkeypatch):
    n, c, h, w, f, g, k, s, p, d = cfg
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, c, h, w))  # 5 samples: chunks of 1 and a ragged last chunk of 2
    wt = rng.standard_normal((f, c // g) + k)
    dy = rng.standard_normal((5, f) + K.conv2d(x, wt, s, p, d, g).shape[2:])

    def run():
        return (
            K.conv2d(x, wt, s, p, d, g),
            K.conv_transpose2d(dy, wt, s, p, d, g, (h, w)),
            K.conv2d_weight_grad(x, dy, k, s, p, d, g),
        )

    old = K.get_memory_budget()
    monkeypatch.setattr(K, "_CACHE_TARGET", 2**40)  # no cache blocking: whole batch at once
    whole = run()
    per_sample_cols = c * k[0] * k[1] * dy.shape[2] * (dy.shape[3] + (k[1] - 1) * d[1] // s[1]) * 8
    for budget in (1, per_sample_cols, 3 * per_sample_cols):  # 1, 1 and 3 samples per chunk
        K.set_memory_budget(budget)
        try:
            chunked = run()
        finally:
            K.set_memory_budget(old)
        for a, b in zip(whole, chunked):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert K.get_memory_budget() == old
    with pytest.raises(ValueError):
        K.set_memory_budget(0)


@pytest.mark.parametrize("variant", [v for v in K.VARIANTS if v != "winograd"])
def test_memory_budget_bounds_peak_memory(monkeypatch, variant):
    """Every im2col variant honours the budget. (Forced: the measured choice's first call of a shape
    also keeps two variants' results alive while it times them.)"""
    import tracemalloc

    monkeypatch.setattr(K, "ALGORITHM", variant)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((16, 8, 16, 16)).astype(np.float32)
    w = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    cols_bytes = 16 * 8 * 9 * 16 * 16 * 4  # the whole-batch column matrix: 1.2 MB
    old = K.get_memory_budget()
    K.set_memory_budget(cols_bytes // 8)
    try:
        tracemalloc.start()
        y = K.conv2d(x, w, (1, 1), P1, (1, 1), 1)
        dw = K.conv2d_weight_grad(x, y, (3, 3), (1, 1), P1, (1, 1), 1)
        dx = K.conv_transpose2d(y, w, (1, 1), P1, (1, 1), 1, (16, 16))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    finally:
        K.set_memory_budget(old)
    assert dx.shape == x.shape and dw.shape == w.shape
    assert peak < cols_bytes / 2


def test_dtype_is_kept_and_outputs_are_plain_arrays():
    rng = np.random.default_rng(9)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((2, 3, 6, 6)).astype(dtype)
        w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
        y = K.conv2d(x, w, (1, 1), P1, (1, 1), 1)
        assert y.dtype == dtype and y.shape == (2, 4, 6, 6)
        dw = K.conv2d_weight_grad(x, y, (3, 3), (1, 1), P1, (1, 1), 1)
        assert dw.dtype == dtype and dw.shape == w.shape
        for stride, size in (((1, 1), 6), ((2, 2), 12)):
            dx = K.conv_transpose2d(y, w, stride, P1, (1, 1), 1, (size, size))
            assert dx.dtype == dtype and dx.shape == (2, 3, size, size)
            # no strided views handed out: later elementwise ops would pay for them per row
            assert y.flags.c_contiguous and dx.flags.c_contiguous and dw.flags.c_contiguous


def test_non_contiguous_inputs():
    rng = np.random.default_rng(10)
    big = rng.standard_normal((4, 6, 9, 10))
    x = big[::2, ::2, :, 1:]  # strided view (2, 3, 9, 9)
    w = rng.standard_normal((3, 4, 3, 3)).transpose(1, 0, 2, 3)  # (4, 3, 3, 3), not contiguous
    dy = rng.standard_normal((2, 9, 9, 4)).transpose(0, 3, 1, 2)  # (2, 4, 9, 9), channels-last memory
    xc, wc, dyc = (np.ascontiguousarray(a) for a in (x, w, dy))
    args = ((1, 1), P1, (1, 1), 1)
    np.testing.assert_array_equal(K.conv2d(x, w, *args), K.conv2d(xc, wc, *args))
    np.testing.assert_array_equal(K.conv_transpose2d(dy, w, *args, (9, 9)), K.conv_transpose2d(dyc, wc, *args, (9, 9)))
    np.testing.assert_array_equal(
        K.conv2d_weight_grad(x, dy, (3, 3), *args), K.conv2d_weight_grad(xc, dyc, (3, 3), *args)
    )


def test_exhaustive_small_geometry_against_textbook():
    """Every combination of small strides, dilations and paddings on one tiny problem."""
    rng = np.random.default_rng(11)
    for s, d, (pt, pb), k in itertools.product(
        [(1, 2), (2, 1), (3, 3)], [(1, 1), (2, 1)], [(0, 0), (1, 0), (0, 2)], [(2, 3), (3, 1)]
    ):
        p = ((pt, pb), (pb, pt))
        h, w = 7, 8
        if (
            K.conv2d_output_size(h, k[0], s[0], pt + pb, d[0]) < 1
            or K.conv2d_output_size(w, k[1], s[1], pt + pb, d[1]) < 1
        ):
            continue
        x = rng.standard_normal((2, 2, h, w))
        wt = rng.standard_normal((3, 2) + k)
        y = K.conv2d(x, wt, s, p, d, 1)
        dy = rng.standard_normal(y.shape)
        np.testing.assert_allclose(
            K.conv_transpose2d(dy, wt, s, p, d, 1, (h, w)), _textbook_input_grad(dy, wt, (h, w), s, p, d, 1), atol=1e-11
        )
        np.testing.assert_allclose(
            K.conv2d_weight_grad(x, dy, k, s, p, d, 1), _naive_weight_grad(x, dy, k, s, p, d, 1), atol=1e-11
        )

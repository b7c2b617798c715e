"""conv2d, conv_transpose2d and the conv weight gradient: parity with PyTorch, an independent
textbook backward, finite differences, the memory budget, and errors that teach."""

from __future__ import annotations

import tracemalloc
from itertools import product

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

import tinygrad_conv as tc
import tinygrad_conv.functional as F
from tinygrad_conv.kernels import conv as K

TOL = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: dict(rtol=1e-9, atol=1e-9)}


def run_both(torch, fn_ours, fn_torch, arrays, kwargs, dtype, seed=0):
    """Forward and every gradient (random upstream) of ours and PyTorch's; returns both lists."""
    rng = np.random.default_rng(seed)
    ours = [tc.Tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    y = fn_ours(*ours, **kwargs)
    ty = fn_torch(*theirs, **kwargs)
    g = rng.standard_normal(ty.shape).astype(dtype)
    y.backward(tc.Tensor(g))
    ty.backward(torch.tensor(g))
    ours_out = [y.detach().numpy()] + [t.grad.detach().numpy() for t in ours]
    return ours_out, [ty.detach().numpy()] + [t.grad.numpy() for t in theirs]


def assert_close(ours, theirs, dtype):
    for k, (a, b) in enumerate(zip(ours, theirs)):
        assert a.shape == b.shape, f"output {k}: {a.shape} vs {b.shape}"
        np.testing.assert_allclose(a, b, **TOL[dtype], err_msg=f"output {k} (0 = forward, then gradients)")


# ----------------------------------------------------------------------------- the parity grid
CONV_GRID = [
    # (N, C, H, W), (F, kh, kw), stride, padding, dilation, groups
    ((2, 3, 9, 8), (4, 3, 3), 1, 0, 1, 1),
    ((2, 3, 9, 8), (4, 3, 3), 2, 1, 1, 1),
    ((2, 3, 10, 11), (4, 3, 3), 3, 2, 1, 1),
    ((1, 2, 9, 10), (3, 3, 2), (2, 3), (1, 0), 1, 1),
    ((2, 3, 9, 9), (4, 3, 3), 1, (2, 1), (2, 3), 1),
    ((1, 4, 11, 9), (6, 3, 3), 2, 1, 3, 2),
    ((2, 4, 7, 7), (4, 3, 3), 1, 1, 1, 4),  # depthwise
    ((2, 6, 7, 7), (12, 3, 3), 2, 1, 1, 6),  # depthwise, channel multiplier 2
    ((3, 5, 6, 6), (7, 1, 1), 1, 0, 1, 1),  # 1x1
    ((2, 3, 8, 7), (4, 1, 4), (1, 2), 0, 1, 1),  # non-square
    ((1, 2, 8, 8), (3, 4, 4), 1, "same", 1, 1),  # even kernel: extra pad bottom/right
    ((2, 2, 9, 8), (3, 3, 2), 1, "same", (2, 1), 1),
    ((2, 2, 9, 8), (3, 3, 3), 1, "valid", 2, 1),
    ((1, 2, 12, 13), (2, 5, 5), 3, 0, 1, 2),  # remainder rows/cols the stride skips
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CONV_GRID, ids=lambda c: f"{c}")
def test_conv2d_matches_pytorch(case, dtype, torch):
    (n, c, h, w), (f, kh, kw), stride, padding, dilation, groups = case
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((n, c, h, w)), rng.standard_normal((f, c // groups, kh, kw)),
              rng.standard_normal(f)]
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    ours, theirs = run_both(torch, F.conv2d, torch.nn.functional.conv2d, arrays, kwargs, dtype)
    assert_close(ours, theirs, dtype)


def test_conv2d_unbatched_and_without_bias(torch):
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal((3, 7, 6)), rng.standard_normal((2, 3, 3, 3))]
    ours, theirs = run_both(torch, F.conv2d, torch.nn.functional.conv2d, arrays, dict(stride=2, padding=1), np.float64)
    assert ours[0].shape == (2, 4, 3)
    assert_close(ours, theirs, np.float64)


CONVT_GRID = [
    # (N, Cin, H, W), (Cout/g, kh, kw), stride, padding, output_padding, dilation, groups
    ((2, 4, 5, 5), (3, 3, 3), 1, 0, 0, 1, 1),
    ((2, 4, 5, 4), (3, 3, 3), 2, 1, 1, 1, 1),
    ((1, 4, 4, 5), (2, 4, 4), 2, 1, 0, 1, 2),
    ((2, 3, 4, 4), (2, 3, 2), (3, 2), (1, 0), (2, 1), 1, 1),
    ((1, 2, 4, 4), (2, 3, 3), 2, 0, 1, 2, 1),
    ((1, 2, 4, 4), (2, 3, 3), 1, 1, 1, 2, 1),  # output_padding 1 with stride 1: allowed by dilation 2
    ((2, 4, 3, 3), (1, 3, 3), 2, 1, 1, 1, 4),  # depthwise
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CONVT_GRID, ids=lambda c: f"{c}")
def test_conv_transpose2d_matches_pytorch(case, dtype, torch):
    (n, cin, h, w), (fg, kh, kw), stride, padding, opad, dilation, groups = case
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal((n, cin, h, w)), rng.standard_normal((cin, fg, kh, kw)),
              rng.standard_normal(fg * groups)]
    kwargs = dict(stride=stride, padding=padding, output_padding=opad, dilation=dilation, groups=groups)
    ours, theirs = run_both(torch, F.conv_transpose2d, torch.nn.functional.conv_transpose2d, arrays, kwargs, dtype)
    assert_close(ours, theirs, dtype)


def test_conv_transpose2d_unbatched(torch):
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 2, 2))]
    ours, theirs = run_both(torch, F.conv_transpose2d, torch.nn.functional.conv_transpose2d, arrays, dict(stride=2),
                            np.float64)
    assert_close(ours, theirs, np.float64)


# ----------------------------------------------------------------------------- second order
def test_double_backward_matches_pytorch(torch):
    """grad of (grad of a conv-relu net w.r.t. x) w.r.t. w and x: Hessian-vector products."""
    rng = np.random.default_rng(5)
    x0, w0 = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3))
    v = rng.standard_normal((2, 4, 4, 3))

    x, w = tc.Tensor(x0, requires_grad=True), tc.Tensor(w0, requires_grad=True)
    y = F.conv2d(x, w, stride=2, padding=1)
    (gx,) = tc.grad((y * tc.Tensor(v)).sum() + (y * y).sum(), x, create_graph=True)
    gw2, gx2 = tc.grad((gx * gx).sum(), [w, x])

    tx, tw = torch.tensor(x0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tw, stride=2, padding=1)
    (tgx,) = torch.autograd.grad((ty * torch.tensor(v)).sum() + (ty * ty).sum(), tx, create_graph=True)
    tgw2, tgx2 = torch.autograd.grad((tgx * tgx).sum(), [tw, tx])
    np.testing.assert_allclose(gw2.detach().numpy(), tgw2.numpy(), rtol=1e-9)
    np.testing.assert_allclose(gx2.detach().numpy(), tgx2.numpy(), rtol=1e-9)


@pytest.mark.parametrize("fn,args,kwargs", [
    (F.conv2d, [(1, 2, 5, 6), (3, 2, 2, 3), (3,)], dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2))),
    (F.conv_transpose2d, [(1, 4, 3, 3), (4, 1, 3, 2), (2,)], dict(stride=2, output_padding=1, groups=2)),
])
def test_gradcheck_and_gradgradcheck(fn, args, kwargs):
    rng = np.random.default_rng(6)
    inputs = [tc.Tensor(rng.standard_normal(s), requires_grad=True) for s in args]
    assert tc.gradcheck(lambda *t: fn(*t, **kwargs), inputs)
    assert tc.gradgradcheck(lambda *t: fn(*t, **kwargs), inputs)


def test_weight_grad_op_gradcheck():
    rng = np.random.default_rng(7)
    x = tc.Tensor(rng.standard_normal((2, 2, 5, 5)), requires_grad=True)
    dy = tc.Tensor(rng.standard_normal((2, 3, 3, 3)), requires_grad=True)
    fn = lambda a, b: F.conv2d_weight_grad(a, b, 3, stride=2, padding=1)  # noqa: E731
    assert tc.gradcheck(fn, [x, dy])
    assert tc.gradgradcheck(fn, [x, dy])


# ----------------------------------------------------------------------------- textbook backward
def correlate(x, w, dilation):
    """Plain valid cross-correlation (N, C, H, W) x (F, C, kh, kw) with a dilated kernel."""
    kh, kw = w.shape[2:]
    dh, dw = dilation
    win = sliding_window_view(x, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))[..., ::dh, ::dw]
    return np.einsum("nchwij,fcij->nfhw", win, w)


def dilate(a, stride):
    """Zero insertion: stride - 1 zeros between neighbours."""
    n, c, h, w = a.shape
    out = np.zeros((n, c, (h - 1) * stride[0] + 1, (w - 1) * stride[1] + 1), a.dtype)
    out[:, :, ::stride[0], ::stride[1]] = a
    return out


def pad_or_crop(a, before, after, axis):
    if before < 0:
        a = np.take(a, range(-before, a.shape[axis]), axis=axis)
        before = 0
    if after < 0:
        a = np.take(a, range(0, a.shape[axis] + after), axis=axis)
        after = 0
    width = [(0, 0)] * a.ndim
    width[axis] = (before, after)
    return np.pad(a, width)


def textbook_dx(dy, w, x_shape, stride, padding, dilation, groups):
    """dx: dilate dy by the stride, pad it by d*(k-1) - p before (and whatever gives x's size after:
    the rows a stride skipped at the end get zero gradient), correlate with w rotated 180 degrees
    (in and out channels swapped per group)."""
    f, cg, kh, kw = w.shape
    fg = f // groups
    parts = []
    for gi in range(groups):
        d = dilate(dy[:, gi * fg:(gi + 1) * fg], stride)
        wg = np.rot90(w[gi * fg:(gi + 1) * fg], 2, axes=(2, 3)).transpose(1, 0, 2, 3)  # (C/g, F/g, kh, kw)
        for axis, k in ((2, kh), (3, kw)):
            a = axis - 2
            before = dilation[a] * (k - 1) - padding[a]
            after = x_shape[axis] + padding[a] - d.shape[axis]
            d = pad_or_crop(d, before, after, axis)
        parts.append(correlate(d, wg, dilation))
    return np.concatenate(parts, axis=1)


def naive_dw(x, dy, kernel, stride, padding, dilation, groups):
    """dw[f, c, i, j] = sum over n, oh, ow of dy[n, f, oh, ow] * xpad[n, c, oh*s + i*d, ow*s + j*d]."""
    f = dy.shape[1]
    cg = x.shape[1] // groups
    fg = f // groups
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    oh, ow = dy.shape[2:]
    dw = np.zeros((f, cg, *kernel))
    for i, j in product(range(kernel[0]), range(kernel[1])):
        r0, c0 = i * dilation[0], j * dilation[1]
        patch = xp[:, :, r0:r0 + (oh - 1) * stride[0] + 1:stride[0], c0:c0 + (ow - 1) * stride[1] + 1:stride[1]]
        for gi in range(groups):
            dw[gi * fg:(gi + 1) * fg, :, i, j] = np.einsum(
                "nfhw,nchw->fc", dy[:, gi * fg:(gi + 1) * fg], patch[:, gi * cg:(gi + 1) * cg])
    return dw


@pytest.mark.parametrize("case", [
    ((2, 3, 9, 8), (4, 3, 3), (1, 1), (0, 0), (1, 1), 1),
    ((2, 3, 10, 9), (4, 3, 2), (2, 3), (1, 2), (1, 1), 1),
    ((1, 4, 11, 11), (6, 3, 3), (2, 2), (2, 1), (2, 1), 2),
    ((2, 4, 8, 8), (4, 3, 3), (3, 2), (1, 1), (1, 2), 4),
])
def test_backward_matches_the_textbook_construction(case):
    (n, c, h, w), (f, kh, kw), stride, padding, dilation, groups = case
    rng = np.random.default_rng(8)
    x = tc.Tensor(rng.standard_normal((n, c, h, w)), requires_grad=True)
    wt = tc.Tensor(rng.standard_normal((f, c // groups, kh, kw)), requires_grad=True)
    y = F.conv2d(x, wt, stride=stride, padding=padding, dilation=dilation, groups=groups)
    dy = rng.standard_normal(y.shape)
    y.backward(tc.Tensor(dy))
    np.testing.assert_allclose(x.grad.detach().numpy(), textbook_dx(dy, wt.detach().numpy(), x.shape, stride,
                                                                    padding, dilation, groups),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(wt.grad.detach().numpy(), naive_dw(x.detach().numpy(), dy, (kh, kw), stride, padding,
                                                                  dilation, groups),
                               rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------- property tests
conv_configs = st.fixed_dictionaries({
    "n": st.integers(1, 2), "cg": st.integers(1, 3), "fg": st.integers(1, 3), "groups": st.integers(1, 3),
    "h": st.integers(1, 9), "w": st.integers(1, 9), "kh": st.integers(1, 4), "kw": st.integers(1, 4),
    "sh": st.integers(1, 3), "sw": st.integers(1, 3), "ph": st.integers(0, 2), "pw": st.integers(0, 2),
    "dh": st.integers(1, 3), "dw": st.integers(1, 3),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=conv_configs)
def test_random_valid_configurations_match_pytorch(cfg, torch):
    c, f, g = cfg["cg"] * cfg["groups"], cfg["fg"] * cfg["groups"], cfg["groups"]
    for axis in "hw":  # make the configuration valid: the dilated kernel fits the padded input
        k, d, p = cfg["k" + axis], cfg["d" + axis], cfg["p" + axis]
        cfg[axis] = max(cfg[axis], d * (k - 1) + 1 - 2 * p, 1)
    rng = np.random.default_rng(9)
    arrays = [rng.standard_normal((cfg["n"], c, cfg["h"], cfg["w"])), rng.standard_normal((f, cfg["cg"], cfg["kh"],
              cfg["kw"])), rng.standard_normal(f)]
    kwargs = dict(stride=(cfg["sh"], cfg["sw"]), padding=(cfg["ph"], cfg["pw"]), dilation=(cfg["dh"], cfg["dw"]),
                  groups=g)
    ours, theirs = run_both(torch, F.conv2d, torch.nn.functional.conv2d, arrays, kwargs, np.float64)
    assert_close(ours, theirs, np.float64)


bad_configs = st.fixed_dictionaries({
    "c": st.integers(1, 4), "wc": st.integers(1, 4), "f": st.integers(1, 4), "groups": st.integers(0, 3),
    "h": st.integers(1, 6), "k": st.integers(1, 5), "stride": st.integers(-1, 2), "padding": st.integers(-1, 3),
    "dilation": st.integers(-1, 2), "pad_str": st.sampled_from([None, "same", "valid", "full"]),
    "bias": st.integers(0, 5), "ndim": st.sampled_from([2, 3, 4, 4, 4]),
})


@settings(max_examples=120, deadline=None)
@given(cfg=bad_configs)
def test_invalid_configurations_raise_our_error_wherever_pytorch_raises(cfg, torch):
    rng = np.random.default_rng(10)
    shape = [(cfg["c"], cfg["h"]), (cfg["c"], cfg["h"], cfg["h"]), (2, cfg["c"], cfg["h"], cfg["h"])][cfg["ndim"] - 2]
    x = rng.standard_normal(shape)
    w = rng.standard_normal((cfg["f"], cfg["wc"], cfg["k"], cfg["k"]))
    b = rng.standard_normal(cfg["bias"]) if cfg["bias"] else None
    padding = cfg["pad_str"] or cfg["padding"]
    kwargs = dict(stride=cfg["stride"], padding=padding, dilation=cfg["dilation"], groups=cfg["groups"])
    try:
        expected = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), None if b is None else torch.tensor(b),
                                              **kwargs)
    except Exception:
        expected = None
    if expected is None:
        with pytest.raises((ValueError, TypeError), match="conv2d"):
            F.conv2d(tc.Tensor(x), tc.Tensor(w), None if b is None else tc.Tensor(b), **kwargs)
    else:
        out = F.conv2d(tc.Tensor(x), tc.Tensor(w), None if b is None else tc.Tensor(b), **kwargs)
        np.testing.assert_allclose(out.detach().numpy(), expected.numpy(), rtol=1e-9, atol=1e-9)


# ----------------------------------------------------------------------------- errors that teach
def T(*shape):
    return tc.Tensor(np.zeros(shape, dtype=np.float32))


@pytest.mark.parametrize("call,pattern", [
    (lambda: F.conv2d(T(1, 3, 8, 8), T(4, 2, 3, 3)),
     r"channel mismatch: the input has 3 channels.*in_channels/groups = 2.*groups=1"),
    (lambda: F.conv2d(T(1, 4, 8, 8), T(3, 2, 3, 3), groups=2),
     r"groups=2 must divide both the input channels \(4\) and the output channels \(3\)"),
    (lambda: F.conv2d(T(1, 1, 4, 4), T(1, 1, 3, 3), dilation=2),
     r"floor\(\(4 \+ 0 \+ 0 - 2\*\(3-1\) - 1\) / 1\) \+ 1 = 0"),
    (lambda: F.conv2d(T(1, 1, 4, 4), T(1, 1, 3, 3), stride=0), r"stride must be positive"),
    (lambda: F.conv2d(T(1, 1, 4, 4), T(1, 1, 3, 3), dilation=(1, -1)), r"dilation must be positive"),
    (lambda: F.conv2d(T(1, 1, 4, 4), T(1, 1, 3, 3), padding=-1), r"padding must be non-negative"),
    (lambda: F.conv2d(T(1, 1, 4, 4), T(1, 1, 3, 3), padding=(1, 1, 1)), r"pair of ints.*3 element"),
    (lambda: F.conv2d(T(1, 1, 4, 4), T(1, 1, 3, 3), padding="full"), r"'valid' or 'same'"),
    (lambda: F.conv2d(T(1, 1, 4, 4), T(1, 1, 3, 3), padding="same", stride=2), r"'same' is not supported for strided"),
    (lambda: F.conv2d(T(1, 1, 4, 4), T(2, 1, 3, 3), T(3)), r"bias must have shape \(2,\).*got \(3,\)"),
    (lambda: F.conv2d(T(4, 4), T(2, 1, 3, 3)), r"3-d \(C, H, W\) or 4-d \(N, C, H, W\) input, got shape \(4, 4\)"),
    (lambda: F.conv_transpose2d(T(1, 2, 3, 3), T(2, 1, 3, 3), stride=2, output_padding=2),
     r"output_padding along the height must be smaller than either stride \(2\) or dilation \(1\), got 2\. "
     r"Valid values and the output height they give: 0 -> 7, 1 -> 8"),
    (lambda: F.conv_transpose2d(T(1, 2, 3, 3), T(3, 1, 3, 3)), r"channel mismatch: the input has 2 channels"),
])
def test_errors_name_the_op_the_argument_and_the_rule(call, pattern):
    with pytest.raises((ValueError, TypeError), match=pattern):
        call()


def test_a_failed_call_leaves_tensors_unchanged():
    x = tc.Tensor(np.ones((1, 1, 4, 4)), requires_grad=True)
    w = tc.Tensor(np.ones((1, 1, 5, 5)), requires_grad=True)
    with pytest.raises(ValueError):
        F.conv2d(x, w)
    assert x.grad is None and w.grad is None and x.is_leaf and x._version == 0


# ----------------------------------------------------------------------------- memory budget
def test_memory_budget_splits_the_batch_and_gives_the_same_result():
    rng = np.random.default_rng(11)
    x = tc.Tensor(rng.standard_normal((6, 3, 10, 10)), requires_grad=True)
    w = tc.Tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    dy = tc.Tensor(rng.standard_normal((6, 4, 5, 5)))
    y = F.conv2d(x, w, stride=2, padding=1)
    y.backward(dy)
    ref = (y.detach().numpy().copy(), x.grad.detach().numpy().copy(), w.grad.detach().numpy().copy())
    old = K.get_memory_budget()
    K.set_memory_budget(3 * 27 * 25 * 8)  # one sample's column matrix (float64)
    try:
        x.grad = w.grad = None
        y = F.conv2d(x, w, stride=2, padding=1)
        y.backward(dy)
    finally:
        K.set_memory_budget(old)
    for a, b in zip(ref, (y.detach().numpy(), x.grad.detach().numpy(), w.grad.detach().numpy())):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_a_two_gigabyte_column_matrix_runs_in_bounded_memory():
    # 20 x 1 x 1000 x 1000 float32 with a 5x5 kernel: the full column matrix would be
    # 25 * 20 * 996 * 996 * 4 bytes = 1.98 GB; the input itself is 80 MB.
    x = tc.Tensor(np.ones((20, 1, 1000, 1000), dtype=np.float32))
    w = tc.Tensor(np.full((1, 1, 5, 5), 0.04, dtype=np.float32))
    tracemalloc.start()
    try:
        y = F.conv2d(x, w)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert y.shape == (20, 1, 996, 996)
    np.testing.assert_allclose(y.detach().numpy()[:, :, ::97, ::89], 1.0, rtol=1e-5)
    assert peak < 700 * 2**20, f"peak {peak / 2**20:.0f} MiB"

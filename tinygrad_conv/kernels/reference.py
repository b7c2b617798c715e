"""The textbook kernels: each classic formulation of a convolution, pooling or relu kernel, written
to be read, in plain NumPy.

The fast kernels beside this module (conv.py, winograd.py, pool.py, elementwise.py) compute the
same numbers with layouts, bit tricks and threads that make them fast and hard to read. These are
the formulations the textbooks teach, one short function each, and the tests prove the fast ones
equal them (tests/kernels/test_reference_kernels.py); docs/convolution.md walks through them.

The public functions take the same arguments, in the same order, as the fast kernels of the same
name, so a model could be run on either: ``stride`` and ``dilation`` are ``(h, w)`` pairs; a conv's
``padding`` is ``((top, bottom), (left, right))``, a pool's is ``(h, w)`` (the same on both sides).
Arrays are NCHW, and every function keeps its input's dtype.

>>> x = np.arange(16.0).reshape(1, 1, 4, 4)
>>> conv2d(x, np.ones((1, 1, 2, 2)), (2, 2), ((0, 0), (0, 0)), (1, 1), 1)[0, 0].tolist()
[[10.0, 18.0], [42.0, 50.0]]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .pool import pool2d_output_size

Pair = tuple[int, int]
PadPairs = tuple[tuple[int, int], tuple[int, int]]
NO_PADDING: PadPairs = ((0, 0), (0, 0))
ONE: Pair = (1, 1)


# ----------------------------------------------------------------------------------------------
# Building blocks: padding, zero insertion, the 180-degree kernel flip, im2col and col2im
# ----------------------------------------------------------------------------------------------


def pad2d(x: np.ndarray, padding: PadPairs, fill: float = 0) -> np.ndarray:
    """Pad the last two axes by ``((top, bottom), (left, right))`` with ``fill``; a negative amount
    crops that many rows or columns instead.

    >>> pad2d(np.ones((1, 1, 1, 2)), ((1, 0), (0, -1)))[0, 0].tolist()
    [[0.0], [1.0]]
    """
    (top, bottom), (left, right) = padding
    grown = ((0, 0),) * (x.ndim - 2) + ((max(top, 0), max(bottom, 0)), (max(left, 0), max(right, 0)))
    x = np.pad(x, grown, constant_values=fill)
    h, w = x.shape[-2:]
    return x[..., max(-top, 0) : h - max(-bottom, 0), max(-left, 0) : w - max(-right, 0)]


def dilate2d(x: np.ndarray, stride: Pair) -> np.ndarray:
    """Zero insertion: ``s - 1`` zeros between neighbours along each of the last two axes.

    >>> dilate2d(np.ones((1, 1, 1, 3)), (1, 2))[0, 0].tolist()
    [[1.0, 0.0, 1.0, 0.0, 1.0]]
    """
    h, w = x.shape[-2:]
    out = np.zeros(x.shape[:-2] + ((h - 1) * stride[0] + 1, (w - 1) * stride[1] + 1), dtype=x.dtype)
    out[..., :: stride[0], :: stride[1]] = x
    return out


def flip(w: np.ndarray) -> np.ndarray:
    """The kernel of the transposed direction: each (kh, kw) kernel rotated by 180 degrees (rot90
    twice) and the two channel axes swapped, so (F, C, kh, kw) becomes (C, F, kh, kw).

    >>> flip(np.arange(4.0).reshape(1, 1, 2, 2))[0, 0].tolist()
    [[3.0, 2.0], [1.0, 0.0]]
    """
    return np.rot90(w, 2, axes=(2, 3)).transpose(1, 0, 2, 3)


def _taps(offset: int, count: int, step: int) -> slice:
    """The ``count`` rows (or columns) ``offset, offset + step, ...``: what one kernel tap reads
    for every output position along an axis."""
    return slice(offset, offset + step * (count - 1) + 1, step)


def _windows(size: int, kernel: int, stride: int, dilation: int) -> int:
    """How many windows of a dilated kernel fit in ``size`` (padding included), one every ``stride``."""
    return (size - dilation * (kernel - 1) - 1) // stride + 1


def _out_hw(x_hw: tuple[int, ...], kernel_size: Pair, stride: Pair, padding: PadPairs, dilation: Pair) -> Pair:
    """A convolution's output height and width."""
    return (_windows(x_hw[0] + sum(padding[0]), kernel_size[0], stride[0], dilation[0]),
            _windows(x_hw[1] + sum(padding[1]), kernel_size[1], stride[1], dilation[1]))


def _planes(a: np.ndarray) -> np.ndarray:
    """(N, C, H, W) as (N, C, H*W), each image plane flattened (spelled out: -1 fails when N is 0)."""
    return a.reshape(a.shape[0], a.shape[1], a.shape[2] * a.shape[3])


def im2col(x: np.ndarray, kernel_size: Pair, stride: Pair, padding: PadPairs, dilation: Pair,
           fill: float = 0) -> np.ndarray:
    """The column matrix of ``x`` (N, C, H, W): (N, C*kh*kw, OH*OW), one column per window,
    rows ordered (c, i, j). One strided slice per kernel tap (i, j). ``fill`` is the padding value.

    >>> im2col(np.arange(6.0).reshape(1, 1, 2, 3), (2, 2), (1, 1), ((0, 0), (0, 0)), (1, 1))[0].tolist()
    [[0.0, 1.0], [1.0, 2.0], [3.0, 4.0], [4.0, 5.0]]
    """
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    xp = pad2d(x, padding, fill)
    n, c = x.shape[:2]
    oh, ow = _out_hw(x.shape[2:], kernel_size, stride, padding, dilation)
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xp[:, :, _taps(i * dh, oh, sh), _taps(j * dw, ow, sw)]
    return cols.reshape(n, c * kh * kw, oh * ow)


def col2im(cols: np.ndarray, x_shape: tuple[int, int, int, int], kernel_size: Pair, stride: Pair,
           padding: PadPairs, dilation: Pair) -> np.ndarray:
    """The adjoint of :func:`im2col`: add each column back onto the window it came from, one
    strided slice-add per kernel tap (windows overlap, so the adds accumulate), then drop the padding.

    >>> col2im(np.ones((1, 4, 2)), (1, 1, 2, 3), (2, 2), (1, 1), ((0, 0), (0, 0)), (1, 1))[0, 0].tolist()
    [[1.0, 2.0, 1.0], [1.0, 2.0, 1.0]]
    """
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    (top, bottom), (left, right) = padding
    xp = np.zeros((n, c, top + h + bottom, left + w + right), dtype=cols.dtype)
    oh, ow = _out_hw((h, w), kernel_size, stride, padding, dilation)
    cols = cols.reshape(n, c, kh, kw, oh, ow)
    for i in range(kh):
        for j in range(kw):
            xp[:, :, _taps(i * dh, oh, sh), _taps(j * dw, ow, sw)] += cols[:, :, i, j]
    return xp[:, :, top : top + h, left : left + w]


def _by_groups(fn: Callable[..., np.ndarray], a: np.ndarray, w: np.ndarray, groups: int,
               *args: Any) -> np.ndarray:
    """A grouped convolution is ``groups`` ordinary ones side by side: ``a``'s channels and ``w``'s
    first axis split into equal parts, group k's part of one meets group k's part of the other."""
    parts = zip(np.split(a, groups, axis=1), np.split(w, groups, axis=0))
    return np.concatenate([fn(a_k, w_k, *args) for a_k, w_k in parts], axis=1)


# ----------------------------------------------------------------------------------------------
# Convolution: im2col + one GEMM, and its gradients
# ----------------------------------------------------------------------------------------------


def conv2d(x: np.ndarray, w: np.ndarray, stride: Pair, padding: PadPairs, dilation: Pair,
           groups: int, bias: np.ndarray | None = None) -> np.ndarray:
    """Cross-correlate ``x`` (N, C, H, W) with ``w`` (F, C//groups, kh, kw): im2col, then one GEMM
    of the (F, C*kh*kw) weight matrix with every sample's columns; plus ``bias`` (F,) if given.

    >>> conv2d(np.ones((1, 2, 3, 3)), np.ones((1, 2, 3, 3)), (1, 1), ((1, 1), (1, 1)), (1, 1), 1)[0, 0, 0].tolist()
    [8.0, 12.0, 8.0]
    """
    if bias is not None:
        return conv2d(x, w, stride, padding, dilation, groups) + bias.reshape(1, -1, 1, 1)
    if groups > 1:
        return _by_groups(conv2d, x, w, groups, stride, padding, dilation, 1)
    n, (f, c, kh, kw) = x.shape[0], w.shape
    cols = im2col(x, (kh, kw), stride, padding, dilation)  # (N, C*kh*kw, OH*OW)
    y = w.reshape(f, c * kh * kw) @ cols  # (N, F, OH*OW)
    return y.reshape((n, f) + _out_hw(x.shape[2:], (kh, kw), stride, padding, dilation))


def depthwise_conv2d(x: np.ndarray, w: np.ndarray, stride: Pair, padding: PadPairs,
                     dilation: Pair) -> np.ndarray:
    """A depthwise convolution is a grouped one with one group per input channel: every channel is
    filtered on its own by ``w.shape[0] // C`` kernels of ``w`` (C*m, 1, kh, kw).

    >>> depthwise_conv2d(np.ones((1, 2, 2, 2)), np.arange(1.0, 3.0).reshape(2, 1, 1, 1), (1, 1),
    ...                  ((0, 0), (0, 0)), (1, 1))[0, :, 0, 0].tolist()
    [1.0, 2.0]
    """
    return conv2d(x, w, stride, padding, dilation, groups=x.shape[1])


def conv2d_input_grad(dy: np.ndarray, w: np.ndarray, x_hw: Pair, stride: Pair, padding: PadPairs,
                      dilation: Pair, groups: int) -> np.ndarray:
    """Gradient of :func:`conv2d` w.r.t. an input of size ``x_hw``, by the chain rule through
    its two steps: the GEMM's gradient (the weight matrix transposed times ``dy``) gives every
    column's gradient, and col2im (the adjoint of im2col) adds them back into an image.

    >>> conv2d_input_grad(np.ones((1, 1, 1, 2)), np.ones((1, 1, 2, 2)), (2, 3), (1, 1),
    ...                   ((0, 0), (0, 0)), (1, 1), 1)[0, 0].tolist()
    [[1.0, 2.0, 1.0], [1.0, 2.0, 1.0]]
    """
    if groups > 1:
        return _by_groups(conv2d_input_grad, dy, w, groups, x_hw, stride, padding, dilation, 1)
    n, (f, c, kh, kw) = dy.shape[0], w.shape
    dcols = w.reshape(f, c * kh * kw).T @ _planes(dy)  # (N, C*kh*kw, OH*OW)
    return col2im(dcols, (n, c, x_hw[0], x_hw[1]), (kh, kw), stride, padding, dilation)


def conv2d_input_grad_by_correlation(dy: np.ndarray, w: np.ndarray, x_hw: Pair, stride: Pair,
                                     padding: PadPairs, dilation: Pair, groups: int) -> np.ndarray:
    """The same gradient as the textbook's full correlation: dilate ``dy`` by the stride (zero
    insertion), pad it by ``d*(k-1)`` all round, correlate it with the flipped kernel. That gives
    the gradient of the padded input up to the last row and column a window reached; the rest
    (rows a stride skipped at the end) got none, and the padding is dropped.

    >>> conv2d_input_grad_by_correlation(np.ones((1, 1, 1, 2)), np.ones((1, 1, 2, 2)), (2, 3), (1, 1),
    ...                                  ((0, 0), (0, 0)), (1, 1), 1)[0, 0].tolist()
    [[1.0, 2.0, 1.0], [1.0, 2.0, 1.0]]
    """
    if groups > 1:
        return _by_groups(conv2d_input_grad_by_correlation, dy, w, groups, x_hw, stride, padding, dilation, 1)
    kh, kw = w.shape[2:]
    full = ((dilation[0] * (kh - 1),) * 2, (dilation[1] * (kw - 1),) * 2)
    reached = conv2d(pad2d(dilate2d(dy, stride), full), flip(w), ONE, NO_PADDING, dilation, 1)
    (top, bottom), (left, right) = padding
    dxp = np.zeros(dy.shape[:1] + (w.shape[1], top + x_hw[0] + bottom, left + x_hw[1] + right), dtype=dy.dtype)
    dxp[:, :, : reached.shape[2], : reached.shape[3]] = reached
    return dxp[:, :, top : top + x_hw[0], left : left + x_hw[1]]


def conv2d_weight_grad(x: np.ndarray, dy: np.ndarray, kernel_size: Pair, stride: Pair, padding: PadPairs,
                       dilation: Pair, groups: int) -> np.ndarray:
    """Gradient of :func:`conv2d` w.r.t. its weight (F, C//groups, kh, kw): one GEMM of ``dy``
    as (F, N*OH*OW) with the columns of ``x`` as (N*OH*OW, C*kh*kw), summing over samples and pixels.
    A ``dy`` smaller than the output (a transposed conv's output_padding) uses the leading windows.

    >>> conv2d_weight_grad(np.ones((1, 1, 2, 3)), np.ones((1, 1, 1, 2)), (2, 2), (1, 1),
    ...                    ((0, 0), (0, 0)), (1, 1), 1)[0, 0].tolist()
    [[2.0, 2.0], [2.0, 2.0]]
    """
    if groups > 1:
        parts = zip(np.split(x, groups, axis=1), np.split(dy, groups, axis=1))
        return np.concatenate([conv2d_weight_grad(x_k, dy_k, kernel_size, stride, padding, dilation, 1)
                               for x_k, dy_k in parts], axis=0)
    (n, c), (f, oh, ow) = x.shape[:2], dy.shape[1:]
    k = c * kernel_size[0] * kernel_size[1]
    windows = _out_hw(x.shape[2:], kernel_size, stride, padding, dilation)
    cols = im2col(x, kernel_size, stride, padding, dilation).reshape((n, k) + windows)[:, :, :oh, :ow]
    dy_rows = dy.transpose(1, 0, 2, 3).reshape(f, n * oh * ow)  # (F, N*OH*OW)
    cols_t = cols.transpose(0, 2, 3, 1).reshape(n * oh * ow, k)  # (N*OH*OW, C*kh*kw)
    return (dy_rows @ cols_t).reshape((f, c) + tuple(kernel_size))


def conv2d_weight_and_bias_grad(x: np.ndarray, dy: np.ndarray, kernel_size: Pair, stride: Pair,
                                padding: PadPairs, dilation: Pair, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`conv2d_weight_grad` and the bias gradient: ``dy`` summed over every axis but the channels.

    >>> dw, db = conv2d_weight_and_bias_grad(np.ones((1, 1, 2, 3)), np.ones((1, 1, 1, 2)), (2, 2), (1, 1),
    ...                                      ((0, 0), (0, 0)), (1, 1), 1)
    >>> db.tolist()
    [2.0]
    """
    return (conv2d_weight_grad(x, dy, kernel_size, stride, padding, dilation, groups),
            dy.sum(axis=(0, 2, 3)))


def conv2d_input_and_weight_grads(x: np.ndarray, w: np.ndarray, dy: np.ndarray, stride: Pair, padding: PadPairs,
                                  dilation: Pair, groups: int,
                                  with_bias: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """conv2d's input, weight and (``with_bias``) bias gradients: (dx, dw, db or None), the three a
    backward that needs them all computes (the fast kernel shares dy's shifted rows between two).

    >>> dx, dw, db = conv2d_input_and_weight_grads(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)),
    ...                                            np.ones((1, 1, 2, 2)), (1, 1), ((0, 0), (0, 0)), (1, 1), 1, True)
    >>> dx[0, 0].tolist(), db.tolist()
    ([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]], [4.0])
    """
    kernel = (w.shape[2], w.shape[3])
    dx = conv2d_input_grad(dy, w, x.shape[2:], stride, padding, dilation, groups)
    dw = conv2d_weight_grad(x, dy, kernel, stride, padding, dilation, groups)
    return dx, dw, (dy.sum(axis=(0, 2, 3)) if with_bias else None)


def conv2d_and_weight_grad(a: np.ndarray, w: np.ndarray, b: np.ndarray, stride: Pair, padding: PadPairs,
                           dilation: Pair, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """``conv2d(a, w)`` and ``conv2d_weight_grad(a, b)`` with w's kernel size: the two products a
    transposed conv's backward needs (the fast kernel shares their column matrix).

    >>> y, dw = conv2d_and_weight_grad(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)),
    ...                                (1, 1), ((0, 0), (0, 0)), (1, 1), 1)
    >>> y.shape, dw.shape
    ((1, 1, 2, 2), (1, 1, 2, 2))
    """
    kernel = (w.shape[2], w.shape[3])
    return (conv2d(a, w, stride, padding, dilation, groups),
            conv2d_weight_grad(a, b, kernel, stride, padding, dilation, groups))


def conv_transpose2d(x: np.ndarray, w: np.ndarray, stride: Pair, padding: PadPairs, dilation: Pair,
                     groups: int, output_size: Pair) -> np.ndarray:
    """Transposed convolution of ``x`` (N, C_in, H, W) with ``w`` (C_in, C_out//groups, kh, kw) as
    a fractionally strided convolution: zero-insert ``s - 1`` zeros between the input's pixels, pad
    by ``d*(k-1) - padding`` (a negative amount crops), plus whatever rows and columns at the end
    make the output ``output_size`` (that is output_padding), and correlate with the flipped kernel.

    >>> conv_transpose2d(np.ones((1, 1, 1, 2)), np.ones((1, 1, 2, 2)), (1, 1), ((0, 0), (0, 0)),
    ...                  (1, 1), 1, (2, 3))[0, 0].tolist()
    [[1.0, 2.0, 1.0], [1.0, 2.0, 1.0]]
    """
    if groups > 1:
        return _by_groups(conv_transpose2d, x, w, groups, stride, padding, dilation, 1, output_size)
    zeros_in = dilate2d(x, stride)
    pads = []
    for a in range(2):
        reach = dilation[a] * (w.shape[2 + a] - 1)  # how far a (dilated) kernel reaches past its first tap
        before = reach - padding[a][0]
        after = output_size[a] + reach - zeros_in.shape[2 + a] - before  # a correlation's size rule
        pads.append((before, after))
    return conv2d(pad2d(zeros_in, (pads[0], pads[1])), flip(w), ONE, NO_PADDING, dilation, 1)


# ----------------------------------------------------------------------------------------------
# Pooling: windows from im2col, and loops
# ----------------------------------------------------------------------------------------------


def _pool_geometry(x_hw: Pair, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair,
                   ceil_mode: bool) -> tuple[Pair, PadPairs]:
    """The output size by PyTorch's rule, and the padding im2col needs for it: ``padding`` on both
    sides, or more at the bottom/right where a ceil-mode window hangs over the padded input."""
    out, pads = [], []
    for a in range(2):
        o = pool2d_output_size(x_hw[a], kernel[a], stride[a], padding[a], dilation[a], ceil_mode)
        span = (o - 1) * stride[a] + dilation[a] * (kernel[a] - 1) + 1  # rows the windows cover
        out.append(o)
        pads.append((padding[a], max(padding[a], span - x_hw[a] - padding[a])))
    return (out[0], out[1]), (pads[0], pads[1])


def max_pool2d(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair,
               ceil_mode: bool) -> tuple[np.ndarray, np.ndarray]:
    """Max pool as im2col + argmax; returns the maxima and their flat positions in each H*W plane.

    The padding is minus infinity, and an im2col of the positions says which input pixel each tap
    read (-1 for padding). The index is the first maximum in scan order among the taps inside the
    input, except that a NaN wins, the last one when there are several (as PyTorch's CPU kernel),
    and that a window wholly in the padding gets -1.

    >>> v, i = max_pool2d(np.array([[[[1.0, 3.0], [3.0, 2.0]]]]), (2, 2), (2, 2), (0, 0), (1, 1), False)
    >>> v.tolist(), i.tolist()
    ([[[[3.0]]]], [[[[1]]]])
    """
    (n, c, h, w), (kh, kw) = x.shape, kernel
    (oh, ow), pads = _pool_geometry((h, w), kernel, stride, padding, dilation, ceil_mode)
    cols = im2col(x, kernel, stride, pads, dilation, fill=-np.inf).reshape(n, c, kh * kw, oh * ow)
    where = im2col(np.arange(h * w).reshape(1, 1, h, w), kernel, stride, pads, dilation, fill=-1)
    values = cols.max(axis=2)  # NaN propagates
    first_max = ((cols == values[:, :, None]) & (where >= 0)).argmax(axis=2)  # 0 if none: where is -1
    nan = np.isnan(cols)
    last_nan = kh * kw - 1 - nan[:, :, ::-1].argmax(axis=2)
    tap = np.where(nan.any(axis=2), last_nan, first_max)
    idx = np.take_along_axis(np.broadcast_to(where, cols.shape), tap[:, :, None], axis=2)
    return values.reshape(n, c, oh, ow), idx.reshape(n, c, oh, ow)


def max_pool2d_loop(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair,
                    ceil_mode: bool) -> tuple[np.ndarray, np.ndarray]:
    """Max pool as plain loops over every window and tap; the definition :func:`max_pool2d` and
    the fast kernel are tested against. A tap replaces the maximum so far when it is the first tap
    inside the input, a NaN (so a NaN wins, and the last one), or larger (never than a NaN).

    >>> v, i = max_pool2d_loop(np.array([[[[1.0, np.nan], [np.nan, 9.0]]]]), (2, 2), (2, 2), (0, 0), (1, 1), False)
    >>> v.tolist(), i.tolist()
    ([[[[nan]]]], [[[[2]]]])
    """
    n, c, h, w = x.shape
    (oh, ow), _ = _pool_geometry((h, w), kernel, stride, padding, dilation, ceil_mode)
    values = np.full((n, c, oh, ow), -np.inf, dtype=x.dtype)
    indices = np.full((n, c, oh, ow), -1, dtype=np.int64)
    for b, ch, i, j in np.ndindex(n, c, oh, ow):
        for ki in range(kernel[0]):
            for kj in range(kernel[1]):
                r = i * stride[0] - padding[0] + ki * dilation[0]
                q = j * stride[1] - padding[1] + kj * dilation[1]
                if 0 <= r < h and 0 <= q < w:  # padding never wins
                    v = x[b, ch, r, q]
                    if indices[b, ch, i, j] == -1 or np.isnan(v) or v > values[b, ch, i, j]:
                        values[b, ch, i, j], indices[b, ch, i, j] = v, r * w + q
    return values, indices


def max_unpool2d(dy: np.ndarray, indices: np.ndarray, output_size: Pair) -> np.ndarray:
    """Max pool's backward: each gradient goes to the pixel its window took the maximum from (adds
    up where windows overlap); an index of -1 takes nothing.

    >>> max_unpool2d(np.array([[[[5.0, 7.0]]]]), np.array([[[[1, 1]]]]), (1, 3))[0, 0].tolist()
    [[0.0, 12.0, 0.0]]
    """
    n, c = dy.shape[:2]
    plane = output_size[0] * output_size[1]
    dx = np.zeros((n, c, plane + 1), dtype=dy.dtype)  # one spare slot, at the end, for index -1
    idx = _planes(np.where(indices < 0, plane, indices))
    np.add.at(dx, (np.arange(n)[:, None, None], np.arange(c)[None, :, None], idx), _planes(dy))
    return dx[:, :, :plane].reshape((n, c) + tuple(output_size))


def gather_plane(x: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """``x[n, c].flat[indices[n, c, ...]]``, 0 where the index is -1: max_unpool2d's backward.

    >>> gather_plane(np.arange(4.0).reshape(1, 1, 2, 2), np.array([[[[3, -1]]]])).tolist()
    [[[[3.0, 0.0]]]]
    """
    flat_idx = _planes(indices)
    y = np.take_along_axis(_planes(x), np.maximum(flat_idx, 0), axis=2)
    return np.where(flat_idx < 0, np.zeros((), dtype=x.dtype), y).reshape(indices.shape)


def _avg_divisor(x_hw: Pair, kernel: Pair, stride: Pair, padding: Pair, pads: PadPairs, count_include_pad: bool,
                 divisor_override: int | None) -> np.ndarray | int:
    """How many cells each window averages over, by PyTorch's rule: the input's, plus the padding's
    with ``count_include_pad``, but never the ceil-mode overhang: an im2col of a 0/1 image."""
    if divisor_override is not None:
        return divisor_override
    (top, bottom), (left, right) = pads
    counted = np.zeros((1, 1, top + x_hw[0] + bottom, left + x_hw[1] + right))
    if count_include_pad:
        counted[:, :, : x_hw[0] + 2 * padding[0], : x_hw[1] + 2 * padding[1]] = 1
    else:
        counted[:, :, top : top + x_hw[0], left : left + x_hw[1]] = 1
    cells = im2col(counted, kernel, stride, NO_PADDING, ONE).sum(axis=1)  # (1, OH*OW)
    return cells.reshape(_out_hw(counted.shape[2:], kernel, stride, NO_PADDING, ONE))


def avg_pool2d(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair, ceil_mode: bool,
               count_include_pad: bool, divisor_override: int | None) -> np.ndarray:
    """Average pool as im2col: every window's sum over its taps, divided by PyTorch's divisor.

    >>> avg_pool2d(np.arange(4.0).reshape(1, 1, 2, 2), (2, 2), (2, 2), (0, 0), False, True, None).tolist()
    [[[[1.5]]]]
    """
    (n, c, h, w), (kh, kw) = x.shape, kernel
    (oh, ow), pads = _pool_geometry((h, w), kernel, stride, padding, ONE, ceil_mode)
    sums = im2col(x, kernel, stride, pads, ONE).reshape(n, c, kh * kw, oh, ow).sum(axis=2)
    divisor = _avg_divisor((h, w), kernel, stride, padding, pads, count_include_pad, divisor_override)
    return sums / np.asarray(divisor, dtype=x.dtype)


def avg_pool2d_backward(dy: np.ndarray, input_hw: Pair, kernel: Pair, stride: Pair, padding: Pair,
                        ceil_mode: bool, count_include_pad: bool, divisor_override: int | None) -> np.ndarray:
    """Average pool's backward: each window's ``dy / divisor`` copied to all its taps' columns, then
    col2im adds them back onto the input (overlaps add up, padding is dropped).

    >>> avg_pool2d_backward(np.ones((1, 1, 1, 1)), (2, 2), (2, 2), (2, 2), (0, 0), False, True, None).tolist()
    [[[[0.25, 0.25], [0.25, 0.25]]]]
    """
    (n, c, oh, ow), (kh, kw) = dy.shape, kernel
    _, pads = _pool_geometry(input_hw, kernel, stride, padding, ONE, ceil_mode)
    divisor = _avg_divisor(input_hw, kernel, stride, padding, pads, count_include_pad, divisor_override)
    share = dy / np.asarray(divisor, dtype=dy.dtype)
    dcols = np.broadcast_to(share[:, :, None], (n, c, kh * kw, oh, ow)).reshape(n, c * kh * kw, oh * ow)
    return col2im(dcols, (n, c, input_hw[0], input_hw[1]), kernel, stride, pads, ONE)


def _adaptive_windows(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive windows along one axis: output i averages floor(i*size/out) up to
    ceil((i+1)*size/out)."""
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


def adaptive_avg_pool2d(x: np.ndarray, output_size: Pair) -> np.ndarray:
    """Adaptive average pool as a loop over the output cells, each the mean of its window.

    >>> adaptive_avg_pool2d(np.arange(3.0).reshape(1, 1, 1, 3), (1, 2)).tolist()
    [[[[0.5, 1.5]]]]
    """
    y = np.empty(x.shape[:2] + tuple(output_size), dtype=x.dtype)
    for i, (r0, r1) in enumerate(_adaptive_windows(x.shape[2], output_size[0])):
        for j, (q0, q1) in enumerate(_adaptive_windows(x.shape[3], output_size[1])):
            y[:, :, i, j] = x[:, :, r0:r1, q0:q1].mean(axis=(2, 3))
    return y


def adaptive_avg_pool2d_backward(dy: np.ndarray, input_hw: Pair) -> np.ndarray:
    """Adaptive average pool's backward: each output's gradient spread evenly over its window.

    >>> adaptive_avg_pool2d_backward(np.ones((1, 1, 1, 2)), (1, 3)).tolist()
    [[[[0.5, 1.0, 0.5]]]]
    """
    dx = np.zeros(dy.shape[:2] + tuple(input_hw), dtype=dy.dtype)
    for i, (r0, r1) in enumerate(_adaptive_windows(input_hw[0], dy.shape[2])):
        for j, (q0, q1) in enumerate(_adaptive_windows(input_hw[1], dy.shape[3])):
            dx[:, :, r0:r1, q0:q1] += dy[:, :, i : i + 1, j : j + 1] / ((r1 - r0) * (q1 - q0))
    return dx


# ----------------------------------------------------------------------------------------------
# relu
# ----------------------------------------------------------------------------------------------


def relu(x: np.ndarray) -> np.ndarray:
    """max(x, 0); NaN stays NaN.

    >>> relu(np.array([-1.0, 0.0, 2.0])).tolist()
    [0.0, 0.0, 2.0]
    """
    return np.maximum(x, 0)


def masked(g: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``g`` where ``mask`` is nonzero, else 0: relu's gradient is ``masked(g, relu(x))``, since
    relu's output is nonzero where x > 0 (and at NaN, where PyTorch passes the gradient too).

    >>> masked(np.array([5.0, 6.0, 7.0]), relu(np.array([-1.0, 0.0, 2.0]))).tolist()
    [0.0, 0.0, 7.0]
    """
    return np.where(mask, g, np.zeros((), dtype=g.dtype))


# ----------------------------------------------------------------------------------------------
# The smooth and piecewise activations of kernels/activation.py: each formula as the textbook
# (and PyTorch's scalar code) writes it, with np.where for the branches. The fast kernels reorder
# the same arithmetic into a few in-place passes without masks; tests/kernels/test_activation_kernels.py
# holds them equal (to rounding) on random values, the kinks, +-0, +-inf and NaN.
# ----------------------------------------------------------------------------------------------


def _quiet(fn: Callable[[], np.ndarray]) -> np.ndarray:
    with np.errstate(all="ignore"):  # exp overflowing to inf is part of these formulas
        return fn()


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)).

    >>> sigmoid(np.array([0.0])).tolist()
    [0.5]
    """
    return _quiet(lambda: 1.0 / (1.0 + np.exp(-x)))


def leaky_relu(x: np.ndarray, negative_slope: float) -> np.ndarray:
    """x where x > 0, else negative_slope * x.

    >>> leaky_relu(np.array([-2.0, 3.0]), 0.5).tolist()
    [-1.0, 3.0]
    """
    return _quiet(lambda: np.where(x > 0, x, x * negative_slope))


def prelu(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x where x > 0, else w * x (w broadcast against x).

    >>> prelu(np.array([-2.0, 3.0]), np.array(0.5)).tolist()
    [-1.0, 3.0]
    """
    return _quiet(lambda: np.where(x > 0, x, w * x).astype(x.dtype, copy=False))


def elu(x: np.ndarray, alpha: float, scale: float = 1.0, input_scale: float = 1.0) -> np.ndarray:
    """scale * x where x > 0, else scale * alpha * (exp(input_scale * x) - 1).

    >>> elu(np.array([-1.0, 2.0]), 1.0).round(4).tolist()
    [-0.6321, 2.0]
    """
    return _quiet(lambda: np.where(x > 0, scale * x, scale * alpha * np.expm1(input_scale * x)).astype(x.dtype))


def elu_grad(g: np.ndarray, x: np.ndarray, alpha: float, scale: float = 1.0, input_scale: float = 1.0) -> np.ndarray:
    """g * elu'(x): g * scale where x > 0, else g * scale * alpha * input_scale * exp(input_scale * x).

    >>> elu_grad(np.array([1.0, 1.0]), np.array([0.0, 2.0]), 2.0).tolist()
    [2.0, 1.0]
    """
    slope = _quiet(lambda: np.where(x > 0, scale, scale * alpha * input_scale * np.exp(input_scale * x)))
    return (g * slope).astype(np.result_type(g, x))


def _phi(x: np.ndarray) -> np.ndarray:
    from .special import erfc

    return 0.5 * erfc(-np.asarray(x, dtype=np.float64) / np.sqrt(2.0))


def gelu(x: np.ndarray) -> np.ndarray:
    """x * Phi(x), Phi the standard normal CDF (erfc in float64), in x's dtype.

    >>> gelu(np.array([-1.0, 1.0])).round(4).tolist()
    [-0.1587, 0.8413]
    """
    return _quiet(lambda: (x * _phi(x)).astype(x.dtype))


def gelu_grad(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """g * (Phi(x) + x phi(x)), phi the standard normal density.

    >>> gelu_grad(np.array([1.0]), np.array([0.0])).tolist()
    [0.5]
    """
    x64 = np.asarray(x, dtype=np.float64)
    slope = _quiet(lambda: _phi(x64) + x64 * np.exp(-0.5 * x64 * x64) / np.sqrt(2.0 * np.pi))
    return (g * slope).astype(np.result_type(g, x))


_TANH_C, _TANH_K = float(np.sqrt(2.0 / np.pi)), 0.044715


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).

    >>> gelu_tanh(np.array([1.0])).round(4).tolist()
    [0.8412]
    """
    return _quiet(lambda: 0.5 * x * (1.0 + np.tanh(_TANH_C * (x + _TANH_K * x * x * x))))


def gelu_tanh_grad(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """g * d/dx of :func:`gelu_tanh`.

    >>> gelu_tanh_grad(np.array([1.0]), np.array([0.0])).tolist()
    [0.5]
    """
    def slope() -> np.ndarray:
        t = np.tanh(_TANH_C * (x + _TANH_K * x * x * x))
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _TANH_C * (1.0 + 3.0 * _TANH_K * x * x)
    return (g * _quiet(slope)).astype(np.result_type(g, x))


def hardswish(x: np.ndarray) -> np.ndarray:
    """x * min(max(x + 3, 0), 6) / 6.

    >>> hardswish(np.array([-4.0, 1.5, 4.0])).tolist()
    [-0.0, 1.125, 4.0]
    """
    return x * np.minimum(np.maximum(x + 3.0, 0.0), 6.0) / 6.0


def hardswish_grad(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """g * hardswish'(x), PyTorch's slope: 0 up to -3, x / 3 + 0.5 strictly between, 1 from 3 up.

    >>> hardswish_grad(np.ones(4), np.array([-3.0, 0.0, 1.5, 3.0])).tolist()
    [0.0, 0.5, 1.0, 1.0]
    """
    slope = np.where(x <= -3.0, 0.0, np.where(x >= 3.0, 1.0, x / 3.0 + 0.5))
    return (g * slope).astype(np.result_type(g, x))


def silu(x: np.ndarray) -> np.ndarray:
    """x * sigmoid(x).

    >>> silu(np.array([0.0, 1.0])).round(4).tolist()
    [0.0, 0.7311]
    """
    return x * sigmoid(x)


def silu_grad(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """g * sigmoid(x) * (1 + x * (1 - sigmoid(x))).

    >>> silu_grad(np.array([1.0]), np.array([0.0])).tolist()
    [0.5]
    """
    s = sigmoid(x)
    return g * s * (1.0 + x * (1.0 - s))


def softplus_grad(g: np.ndarray, x: np.ndarray, beta: float, threshold: float) -> np.ndarray:
    """g * sigmoid(beta x), and g itself where beta x > threshold.

    >>> softplus_grad(np.array([1.0, 1.0]), np.array([0.0, 30.0]), 1.0, 20.0).tolist()
    [0.5, 1.0]
    """
    z = x * beta
    return np.where(z > threshold, g, g * sigmoid(z)).astype(np.result_type(g, x))


def log_sigmoid_grad(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """g * sigmoid(-x), the slope of log(sigmoid(x)).

    >>> log_sigmoid_grad(np.array([1.0]), np.array([0.0])).tolist()
    [0.5]
    """
    return g * sigmoid(-x)

"""Winograd F(2x2, 3x3): the 3x3, stride-1 convolutions with fewer multiplications.

The im2col kernels in conv.py spend most of their time in GEMMs on the layers with many
channels: 9*C multiply-adds per output value. Winograd's minimal filtering algorithm computes
each 2x2 block of outputs from a 4x4 tile of input with 16*C multiply-adds instead of 36*C, so
the GEMM work drops 2.25 times, at the price of small linear transforms before and after:

    Y = A^T [ (G w G^T) * (B^T d B) ] A        (per 4x4 input tile d, summed over channels)

with ``*`` elementwise over the 16 "frequencies". For each frequency the sum over channels is one
GEMM, so a conv becomes 16 GEMMs of a quarter of the size (one batched ``matmul``), with the input
transform before and the output transform after. The three gradients stay in the same form:

* the input gradient of a stride-1 conv is a stride-1 conv of the upstream gradient with the
  weight rotated by 180 degrees and its channel axes swapped, padded by ``2 - padding``;
* the weight gradient is the adjoint of the forward through the transforms: the upstream
  gradient's tiles go through ``A dy A^T``, meet the input's ``B^T d B`` tiles in 16 GEMMs that
  sum over samples and tiles, and ``G^T . G`` brings the 4x4 result back to 3x3.

Layout: everything runs pixel-major, (rows, cols, N, C), so every transform step is one NumPy
operation over long contiguous runs of N*C values rather than many runs of a few pixels (a first
version on (N, C, tiles, 4, 4) window views was about 4 times slower in the input transform). As in
conv.py, the batch goes in chunks of about 2 MiB of transformed input, so each chunk's GEMM reads
its tiles from cache; every chunk's work arrays come from the scratch the conv kernels keep between
calls (workspace.py), so no call faults in fresh pages. benchmarks/RESULTS.md has the measurements
behind these choices.

Where it can be used: float32 only, kernel 3x3, stride 1, dilation 1, groups 1, and at least
:data:`MIN_CHANNELS` input and output channels (:func:`applies`). Whether it is used is measured:
conv.py times it against im2col on the first call of each shape, and again a second later, and
keeps the faster (its GEMMs are 2.25 times smaller, but its transforms are memory-bound passes, and
which side of that trade wins depends on the machine's BLAS and caches). In float32 the result
differs from the direct sum by rounding only (the transforms have entries 0, +-1 and +-1/2; errors
against a float64 reference are of the size of im2col's). Inputs with inf or nan can turn into nan
in the transforms where the direct sum gives inf, so every function here returns None when its
result is not finite, and the caller then uses im2col, whose answer is the reference.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import workspace

#: Both the input and the output channel counts must reach this for Winograd to be considered
#: (and timed against im2col, see conv.py): its GEMM saving grows with C*F while its transforms
#: grow with C+F, so with fewer channels it lost clearly even on the machine where it did best,
#: and timing it there would be wasted work.
MIN_CHANNELS = 16

# G (4x3) maps a 3-tap filter to the 4 "frequencies" of F(2, 3); kron(G, G) (16x9) does both axes
# of a flattened 3x3 filter at once. Its entries are 0, +-1, +-1/2 and +-1/4: exact in float32.
_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
_KRON = np.kron(_G, _G)

Pads = tuple[tuple[int, int], tuple[int, int]]


def applies(dtype: Any, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
            groups: int, in_channels: int, out_channels: int) -> bool:
    """Whether Winograd can run a conv2d of this shape (see the module docstring): conv.py then
    times it against im2col once per shape."""
    return (np.dtype(dtype) == np.float32 and tuple(kernel) == (3, 3) and tuple(stride) == (1, 1)
            and tuple(dilation) == (1, 1) and groups == 1
            and min(in_channels, out_channels) >= MIN_CHANNELS)


def _tiles(size: int) -> int:
    """Number of 2-output tiles covering ``size`` outputs."""
    return -(-size // 2)


def _chunk(n: int, per_sample_bytes: int, budget: int) -> int:
    """Samples per batch chunk so that the transformed input stays within the memory budget."""
    return max(1, min(n, budget // max(per_sample_bytes, 1)))


def _bt(d0: np.ndarray, d1: np.ndarray, d2: np.ndarray, d3: np.ndarray, out: np.ndarray) -> None:
    """B^T along one axis: the four frequencies of four neighbouring input rows (or columns)."""
    np.subtract(d0, d2, out=out[0])
    np.add(d1, d2, out=out[1])
    np.subtract(d2, d1, out=out[2])
    np.subtract(d1, d3, out=out[3])


def _at(m0: np.ndarray, m1: np.ndarray, m2: np.ndarray, m3: np.ndarray, out0: np.ndarray,
        out1: np.ndarray) -> None:
    """A^T along one axis: two outputs from the four frequencies."""
    np.add(m0, m1, out=out0)
    out0 += m2
    np.subtract(m1, m2, out=out1)
    out1 -= m3


def _a(r0: np.ndarray, r1: np.ndarray, out: np.ndarray) -> None:
    """A along one axis (the adjoint of A^T): four frequencies from two output gradients."""
    out[0] = r0
    np.add(r0, r1, out=out[1])
    np.subtract(r0, r1, out=out[2])
    np.negative(r1, out=out[3])


# Extra elements per row of the staging buffer below: 64 bytes, so that its row pitch is never a
# multiple of 4 KiB (see _to_pixel_major).
_PITCH_PAD = 16


def _to_pixel_major(src: np.ndarray, dst: np.ndarray) -> None:
    """Copy ``src`` (m, C, H, W) into ``dst``, a (H, W, m, C) view.

    A direct strided copy reads one element per channel plane, H*W elements apart; at 32x32 that
    stride is 4 KiB, every read maps to the same cache set, and the copy ran 4x slower than the
    same copy at 14x14. So the planes are first copied (fast, contiguous runs) into a staging
    buffer whose row pitch is 64 bytes longer, and the strided copy reads from there
    (several times faster on 32x32 images).
    """
    m, c, h, w = src.shape
    stage = workspace.take(workspace.ACC, (m * c, h * w + _PITCH_PAD), src.dtype)[:, : h * w]
    stage[...] = src.reshape(m * c, h * w)
    dst[...] = stage.reshape(m, c, h, w).transpose(2, 3, 0, 1)


def _from_pixel_major(src: np.ndarray, dst: np.ndarray) -> None:
    """Copy ``src``, a (H, W, m, C) view, into ``dst`` (m, C, H, W): the reverse of
    :func:`_to_pixel_major`, through the same staging buffer."""
    m, c, h, w = dst.shape
    stage = workspace.take(workspace.ACC, (m * c, h * w + _PITCH_PAD), dst.dtype)[:, : h * w]
    stage.reshape(m, c, h, w).transpose(2, 3, 0, 1)[...] = src
    dst.reshape(m * c, h * w)[...] = stage


def _input_transform(x: np.ndarray, top: int, left: int, th: int, tw: int) -> np.ndarray:
    """B^T d B of every 4x4 tile (stride 2) of ``x`` (m, C, H, W) zero-padded by ``top``/``left``
    (and with zeros past its end): returns (16, th*tw*m, C)."""
    m, c, h, w = x.shape
    rows, cols = 2 * th + 2, 2 * tw + 2
    xp = workspace.take(workspace.INPUT, (rows, cols, m, c), x.dtype)
    # zero only the border: the interior is overwritten just below
    xp[:top] = 0
    xp[top + h :] = 0
    xp[top : top + h, :left] = 0
    xp[top : top + h, left + w :] = 0
    _to_pixel_major(x, xp[top : top + h, left : left + w])
    t = workspace.take(workspace.ROWS, (4, th, cols, m, c), x.dtype)
    _bt(xp[0 : 2 * th : 2], xp[1 : 2 * th + 1 : 2], xp[2 : 2 * th + 2 : 2], xp[3 : 2 * th + 3 : 2], t)
    v = workspace.take(workspace.COLUMNS, (4, 4, th, tw, m, c), x.dtype)
    for k in range(4):
        tk = t[k]
        _bt(tk[:, 0 : 2 * tw : 2], tk[:, 1 : 2 * tw + 1 : 2], tk[:, 2 : 2 * tw + 2 : 2], tk[:, 3 : 2 * tw + 3 : 2],
            v[k])
    return v.reshape(16, th * tw * m, c)


def _weight_transform(w: np.ndarray, rotate: bool = False) -> np.ndarray:
    """G w G^T of every (3, 3) filter of a (F, C, 3, 3) weight, as one small GEMM: (16, F, C).

    With ``rotate`` the filters are rotated by 180 degrees first, which for the flattened 3x3
    index is just reversing it, so it is folded into the transform matrix (no copy of w).
    """
    kron = _KRON[:, ::-1] if rotate else _KRON
    f, c = w.shape[:2]
    # (16, 9) @ (9, F*C): w's (F*C, 9) memory seen transposed, which BLAS reads as it is
    return np.matmul(kron.astype(w.dtype), w.reshape(f * c, 9).T).reshape(16, f, c)


def _output_transform(mm: np.ndarray, th: int, tw: int, out: np.ndarray) -> None:
    """A^T M A of (16, th*tw*m, F) into ``out`` (m, F, OH, OW), cropping the last tile."""
    m, f, oh, ow = out.shape
    m6 = mm.reshape(4, 4, th, tw, m, f)
    t = workspace.take(workspace.ROWS, (2, 4, th, tw, m, f), mm.dtype)
    _at(m6[0], m6[1], m6[2], m6[3], t[0], t[1])
    y = workspace.take(workspace.INPUT, (th, 2, tw, 2, m, f), mm.dtype)
    for r in range(2):
        _at(t[r, 0], t[r, 1], t[r, 2], t[r, 3], y[:, r, :, 0], y[:, r, :, 1])
    _from_pixel_major(y.reshape(2 * th, 2 * tw, m, f)[:oh, :ow], out)


def _grad_transform(dy: np.ndarray, th: int, tw: int) -> np.ndarray:
    """A dy A^T of every 2x2 block of ``dy`` (m, F, OH, OW), zero past its end: (16, th*tw*m, F)."""
    m, f, oh, ow = dy.shape
    dp = workspace.take(workspace.INPUT, (2 * th, 2 * tw, m, f), dy.dtype)
    dp[oh:] = 0  # the half-empty last tile, when OH or OW is odd
    dp[:oh, ow:] = 0
    _to_pixel_major(dy, dp[:oh, :ow])
    t = workspace.take(workspace.ROWS, (4, th, 2 * tw, m, f), dy.dtype)
    _a(dp[0::2], dp[1::2], t)
    z = workspace.take(workspace.PRODUCT, (4, 4, th, tw, m, f), dy.dtype)
    for k in range(4):
        _a(t[k][:, 0::2], t[k][:, 1::2], z[k])
    return z.reshape(16, th * tw * m, f)


def _conv_tiles(x: np.ndarray, u: np.ndarray, padding: Pads, budget: int) -> np.ndarray | None:
    """Stride-1 3x3 cross-correlation of ``x`` (N, C, H, W) given the transformed weight ``u``
    (16, C, F), any memory order; None when the result is not finite."""
    (pt, pb), (pl, pr) = padding
    n, c, h, wd = x.shape
    f = u.shape[2]
    oh, ow = h + pt + pb - 2, wd + pl + pr - 2
    th, tw = _tiles(oh), _tiles(ow)
    y = np.empty((n, f, oh, ow), dtype=x.dtype)
    m_max = _chunk(n, 16 * th * tw * max(c, f) * x.itemsize, budget)
    with np.errstate(all="ignore"):  # non-finite results are redone by the caller
        for n0 in range(0, n, m_max):
            xs = x[n0 : n0 + m_max]
            v = _input_transform(xs, pt, pl, th, tw)
            mm = workspace.take(workspace.PRODUCT, (16, v.shape[1], f), x.dtype)
            np.matmul(v, u, out=mm)  # 16 GEMMs (tiles, C) @ (C, F)
            _output_transform(mm, th, tw, y[n0 : n0 + xs.shape[0]])
    return y if np.isfinite(y).all() else None


def conv2d(x: np.ndarray, w: np.ndarray, padding: Pads, budget: int) -> np.ndarray | None:
    """Cross-correlation of ``x`` (N, C, H, W) with a (F, C, 3, 3) ``w``, stride 1; None when
    the result is not finite (the caller then uses im2col)."""
    return _conv_tiles(x, _weight_transform(w).transpose(0, 2, 1), padding, budget)


def input_grad(dy: np.ndarray, w: np.ndarray, padding: Pads, budget: int) -> np.ndarray | None:
    """Gradient of the stride-1 conv2d w.r.t. its input: a stride-1 conv of ``dy`` with the
    rotated, channel-swapped weight, padded by ``2 - padding``. Needs every padding <= 2 (the
    caller checks); None when not finite."""
    (pt, pb), (pl, pr) = padding
    # the rotated weight's transform is (16, F, C): exactly (C_in, C_out) of this conv
    return _conv_tiles(dy, _weight_transform(w, rotate=True), ((2 - pt, 2 - pb), (2 - pl, 2 - pr)), budget)


def weight_grad(x: np.ndarray, dy: np.ndarray, padding: Pads, budget: int) -> np.ndarray | None:
    """Gradient of the stride-1 conv2d w.r.t. its (F, C, 3, 3) weight; None when not finite.

    The adjoint of :func:`conv2d` through its transforms: dL/dU = sum over tiles of
    (A dy A^T) * (B^T d B) as 16 GEMMs, then dL/dw = G^T (dL/dU) G.
    """
    (pt, _), (pl, _) = padding
    n, c = x.shape[:2]
    f, oh, ow = dy.shape[1:]
    th, tw = _tiles(oh), _tiles(ow)
    du = np.zeros((16, f, c), dtype=x.dtype)
    m_max = _chunk(n, 16 * th * tw * max(c, f) * x.itemsize, budget)
    with np.errstate(all="ignore"):
        for n0 in range(0, n, m_max):
            v = _input_transform(x[n0 : n0 + m_max], pt, pl, th, tw)
            z = _grad_transform(dy[n0 : n0 + m_max], th, tw)
            du += np.matmul(z.transpose(0, 2, 1), v)  # 16 GEMMs (F, tiles) @ (tiles, C)
        # dL/dw = G^T dU G for every filter: (F*C, 16) @ kron(G, G) (16, 9)
        dw = np.matmul(du.reshape(16, f * c).T, _KRON.astype(x.dtype)).reshape(f, c, 3, 3)
    return dw if np.isfinite(dw).all() else None

"""Pooling kernels on plain arrays: max pool (with PyTorch's indices), max unpool, average pool,
adaptive average pool, and their backward passes.

Everything here takes and returns NumPy arrays in NCHW layout and knows nothing of tensors or
the tape. Arguments arrive already normalised to ``(h, w)`` pairs and validated by the caller; the
few shape checks left here raise ValueError (not assert, which ``python -O`` strips), since the
registered backward ops can be called directly with any arrays.

Conventions (PyTorch's, checked against PyTorch 2.13 CPU in the tests):

* Output sizes follow ``pool2d_output_size``: floor, or ceil where the last window must still
  start inside the input or the left padding.
* Max pool pads with minus infinity. Its indices are int64 flat positions ``row * W + col`` in
  each H*W plane of the unpadded input. Ties go to the first maximum in row-major scan order of
  the window; a NaN always wins, and among several NaNs the *last* one in scan order wins (that
  is what PyTorch's CPU kernel does). A window whose values are all minus infinity points at its
  first element that lies inside the input.
* A window that lies wholly in the padding (possible with dilation and small inputs) gives minus
  infinity and the index ``-1``, which ``max_unpool2d`` skips (no gradient) and ``gather_plane``
  reads as 0. PyTorch returns an out-of-range index there, which corrupts its heap in backward.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

Pair = tuple[int, int]

# Max pool works on batches of whole planes of about this many input bytes, so that the several
# passes over each window offset hit the cache instead of main memory.
_CHUNK_BYTES = 1 << 20


def pool2d_output_size(in_size: int, kernel: int, stride: int, padding: int, dilation: int,
                       ceil_mode: bool) -> int:
    """Number of windows along one axis, by PyTorch's rule (may be <= 0; the caller rejects that)."""
    span = in_size + 2 * padding - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1  # floor division, as div_rtn
    # In ceil mode the last window must start inside the input or the left padding.
    if ceil_mode and (out - 1) * stride >= in_size + padding:
        out -= 1
    return out


# ----------------------------------------------------------------------------------------------
# shared helpers


def _out_hw(in_hw: Pair, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair,
            ceil_mode: bool) -> Pair:
    oh = pool2d_output_size(in_hw[0], kernel[0], stride[0], padding[0], dilation[0], ceil_mode)
    ow = pool2d_output_size(in_hw[1], kernel[1], stride[1], padding[1], dilation[1], ceil_mode)
    if oh <= 0 or ow <= 0:
        raise ValueError(f"pool2d: the windows do not fit an input of {in_hw[0]}x{in_hw[1]} "
                         f"(kernel_size={kernel}, stride={stride}, padding={padding}, dilation={dilation}, "
                         f"ceil_mode={ceil_mode}): the output would be {oh}x{ow}")
    return oh, ow


def _check_4d_float(x: np.ndarray, op: str) -> None:
    if x.ndim != 4 or x.dtype.kind != "f":
        raise ValueError(f"{op}: expected a 4-d (N, C, H, W) floating-point array, got shape {x.shape} "
                         f"and dtype {x.dtype}")


def _extent(out: int, kernel: int, stride: int, dilation: int) -> int:
    """Rows (or columns) of the padded input that the windows touch, counted from the top pad."""
    return (out - 1) * stride + (kernel - 1) * dilation + 1


def _padded_shape(in_hw: Pair, out_hw: Pair, kernel: Pair, stride: Pair, padding: Pair,
                  dilation: Pair) -> Pair:
    """Size of a padded plane that holds the whole input and every window, ceil overhang included."""
    rows = max(_extent(out_hw[0], kernel[0], stride[0], dilation[0]), padding[0] + in_hw[0])
    cols = max(_extent(out_hw[1], kernel[1], stride[1], dilation[1]), padding[1] + in_hw[1])
    return rows, cols


def _offset_view(xp: np.ndarray, i: int, j: int, out_hw: Pair, stride: Pair,
                 dilation: Pair) -> np.ndarray:
    """The (.., OH, OW) strided view of the padded input at kernel offset (i, j)."""
    r0, c0 = i * dilation[0], j * dilation[1]
    return xp[..., r0:r0 + (out_hw[0] - 1) * stride[0] + 1:stride[0],
              c0:c0 + (out_hw[1] - 1) * stride[1] + 1:stride[1]]


def _as_planes(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N*C, H, W); a view when x is contiguous."""
    n, c, h, w = x.shape
    return x.reshape(n * c, h, w)


def _plane_starts(planes: int, plane_size: int, ndim_tail: int) -> np.ndarray:
    """Flat offset of each plane, shaped to broadcast against (planes, ...)."""
    return (np.arange(planes, dtype=np.int64) * plane_size).reshape((planes,) + (1,) * ndim_tail)


# ----------------------------------------------------------------------------------------------
# max pool


@lru_cache(maxsize=64)
def _first_bit_table(bits: int) -> np.ndarray:
    """table[c] = position of the lowest set bit of c (0 for c == 0), for c < 2**bits."""
    codes = np.arange(1 << bits, dtype=np.int64)
    table = np.zeros(1 << bits, dtype=np.int64)
    # Walk from the highest bit down, so the lowest set bit writes last.
    for b in range(bits - 1, -1, -1):
        table[(codes >> b) & 1 == 1] = b
    return table


def _first_window_index(in_size: int, out: int, kernel: int, stride: int, padding: int,
                        dilation: int) -> np.ndarray:
    """Per output position along one axis: the first in-input coordinate of the window, or -1."""
    starts = np.arange(out, dtype=np.int64) * stride - padding
    taps = starts[:, None] + np.arange(kernel, dtype=np.int64)[None, :] * dilation
    inside = (taps >= 0) & (taps < in_size)
    first = np.where(inside.any(axis=1), taps[np.arange(out), inside.argmax(axis=1)], -1)
    return first


@lru_cache(maxsize=16)
def _window_corners(planes: int, hw: Pair, out_hw: Pair, stride: Pair) -> tuple[np.ndarray, np.ndarray]:
    """Flat positions of every window's top-left pixel in ``planes`` stacked H*W planes, and the
    same positions within their own plane (both int64, read-only, shape (planes * OH * OW,))."""
    (h, w), (oh, ow) = hw, out_hw
    in_plane = (np.arange(oh, dtype=np.int64)[:, None] * (stride[0] * w)
                + np.arange(ow, dtype=np.int64)[None, :] * stride[1]).reshape(1, oh * ow)
    flat = (np.arange(planes, dtype=np.int64)[:, None] * (h * w) + in_plane).reshape(-1)
    repeated = np.ascontiguousarray(np.broadcast_to(in_plane, (planes, oh * ow))).reshape(-1)
    flat.flags.writeable = False
    repeated.flags.writeable = False
    return flat, repeated


def _scan_taps(values: np.ndarray, codes: np.ndarray | None, count: int, step: int, n: int,
               code_dtype: np.dtype) -> tuple[np.ndarray, np.ndarray | None]:
    """For k < n: the maximum of values[k + t*step] over t = 0..count-1, and the code of the
    winner (codes[k + t*step] + t*step, codes taken as 0 when None), the earliest t on ties.

    Offsets grow with t, so "the last t that improved the maximum" is a running maximum of
    ``improved * code``; the first pass writes new arrays, so ``values`` is never written to.
    """
    best = values[:n]
    code = None if codes is None else codes[:n]
    improved = np.empty(n, dtype=bool)
    for t in range(1, count):
        shift = t * step
        tap = values[shift:shift + n]
        np.greater(tap, best, out=improved)
        best = np.maximum(best, tap) if t == 1 else np.maximum(best, tap, out=best)
        if codes is None:
            candidate = np.multiply(improved.view(np.uint8), code_dtype.type(shift), dtype=code_dtype)
        else:
            candidate = np.add(codes[shift:shift + n], code_dtype.type(shift))
            np.multiply(candidate, improved.view(np.uint8), out=candidate)
        code = candidate if code is None else np.maximum(code, candidate, out=code if t > 1 else None)
    return best, code


def _max_pool2d_sliding(planes: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair,
                        out_hw: Pair) -> tuple[np.ndarray, np.ndarray] | None:
    """Max pool of contiguous (P, H, W) planes whose windows all lie inside the input (no padding,
    no ceil overhang), or None when a maximum is NaN (the caller then takes the general kernel).

    NumPy runs a ufunc over a strided window view element by element, with a loop of only OW
    elements per row, but over a contiguous array in SIMD blocks. So this kernel computes the
    running maximum at *every* pixel of the flat input, comparing it with the input shifted by
    each tap's offset (contiguous slices of one flat array), and only then picks the window
    corners out with one take. Windows that straddle a row or plane edge are computed too and
    thrown away. The work grows with H*W instead of OH*OW, which still wins at the small strides
    of CNN pooling.

    The first maximum in row-major scan order is found in two levels: along each row of the
    window (taps j = 0..kw-1), then across its rows; a strict ``>`` keeps the earlier of equal
    values at both levels, which gives the row-major first. The code kept per pixel is the
    winning tap's offset in the plane (row * dilation * W + col * dilation), which grows along the
    scan (:func:`_scan_taps`): no np.where or masked copy, both branchy and many times slower here.
    """
    p_total, h, w = planes.shape
    kh, kw = kernel
    dh, dw = dilation
    row_step = dh * w
    largest = (kh - 1) * row_step + (kw - 1) * dw
    if largest > np.iinfo(np.uint16).max:
        return None  # offsets too large for a 16-bit code: the general kernel handles it
    code_dtype = np.dtype(np.uint8) if largest <= np.iinfo(np.uint8).max else np.dtype(np.uint16)
    out = np.empty((p_total, out_hw[0] * out_hw[1]), dtype=planes.dtype)
    idx = np.empty((p_total, out_hw[0] * out_hw[1]), dtype=np.int64)
    chunk = max(1, min(p_total, _CHUNK_BYTES // max(1, h * w * planes.itemsize)))
    for p0 in range(0, p_total, chunk):
        p1 = min(p0 + chunk, p_total)
        flat = planes[p0:p1].reshape(-1)
        n1 = flat.size - (kw - 1) * dw
        row_max, col = _scan_taps(flat, None, kw, dw, n1, code_dtype)
        best, code = _scan_taps(row_max, col, kh, row_step, n1 - (kh - 1) * row_step, code_dtype)
        corners, in_plane = _window_corners(p1 - p0, (h, w), out_hw, stride)
        o = out[p0:p1].reshape(-1)
        # mode='clip' because take buffers its output in the default mode='raise'; the corners
        # are in range by construction.
        np.take(best, corners, out=o, mode="clip")
        if np.isnan(o).any():
            return None  # the NaN rule (the last NaN wins) is the general kernel's
        if code is None:  # a 1x1 window: every index is its corner
            idx[p0:p1] = in_plane.reshape(p1 - p0, -1)
        else:
            np.add(in_plane, np.take(code, corners, mode="clip"), out=idx[p0:p1].reshape(-1))
    return out, idx


def max_pool2d(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair,
               ceil_mode: bool) -> tuple[np.ndarray, np.ndarray]:
    """Max pool over (N, C, H, W); returns (values, int64 plane indices) as PyTorch does.

    Where every window lies inside the input and no maximum is NaN, :func:`_max_pool2d_sliding`
    computes it on contiguous shifted slices. Otherwise, values are a running ``np.maximum`` over
    the kh*kw strided views (NaN propagates). The index is then found without masked copies (slow
    in NumPy): each offset whose view equals the maximum sets one bit of a small integer code, and
    a table maps the code's lowest set bit, i.e. the first maximum in scan order, to that offset's
    position in the plane.
    """
    _check_4d_float(x, "max_pool2d")
    n, c, h, w = x.shape
    kh, kw = kernel
    oh, ow = _out_hw((h, w), kernel, stride, padding, dilation, ceil_mode)
    rows, cols = _padded_shape((h, w), (oh, ow), kernel, stride, padding, dilation)
    pt, pl = padding
    padded = (rows, cols) != (h, w)
    if not padded and padding == (0, 0) and n * c > 0:
        fast = _max_pool2d_sliding(np.ascontiguousarray(_as_planes(x)), kernel, stride, dilation, (oh, ow))
        if fast is not None:
            return fast[0].reshape(n, c, oh, ow), fast[1].reshape(n, c, oh, ow)

    taps = [(i, j) for i in range(kh) for j in range(kw)]
    # Position of each tap relative to its window's top-left corner, in the unpadded plane.
    tap_offset = np.array([i * dilation[0] * w + j * dilation[1] for i, j in taps], dtype=np.int64)
    # Plane position of each window's top-left corner (negative where it starts in the padding).
    corner = ((np.arange(oh, dtype=np.int64) * stride[0] - pt)[:, None] * w
              + (np.arange(ow, dtype=np.int64) * stride[1] - pl)[None, :])

    # Taps are coded in groups of at most 16 bits: uint8 codes when 8 suffice (cheaper passes).
    group = 8 if len(taps) <= 8 else 16
    code_dtype = np.uint8 if group == 8 else np.uint16
    groups = [list(range(g, min(g + group, len(taps)))) for g in range(0, len(taps), group)]
    tables = []
    for members in groups:
        first = _first_bit_table(len(members))
        tables.append(tap_offset[members][first])  # code -> tap offset of its first set bit

    planes = _as_planes(x)
    p_total = planes.shape[0]
    out = np.empty((p_total, oh, ow), dtype=x.dtype)
    idx = np.empty((p_total, oh, ow), dtype=np.int64)
    if p_total == 0:
        return out.reshape(n, c, oh, ow), idx.reshape(n, c, oh, ow)

    chunk = max(1, min(p_total, _CHUNK_BYTES // max(1, h * w * x.itemsize)))
    if padded:
        # One padded buffer reused by every chunk: the border of -inf is written once.
        buf = np.full((chunk, rows, cols), -np.inf, dtype=x.dtype)
    eq = np.empty((chunk, oh, ow), dtype=bool)
    shifted = np.empty((chunk, oh, ow), dtype=code_dtype)
    codes = [np.empty((chunk, oh, ow), dtype=code_dtype) for _ in groups]

    for p0 in range(0, p_total, chunk):
        p1 = min(p0 + chunk, p_total)
        m = p1 - p0
        if padded:
            buf[:m, pt:pt + h, pl:pl + w] = planes[p0:p1]
            xp = buf[:m]
        else:
            xp = planes[p0:p1]
        views = [_offset_view(xp, i, j, (oh, ow), stride, dilation) for i, j in taps]
        o = out[p0:p1]
        if len(views) == 1:
            np.copyto(o, views[0])
        else:
            np.maximum(views[0], views[1], out=o)
            for v in views[2:]:
                np.maximum(o, v, out=o)

        e, s = eq[:m], shifted[:m]
        for g, members in enumerate(groups):
            code = codes[g][:m]
            for bit, t in enumerate(members):
                np.equal(o, views[t], out=e)
                if bit == 0:
                    np.copyto(code, e)
                else:
                    np.left_shift(e.view(np.uint8), bit, out=s, dtype=code_dtype)
                    np.bitwise_or(code, s, out=code)
        ic = idx[p0:p1]
        # mode='clip' because take buffers its output in the default mode='raise'; codes never
        # exceed the table anyway.
        np.take(tables[-1], codes[-1][:m], out=ic, mode="clip")
        # With several groups the first group that matched decides: walk them back to front.
        for g in range(len(groups) - 2, -1, -1):
            code = codes[g][:m]
            ic[...] = np.where(code != 0, tables[g][code], ic)
        np.add(ic, corner, out=ic)

        # Rare cases, fixed after the fact so the common path stays free of them.
        nan = np.isnan(o)
        if nan.any():
            # PyTorch takes a NaN over anything, and the last NaN in scan order.
            nan_off = np.zeros(o.shape, dtype=np.int64)
            for t, v in enumerate(views):
                np.copyto(nan_off, tap_offset[t], where=np.isnan(v))
            ic[nan] = (nan_off + corner)[nan]
        if padded:
            # An all -inf window matched the padding too; point it at its first element inside
            # the input as PyTorch does, or at -1 when there is none.
            empty = o == -np.inf
            if empty.any():
                ih = _first_window_index(h, oh, kh, stride[0], pt, dilation[0])
                iw = _first_window_index(w, ow, kw, stride[1], pl, dilation[1])
                first = np.where((ih[:, None] >= 0) & (iw[None, :] >= 0),
                                 ih[:, None] * w + iw[None, :], -1)
                ic[empty] = np.broadcast_to(first, o.shape)[empty]
    return out.reshape(n, c, oh, ow), idx.reshape(n, c, oh, ow)


@lru_cache(maxsize=16)
def _repeated_plane_starts(planes: int, plane_size: int, per_plane: int) -> np.ndarray:
    """The flat offset of each plane, repeated for each of its ``per_plane`` entries: a
    contiguous (planes, per_plane) array, cached read-only. Adding it to the indices is one
    contiguous pass; a (planes, 1) column broadcast against them loops per_plane elements at a
    time, several times slower for the few entries a pooled plane has."""
    starts = np.repeat(_plane_starts(planes, plane_size, 1), per_plane, axis=1)
    starts.flags.writeable = False
    return starts


def _flat_plane_indices(indices: np.ndarray, plane: int) -> tuple[np.ndarray, int]:
    """(N, C, ...) plane indices as flat positions in a (N*C*plane + 1) buffer.

    Returns (flat (N*C, per_plane) positions, with every -1 entry sent to the spare slot, and
    that spare slot's position).
    """
    n, c = indices.shape[:2]
    p_total = n * c
    per_plane = int(np.prod(indices.shape[2:]))  # explicit: -1 cannot be inferred when N*C == 0
    planes = indices.reshape(p_total, per_plane)
    flat = planes + _repeated_plane_starts(p_total, plane, per_plane)
    spare = p_total * plane
    # One reduction finds out whether any index is -1; the mask is made only then.
    if indices.size and planes.min() < 0:
        flat[planes < 0] = spare  # a spare slot past the planes, dropped by the caller
    return flat, spare


def scatter_add_plane(dy: np.ndarray, indices: np.ndarray, output_size: Pair) -> np.ndarray:
    """Scatter-add dy into zeros of shape (N, C, H, W) at the flat plane indices.

    This is max_pool2d's backward: overlapping windows that picked the same maximum add up, which
    makes it the exact adjoint of :func:`gather_plane`. Entries with index -1 (windows wholly in
    padding) are skipped. Indices must lie in [-1, H*W); the caller checks that for user-supplied
    indices.
    """
    if dy.shape != indices.shape or dy.ndim != 4:
        raise ValueError(f"scatter_add_plane: expected 4-d values and indices of one shape, got {dy.shape} "
                         f"and {indices.shape}")
    n, c = dy.shape[:2]
    h, w = output_size
    flat, spare = _flat_plane_indices(indices, h * w)
    # np.add.at on float arrays with an int64 index has a fast path in NumPy >= 1.25 and beats
    # np.bincount (which works in float64) by several times here (benchmarks/experiments/pool_kernels.py
    # --variants).
    dx = np.zeros(spare + 1, dtype=dy.dtype)
    np.add.at(dx, flat.ravel(), dy.ravel())
    return dx[:spare].reshape(n, c, h, w)


# The old name of scatter_add_plane, kept for the kernel tests and benchmarks that call it. The
# public max_unpool2d op writes one value per index instead: see unpool_plane.
max_unpool2d = scatter_add_plane


def unpool_plane(x: np.ndarray, indices: np.ndarray, output_size: Pair) -> np.ndarray:
    """Write x into zeros of shape (N, C, H, W) at the flat plane indices: PyTorch's max_unpool2d.

    Where several entries of a plane share an index, the one that comes last in the plane's
    row-major order is kept. PyTorch documents the choice as nondeterministic (its CUDA kernel
    races); this is what its CPU kernel does in 2.13, which loops over each plane in order. The
    winner is computed explicitly (np.maximum.at over positions), not left to the order NumPy
    happens to apply a fancy assignment in. Index -1 is skipped.
    """
    if x.shape != indices.shape or x.ndim != 4:
        raise ValueError(f"unpool_plane: expected 4-d values and indices of one shape, got {x.shape} "
                         f"and {indices.shape}")
    n, c = x.shape[:2]
    h, w = output_size
    flat, spare = _flat_plane_indices(indices, h * w)
    flat = flat.ravel()
    order = np.arange(flat.size, dtype=np.int64)
    last = np.full(spare + 1, -1, dtype=np.int64)
    np.maximum.at(last, flat, order)
    keep = last[flat] == order
    keep &= flat != spare
    out = np.zeros(spare + 1, dtype=x.dtype)
    out[flat[keep]] = x.reshape(-1)[keep]
    return out[:spare].reshape(n, c, h, w)


def gather_plane(x: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """y[n, c, ...] = x[n, c].flat[indices[n, c, ...]], and 0 where the index is -1.

    The backward of max_unpool2d (and the values of max_pool2d, given its indices).
    """
    if x.ndim != 4 or indices.ndim != 4 or x.shape[:2] != indices.shape[:2]:
        raise ValueError(f"gather_plane: expected 4-d values and indices with the same (N, C), got "
                         f"{x.shape} and {indices.shape}")
    n, c, h, w = x.shape
    p_total = n * c
    per_plane = indices.shape[2] * indices.shape[3]  # explicit: -1 cannot be inferred when N*C == 0
    flat = indices.reshape(p_total, per_plane) + _plane_starts(p_total, h * w, 1)
    missing = indices.reshape(p_total, per_plane) < 0
    any_missing = indices.size > 0 and bool(missing.any())
    if any_missing:
        flat[missing] = 0
    y = np.take(np.ascontiguousarray(x).reshape(-1), flat)
    if any_missing:
        y[missing] = 0
    return y.reshape(indices.shape)


# ----------------------------------------------------------------------------------------------
# average pool


def _avg_divisor(in_size: int, out: int, kernel: int, stride: int, padding: int,
                 count_include_pad: bool) -> np.ndarray:
    """One axis' factor of PyTorch's CPU divisor (the divisor is the product of the two axes').

    A window is first clipped to the padded input (the ceil-mode overhang never counts), then,
    without count_include_pad, to the input itself.
    """
    start = np.arange(out, dtype=np.int64) * stride - padding
    end = np.minimum(start + kernel, in_size + padding)
    if count_include_pad:
        return end - start
    return np.minimum(end, in_size) - np.maximum(start, 0)


def _avg_divisor_2d(in_hw: Pair, out_hw: Pair, kernel: Pair, stride: Pair, padding: Pair,
                    count_include_pad: bool, divisor_override: int | None,
                    dtype: np.dtype) -> np.ndarray | float:
    if divisor_override is not None:
        return float(divisor_override)
    dh = _avg_divisor(in_hw[0], out_hw[0], kernel[0], stride[0], padding[0], count_include_pad)
    dw = _avg_divisor(in_hw[1], out_hw[1], kernel[1], stride[1], padding[1], count_include_pad)
    # The ceil rule keeps every window overlapping the input, so no factor is 0 (the op checks
    # padding <= kernel_size // 2, which guarantees it).
    if not ((dh > 0).all() and (dw > 0).all()):
        raise ValueError(f"avg_pool2d: a window lies wholly in the padding (kernel_size={kernel}, "
                         f"stride={stride}, padding={padding}); padding must be at most kernel_size // 2")
    return (dh[:, None] * dw[None, :]).astype(dtype)


def avg_pool2d(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair, ceil_mode: bool,
               count_include_pad: bool, divisor_override: int | None) -> np.ndarray:
    """Average pool over (N, C, H, W), with PyTorch's divisor rules.

    The window sum is separable: summing the kw column offsets and then the kh row offsets
    costs kh + kw strided passes instead of kh * kw.
    """
    _check_4d_float(x, "avg_pool2d")
    n, c, h, w = x.shape
    kh, kw = kernel
    one = (1, 1)
    oh, ow = _out_hw((h, w), kernel, stride, padding, one, ceil_mode)
    rows, cols = _padded_shape((h, w), (oh, ow), kernel, stride, padding, one)
    pt, pl = padding
    if (rows, cols) != (h, w):
        xp = np.zeros((n, c, rows, cols), dtype=x.dtype)
        xp[:, :, pt:pt + h, pl:pl + w] = x
    else:
        xp = x

    # Columns first: (N, C, rows, OW) partial sums over each window's kw columns.
    col_sum = np.array(xp[..., 0:(ow - 1) * stride[1] + 1:stride[1]], dtype=x.dtype)
    for j in range(1, kw):
        col_sum += xp[..., j:j + (ow - 1) * stride[1] + 1:stride[1]]
    out = np.array(col_sum[:, :, 0:(oh - 1) * stride[0] + 1:stride[0]], dtype=x.dtype)
    for i in range(1, kh):
        out += col_sum[:, :, i:i + (oh - 1) * stride[0] + 1:stride[0]]
    out /= _avg_divisor_2d((h, w), (oh, ow), kernel, stride, padding, count_include_pad,
                           divisor_override, x.dtype)
    return out


def avg_pool2d_backward(dy: np.ndarray, input_hw: Pair, kernel: Pair, stride: Pair, padding: Pair,
                        ceil_mode: bool, count_include_pad: bool,
                        divisor_override: int | None) -> np.ndarray:
    """Gradient of avg_pool2d: spread dy / divisor evenly over each window (overlaps add).

    The mirror image of the separable forward: rows first, then columns, then crop the padding.
    """
    _check_4d_float(dy, "avg_pool2d_backward")
    n, c, oh, ow = dy.shape
    h, w = input_hw
    kh, kw = kernel
    one = (1, 1)
    expected = _out_hw((h, w), kernel, stride, padding, one, ceil_mode)
    if (oh, ow) != expected:
        raise ValueError(f"avg_pool2d_backward: the gradient is {oh}x{ow} but avg_pool2d of a {h}x{w} input "
                         f"gives {expected[0]}x{expected[1]} (kernel_size={kernel}, stride={stride}, "
                         f"padding={padding}, ceil_mode={ceil_mode})")
    rows, cols = _padded_shape((h, w), (oh, ow), kernel, stride, padding, one)
    pt, pl = padding

    g = dy / _avg_divisor_2d((h, w), (oh, ow), kernel, stride, padding, count_include_pad,
                             divisor_override, dy.dtype)
    g = g.astype(dy.dtype, copy=False)
    row_grad = np.zeros((n, c, rows, ow), dtype=dy.dtype)
    for i in range(kh):
        row_grad[:, :, i:i + (oh - 1) * stride[0] + 1:stride[0]] += g
    dxp = np.zeros((n, c, rows, cols), dtype=dy.dtype)
    for j in range(kw):
        dxp[..., j:j + (ow - 1) * stride[1] + 1:stride[1]] += row_grad
    if (rows, cols) == (h, w):
        return dxp
    return np.ascontiguousarray(dxp[:, :, pt:pt + h, pl:pl + w])


# ----------------------------------------------------------------------------------------------
# adaptive average pool


def _adaptive_matrix(in_size: int, out: int, dtype: np.dtype) -> np.ndarray:
    """(out, in) matrix whose row i averages PyTorch's window floor(i*in/out) .. ceil((i+1)*in/out)."""
    i = np.arange(out, dtype=np.int64)
    start = (i * in_size) // out
    end = -((-(i + 1) * in_size) // out)
    cols = np.arange(in_size, dtype=np.int64)
    inside = (cols[None, :] >= start[:, None]) & (cols[None, :] < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def adaptive_avg_pool2d(x: np.ndarray, output_size: Pair) -> np.ndarray:
    """Adaptive average pool: out = A_h @ x @ A_w.T per plane, with PyTorch's windows.

    The windows along each axis form an averaging matrix, so the pool is two GEMMs.
    """
    _check_4d_float(x, "adaptive_avg_pool2d")
    n, c, h, w = x.shape
    oh, ow = output_size
    a_h = _adaptive_matrix(h, oh, x.dtype)
    a_w = _adaptive_matrix(w, ow, x.dtype)
    t = x.reshape(n * c * h, w) @ a_w.T  # one GEMM over every row of every plane
    out = a_h @ t.reshape(n * c, h, ow)  # batched (OH, H) @ (H, OW)
    return out.reshape(n, c, oh, ow)


def adaptive_avg_pool2d_backward(dy: np.ndarray, input_hw: Pair) -> np.ndarray:
    """Gradient of adaptive_avg_pool2d: dx = A_h.T @ dy @ A_w per plane."""
    _check_4d_float(dy, "adaptive_avg_pool2d_backward")
    n, c, oh, ow = dy.shape
    h, w = input_hw
    a_h = _adaptive_matrix(h, oh, dy.dtype)
    a_w = _adaptive_matrix(w, ow, dy.dtype)
    t = dy.reshape(n * c * oh, ow) @ a_w  # (N*C*OH, W)
    dx = a_h.T @ t.reshape(n * c, oh, w)  # batched (H, OH) @ (OH, W)
    return dx.reshape(n, c, h, w)

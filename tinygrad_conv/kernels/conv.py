"""Convolution kernels on plain arrays: conv2d, its input and weight gradients, conv_transpose2d.

Nothing here knows about tensors or the tape; every function takes and returns arrays and keeps
their dtype. Arguments arrive already normalised by the caller: ``stride`` and ``dilation`` are
``(sh, sw)`` pairs, ``padding`` is ``((top, bottom), (left, right))``.

How the fast path works
-----------------------
Every conv here is im2col + one GEMM per sample or batch chunk (+ col2im for the input
gradient). Each kernel has a few variants of that (:data:`VARIANTS`: how the work is split into
GEMMs, whether rows carry junk columns, whether a stride-1 conv gathers whole input rows and
shifts them instead of gathering every tap), and a float32 3x3 stride-1 layer with enough channels may
run Winograd's algorithm (winograd.py) instead: the first call of each shape times the variants
that apply and keeps the fastest (see :data:`ALGORITHM`). On a 2-core machine the GEMMs run near
OpenBLAS's peak whatever the layout; what separates a fast NumPy conv from a slow one is the
copying around them, and NumPy pays about 7 ns per inner loop of a strided copy and 35 ns per
inner loop of a strided in-place add, on top of the bandwidth. So the layouts below exist to
make every copy and add a few long runs.

1. *Phase layout.* Along one axis, tap ``i`` of output ``o`` reads padded position
   ``r = i*d + s*o``. Splitting ``r`` by its remainder modulo ``s`` ("phase" ``r % s``, row
   ``r // s``) turns every tap into a unit-stride range of phase rows, so strided convolutions
   gather and scatter with unit-stride runs too.
2. *Flat rows with a pitch.* Each phase image is stored flat with a row pitch ``q`` slightly
   wider than the output width, so the ``OH`` rows of one tap are one run of ``OH*q`` elements
   instead of ``OH`` runs of ``OW``. On 8-16 pixel wide images this halved im2col and col2im.
   The ``q - OW`` extra "junk" columns per row cost that fraction of extra GEMM work (2/16 on a
   16 pixel wide 3x3 layer, 4/8 on an 8 pixel wide 5x5 one) and are made harmless: their
   upstream gradient is zero, and junk outputs are never shown.
3. *Tap-major column gradient.* See :func:`_input_grad`: col2im adds one contiguous block per
   sample and tap.
4. *Batch chunks sized for the cache.* The batch is processed in chunks whose column matrix is
   about ``_CACHE_TARGET`` bytes, so the GEMM output is still in cache when col2im reads it and
   the buffers are reused across chunks. This is also how the memory budget is honoured: one
   forward + backward peaks under the whole-batch column matrix.
5. *Scratch kept between calls.* The buffers come from ``workspace.py``, which keeps them for
   the next call of the thread: memory freed at the end of every call may go back to the system
   and be faulted in again, page by page, on the next, which cost more than the conv itself on
   small layers.

Layouts measured against these (whole-batch (N*OH*OW, K), (K, N*OH*OW) and per-sample columns)
are in ``benchmarks/experiments/conv_layouts.py``; the measurements behind each choice are in
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import partial
from math import gcd, prod
from typing import Any, TypeVar, cast

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import array_module, winograd, workspace
from .reduce import sum_axes

Pair = tuple[int, int]
_Result = TypeVar("_Result")  # what a kernel's variants return: an array, or conv2d_and_weight_grad's pair
PadPairs = tuple[tuple[int, int], tuple[int, int]]

# Upper bound (bytes) on the column matrix of one batch chunk; larger batches are split.
_MEMORY_BUDGET = 512 * 2**20
# Preferred size (bytes) of one chunk's column matrix: small enough that a chunk's GEMM output is
# still in L2/L3 when col2im or the next GEMM reads it (1-4 MiB chunks measured alike, the whole
# batch at once slower; see benchmarks/RESULTS.md).
_CACHE_TARGET = 2 * 2**20


def set_memory_budget(nbytes: int) -> None:
    """Set the largest column matrix (in bytes) one batch chunk may allocate."""
    global _MEMORY_BUDGET
    if nbytes <= 0:
        raise ValueError(f"memory budget must be positive, got {nbytes}")
    _MEMORY_BUDGET = int(nbytes)


def get_memory_budget() -> int:
    """Return the current column-matrix memory budget in bytes."""
    return _MEMORY_BUDGET


# ----------------------------------------------------------------------------------------------
# Output sizes
# ----------------------------------------------------------------------------------------------


def conv2d_output_size(in_size: int, kernel: int, stride: int, pad_total: int, dilation: int) -> int:
    """Output length of a convolution along one axis (PyTorch's formula, floored)."""
    return (in_size + pad_total - dilation * (kernel - 1) - 1) // stride + 1


def conv_transpose2d_output_size(
    in_size: int, kernel: int, stride: int, pad: int, output_padding: int, dilation: int
) -> int:
    """Output length of a transposed convolution along one axis (PyTorch's formula)."""
    return (in_size - 1) * stride - 2 * pad + dilation * (kernel - 1) + output_padding + 1


# ----------------------------------------------------------------------------------------------
# Small building blocks (simple forms; the conv kernels below use the phase layout instead)
# ----------------------------------------------------------------------------------------------


def pad2d(x: np.ndarray, padding: PadPairs) -> np.ndarray:
    """Zero-pad the last two axes of ``x`` by ``((top, bottom), (left, right))``."""
    (pt, pb), (pl, pr) = padding
    xp = array_module(x)
    out = xp.zeros(x.shape[:-2] + (x.shape[-2] + pt + pb, x.shape[-1] + pl + pr), dtype=x.dtype)
    out[..., pt : pt + x.shape[-2], pl : pl + x.shape[-1]] = x
    return out


def dilate2d(x: np.ndarray, stride: Pair) -> np.ndarray:
    """Insert ``s - 1`` zeros between neighbouring elements of the last two axes.

    A length ``H`` axis becomes ``(H - 1) * s + 1``; this is how a stride turns into a dilation
    of the upstream gradient in the textbook form of the conv input gradient.
    """
    sh, sw = stride
    h, w = x.shape[-2:]
    xp = array_module(x)
    out = xp.zeros(x.shape[:-2] + ((h - 1) * sh + 1, (w - 1) * sw + 1), dtype=x.dtype)
    out[..., ::sh, ::sw] = x
    return out


def _windows(xpad: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair, out_hw: Pair) -> np.ndarray:
    """Read-only view (N, C, kh, kw, OH, OW) of the sliding windows of a padded input."""
    n, c = xpad.shape[:2]
    s_n, s_c, s_h, s_w = xpad.strides
    return as_strided(
        xpad,
        shape=(n, c, kernel[0], kernel[1], out_hw[0], out_hw[1]),
        strides=(s_n, s_c, dilation[0] * s_h, dilation[1] * s_w, stride[0] * s_h, stride[1] * s_w),
        writeable=False,
    )


def im2col(x: np.ndarray, kernel_size: Pair, stride: Pair, padding: PadPairs, dilation: Pair) -> np.ndarray:
    """Column matrix of ``x`` (N, C, H, W) as (N, C*kh*kw, OH*OW), rows ordered (c, i, j)."""
    n, c, h, w = x.shape
    oh = conv2d_output_size(h, kernel_size[0], stride[0], sum(padding[0]), dilation[0])
    ow = conv2d_output_size(w, kernel_size[1], stride[1], sum(padding[1]), dilation[1])
    win = _windows(pad2d(x, padding), kernel_size, stride, dilation, (oh, ow))
    return win.reshape(n, c * kernel_size[0] * kernel_size[1], oh * ow)  # the one copy


def col2im(
    cols: np.ndarray,
    x_shape: tuple[int, int, int, int],
    kernel_size: Pair,
    stride: Pair,
    padding: PadPairs,
    dilation: Pair,
) -> np.ndarray:
    """Adjoint of :func:`im2col`: scatter-add (N, C*kh*kw, OH*OW) columns back onto (N, C, H, W).

    One strided-slice add per kernel tap (kh*kw adds), then the padding is cropped off.
    """
    n, c, h, w = x_shape
    kh, kw = kernel_size
    (pt, pb), (pl, pr) = padding
    oh = conv2d_output_size(h, kh, stride[0], pt + pb, dilation[0])
    ow = conv2d_output_size(w, kw, stride[1], pl + pr, dilation[1])
    xp = array_module(cols)
    out = xp.zeros((n, c, h + pt + pb, w + pl + pr), dtype=cols.dtype)
    c6 = cols.reshape(n, c, kh, kw, oh, ow)
    for i in range(kh):
        r0 = i * dilation[0]
        rows = slice(r0, r0 + stride[0] * (oh - 1) + 1, stride[0])
        for j in range(kw):
            c0 = j * dilation[1]
            out[:, :, rows, c0 : c0 + stride[1] * (ow - 1) + 1 : stride[1]] += c6[:, :, i, j]
    return out[:, :, pt : pt + h, pl : pl + w]


# ----------------------------------------------------------------------------------------------
# Phase layout: the geometry shared by the fast kernels
# ----------------------------------------------------------------------------------------------


def _every(start: int, count: int, step: int) -> slice:
    """The slice of ``count`` indices ``start, start + step, ...``."""
    return slice(start, start + step * (count - 1) + 1, step)


def _phase_map(size: int, pad: int, stride: int) -> list[tuple[int, int, int]]:
    """For each phase ``a``: (first index, first phase row, count) of the positions of a length
    ``size`` axis (padded by ``pad`` in front) whose padded position ``h + pad`` is ``a`` mod
    ``stride``. Index ``h0 + t*stride`` lives at phase row ``r0 + t``."""
    out = []
    for a in range(stride):
        h0 = (a - pad) % stride
        out.append((h0, (h0 + pad) // stride, len(range(h0, size, stride))))
    return out


class _Axis:
    """Index arithmetic of one spatial axis of a convolution in phase form.

    ``extra`` is how many phase rows past the output length a tap can reach, and
    ``taps[i] = (phase, shift)``: tap ``i`` of output ``o`` reads phase ``(i*d) % s`` at row
    ``shift + o``.
    """

    def __init__(self, k: int, s: int, d: int) -> None:
        self.k, self.s, self.d = k, s, d
        self.extra = (k - 1) * d // s
        self.taps = [((i * d) % s, (i * d) // s) for i in range(k)]

    def tap_classes(self) -> list[tuple[int, int, int, int, int, int]]:
        """Group taps that share a phase and are evenly spaced in it, so one strided view covers
        a whole group: (first tap, tap step, count, phase, first shift, shift step)."""
        g = gcd(self.s, self.d)
        step = self.s // g
        return [
            (i0, step, len(range(i0, self.k, step)), (i0 * self.d) % self.s, (i0 * self.d) // self.s, self.d // g)
            for i0 in range(min(self.k, step))
        ]


class _Plan:
    """Geometry of one conv2d-shaped problem: input (N, C, H, W) -> output (N, F, OH, OW).

    Each phase image is stored flat, ``flat`` elements: ``rows`` rows of pitch ``q`` plus
    ``slack`` so that the junk tail of the last tap's run stays inside the image. The forward and
    weight-gradient buffers are (sh, sw, n, C, flat); the input gradient keeps one flat run of
    n*C*flat elements per phase (see :func:`_input_grad`). ``run = OH*row`` is one tap's window
    over all output rows: the row length of every column matrix. ``row`` is the pitch ``q``, junk
    columns included, unless the plan is made ``pitched=False`` (rows of exactly OW; the input
    gradient is always pitched).
    """

    def __init__(
        self,
        n: int,
        c: int,
        hw: Pair,
        f: int,
        groups: int,
        kernel: Pair,
        stride: Pair,
        padding: PadPairs,
        dilation: Pair,
        out_hw: Pair,
        cover_input: bool,
        pitched: bool = True,
    ) -> None:
        self.n, self.c, self.f, self.g = n, c, f, groups
        self.h, self.w = hw
        self.kh, self.kw = kernel
        self.pt, self.pl = padding[0][0], padding[1][0]
        self.oh, self.ow = out_hw
        self.ah = _Axis(kernel[0], stride[0], dilation[0])
        self.aw = _Axis(kernel[1], stride[1], dilation[1])
        rows = self.oh + self.ah.extra
        q = self.ow + self.aw.extra
        if cover_input:
            # col2im writes the whole input back, including rows/cols no tap reaches (they stay 0)
            rows = max(rows, -(-(self.pt + self.h) // stride[0]))
            q = max(q, -(-(self.pl + self.w) // stride[1]))
        self.rows, self.q = rows, q
        self.slack = self.aw.extra
        self.flat = rows * q + self.slack
        # A column row holds OH rows of ``row`` elements: the pitch q (one long run per tap, junk
        # columns included) or, unpitched, exactly OW (no junk, OH short runs per tap)
        self.row = q if pitched else self.ow
        self.run = self.oh * self.row
        self.cg, self.fg = c // groups, f // groups
        self.kg = self.cg * self.kh * self.kw

    @property
    def has_junk(self) -> bool:
        return self.row != self.ow

    def chunk(self, itemsize: int, row: int | None = None) -> int:
        """Samples per batch chunk: column matrix (C*kh*kw rows of ``row`` elements, ``run`` by
        default) near the cache target, never over the memory budget (unless one sample is)."""
        per_sample = self.c * self.kh * self.kw * (self.run if row is None else row) * itemsize
        limit = min(_CACHE_TARGET, _MEMORY_BUDGET)
        return max(1, min(self.n, limit // max(per_sample, 1)))

    def phase_view(self, buf: np.ndarray) -> np.ndarray:
        """(sh, sw, n, C, rows, q) view of a flat phase buffer (sh, sw, n, C, flat)."""
        return buf[..., : self.rows * self.q].reshape(buf.shape[:-1] + (self.rows, self.q))

    def fill_phases(self, buf: np.ndarray, x: np.ndarray) -> None:
        """Copy input chunk ``x`` (m, C, H, W) into the phase buffer; padding stays zero."""
        p6 = self.phase_view(buf)
        m = x.shape[0]
        for a, (h0, r0, ch) in enumerate(_phase_map(self.h, self.pt, self.ah.s)):
            ch = min(ch, self.rows - r0)  # rows past the last one a tap reads are not needed
            if ch <= 0:
                continue
            for b, (w0, c0, cw) in enumerate(_phase_map(self.w, self.pl, self.aw.s)):
                cw = min(cw, self.q - c0)
                if cw <= 0:
                    continue
                src = x[:, :, _every(h0, ch, self.ah.s), _every(w0, cw, self.aw.s)]
                p6[a, b, :m, :, r0 : r0 + ch, c0 : c0 + cw] = src

    def read_phases(self, buf: np.ndarray, out: np.ndarray) -> None:
        """Copy the phase buffer (sh, sw, m, C, flat) back into ``out`` (m, C, H, W)."""
        p6 = self.phase_view(buf)
        m = out.shape[0]
        for a, (h0, r0, ch) in enumerate(_phase_map(self.h, self.pt, self.ah.s)):
            for b, (w0, c0, cw) in enumerate(_phase_map(self.w, self.pl, self.aw.s)):
                if ch > 0 and cw > 0:
                    dst = out[:, :, _every(h0, ch, self.ah.s), _every(w0, cw, self.aw.s)]
                    dst[...] = p6[a, b, :m, :, r0 : r0 + ch, c0 : c0 + cw]

    def gather(self, buf: np.ndarray, m: int, cols: np.ndarray) -> None:
        """im2col: copy the windows of the first ``m`` samples of a phase buffer into ``cols``,
        a (m, G, Cg, kh, kw, run) view (any memory order, the last axis contiguous). One copy per
        group of taps; with the pitch, NumPy merges each tap's OH rows into one run."""
        it = buf.itemsize
        cols = cols.reshape(cols.shape[:5] + (self.oh, self.row))  # splits the contiguous axis: a view
        for i0, istep, ni, a, sh0, dsh in self.ah.tap_classes():
            for j0, jstep, nj, b, sw0, dsw in self.aw.tap_classes():
                src = buf[a, b, :m, :, sh0 * self.q + sw0 :]
                s_n, s_c = src.strides[0], src.strides[1]
                win = as_strided(
                    src,
                    shape=(m, self.g, self.cg, ni, nj, self.oh, self.row),
                    strides=(s_n, self.cg * s_c, s_c, dsh * self.q * it, dsw * it, self.q * it, it),
                    writeable=False,
                )
                cols[:, :, :, i0::istep, j0::jstep] = win


def _check_pair(op: str, x: np.ndarray, other: np.ndarray, name: str) -> None:
    """Both arrays 4-d and of one dtype. Raised (not asserted, which ``python -O`` strips), since
    the registered ops can be called with any arrays."""
    if x.ndim != 4 or other.ndim != 4:
        raise ValueError(f"{op}: expected a 4-d input and a 4-d {name}, got shapes {x.shape} and {other.shape}")
    if x.dtype != other.dtype:
        raise TypeError(f"{op}: the input ({x.dtype}) and the {name} ({other.dtype}) must have the same dtype")


def _flat_buffer(xp: Any, shape: tuple[int, ...], dtype: Any, zero: bool, role: str) -> np.ndarray:
    """A flat buffer of prod(shape) elements whose chunk-sized prefixes are contiguous (see
    :func:`_prefix`): NumPy's comes from the thread's kept scratch for ``role`` (workspace.py)."""
    if xp is np:
        return workspace.take(role, (prod(shape),), dtype, zero)
    size = prod(shape)
    return xp.zeros(size, dtype=dtype) if zero else xp.empty(size, dtype=dtype)


def _prefix(flat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Contiguous view of the first prod(shape) elements of a flat buffer."""
    return flat[: prod(shape)].reshape(shape)


# ----------------------------------------------------------------------------------------------
# The three conv kernels
# ----------------------------------------------------------------------------------------------


def _conv_plan(
    x_shape: tuple[int, ...],
    f: int,
    groups: int,
    kernel: Pair,
    stride: Pair,
    padding: PadPairs,
    dilation: Pair,
    cover_input: bool,
    out_hw: Pair | None = None,
    pitched: bool = True,
) -> _Plan:
    n, c, h, w = x_shape
    oh = conv2d_output_size(h, kernel[0], stride[0], sum(padding[0]), dilation[0])
    ow = conv2d_output_size(w, kernel[1], stride[1], sum(padding[1]), dilation[1])
    if oh <= 0 or ow <= 0:
        raise ValueError(f"conv2d: the kernel {kernel} (dilation {dilation}) does not fit the padded input "
                         f"{h}x{w} with padding {padding}: the output would be {oh}x{ow}")
    if out_hw is not None:
        # fewer outputs than the input allows is fine: the windows past them are simply unused
        if out_hw[0] > oh or out_hw[1] > ow:
            raise ValueError(f"conv2d_weight_grad: grad_output is {out_hw[0]}x{out_hw[1]} but a {h}x{w} input "
                             f"gives at most {oh}x{ow} outputs with kernel {kernel}, stride {stride}, "
                             f"padding {padding}, dilation {dilation}")
        oh, ow = out_hw
    return _Plan(n, c, (h, w), f, groups, kernel, stride, padding, dilation, (oh, ow), cover_input, pitched)


def _use_winograd(a: np.ndarray, kernel: Pair, stride: Pair, dilation: Pair, groups: int, c_in: int,
                  c_out: int) -> bool:
    """Whether Winograd (kernels/winograd.py) can run a conv of this shape: NumPy arrays only (it
    allocates its work arrays with NumPy, where the im2col path follows the input's array namespace)
    and the shapes :func:`winograd.applies` accepts. Whether it then runs is :func:`_pick`'s call."""
    return array_module(a) is np and winograd.applies(a.dtype, kernel, stride, dilation, groups, c_in, c_out)


#: The variants a conv kernel can run. Each kernel offers those that apply to it, plain "im2col"
#: first; they differ in layout and in how the work is split into GEMMs, not in what is computed:
#:
#: - ``"im2col"``: every kernel, with the layouts of the module docstring;
#: - ``"batched"``: forward only, one GEMM (F, K) @ (K, m*run) per batch chunk, in the weight
#:   gradient's column layout, then one transposing copy into (N, F, OH, OW): fewer, larger GEMMs;
#: - ``"exact"``: forward only, column rows of exactly OW instead of the pitch: no junk columns to
#:   multiply or crop, at the price of OH short runs per tap in the gather;
#: - ``"per_sample"``: weight gradient only, one GEMM per sample in the forward's column layout,
#:   summed over the chunk: the upstream gradient is not transposed;
#: - ``"per_sample_exact"``: the same on rows of exactly OW, so the upstream gradient is not copied;
#: - ``"gather_rows"``: stride-1 convs, all three kernels: only whole rows are gathered (kh taps, not
#:   kh*kw) and the kw taps along a row are shifts: of the upstream gradient inside the GEMM (input
#:   and weight gradients; col2im then adds kh blocks instead of kh*kw) or kw - 1 long adds of the
#:   forward GEMM's output;
#: - ``"winograd"``: kernels/winograd.py (3x3 stride-1 float32 layers with many channels).
#: - ``"shared"`` and ``"shared_batched"``: :func:`conv2d_and_weight_grad` only (a transposed conv's
#:   backward), one gather of the columns for both of its GEMMs, per-sample or batched.
VARIANTS = ("im2col", "batched", "exact", "per_sample", "per_sample_exact", "gather_rows", "winograd", "shared",
            "shared_batched")

#: How a conv picks its variant. "benchmark" (the default) times the variants a kernel offers on its
#: first call of each shape and keeps the fastest (plain im2col unless another is at least 5%
#: faster), as ``torch.backends.cudnn.benchmark`` does: which one wins depends on the machine (its
#: BLAS kernels, caches, core count and load), so a rule measured on one machine is wrong on another.
#: The shape's first call at least ``_RECHECK_AFTER`` seconds later times them once more, and the
#: fastest over both timings is kept for the rest of the process. Small problems offer only
#: Winograd, where it applies. A name from :data:`VARIANTS` forces that variant wherever a kernel
#: offers it and plain im2col elsewhere (tests and benchmarks use this). The variants differ by
#: rounding only; within a process a shape keeps its final choice, but two processes may choose
#: differently where the timings are close, so a run that must repeat bit for bit in another process
#: forces one (as ``torch.backends.cudnn.deterministic`` does).
ALGORITHM = "benchmark"
# (kernel, shapes, conv arguments, dtype) -> the variant that won. Bounded: a process that sees ever
# new shapes measures them again rather than growing without end.
_choices: dict[tuple[Any, ...], str] = {}
_MAX_CHOICES = 1024
# On a shape's first call each variant runs once untimed (its first call pays for fresh memory and
# cold caches), then _TRIES rounds in which each runs a block of _BLOCK timed calls back to back; the
# smallest minimum wins. Blocks, as benchmarks/timing.py times its sides: a call right after another
# variant's may pay for what that one left behind (OpenBLAS's threads busy or asleep, the caches
# full of its buffers), which a variant that keeps running does not.
_TRIES = 3
_BLOCK = 2
# A shape's choice is timed twice, on its first call and on its first call at least _RECHECK_AFTER
# seconds later, and each variant's minimum over both timings decides. On a shared machine the load
# can slow a variant's calls by half for a second or more; a single timing made then can settle a
# shape on a variant twice as slow as another for the whole process (benchmarks/RESULTS.md). The
# second timing, made after such a spell has likely passed, gives every variant another chance at
# its real speed.
_RECHECK_AFTER = 1.0
# Keys timed once and not yet again -> (each variant's minimum so far, when the second timing is
# due, by time.perf_counter). A key in _choices but not here has its final choice.
_rechecks: dict[tuple[Any, ...], tuple[dict[str, float], float]] = {}
# Another variant replaces plain im2col only when it took at most this fraction of im2col's time: a
# single shape's timing is a few calls, and on a busy machine their noise alone would otherwise
# switch shapes to variants that are no faster.
_MARGIN = 0.95
# The im2col variants besides the plain one are offered only where the column matrix has at least
# this many bytes: on smaller problems they gain little and timing them would cost more than it saves.
_TIMED_MIN_BYTES = 2**20


def _offer(plan: _Plan, a: np.ndarray, names: dict[str, bool]) -> list[str]:
    """Plain "im2col", then those of ``names`` whose condition holds; when the choice is measured,
    only for NumPy problems big enough to be worth timing (see ``_TIMED_MIN_BYTES``)."""
    cols_bytes = plan.c * plan.kh * plan.kw * plan.n * plan.run * a.itemsize
    if ALGORITHM == "benchmark" and (array_module(a) is not np or cols_bytes < _TIMED_MIN_BYTES):
        return ["im2col"]
    return ["im2col"] + [name for name, applies in names.items() if applies]


def _pick(key: tuple[Any, ...], candidates: Mapping[str, Callable[[], _Result | None]]) -> _Result:
    """The result of one of a kernel's variants (name -> call): the one :data:`ALGORITHM` forces, or
    the fastest measured for ``key`` (the plain variant unless another beats it by ``_MARGIN``),
    timed on the key's first call and again on its first call ``_RECHECK_AFTER`` seconds later. The
    first is the plain one (im2col; for :func:`conv2d_and_weight_grad`, its two kernels called
    separately), which always returns a result; Winograd returns None on input that is not finite,
    and then the plain variant's result is returned."""
    if ALGORITHM != "benchmark" and ALGORITHM not in VARIANTS:
        raise ValueError(f"conv kernels: ALGORITHM must be 'benchmark' or one of {VARIANTS}, got {ALGORITHM!r}")
    plain = next(iter(candidates))
    earlier: dict[str, float] | None = None  # the first timing's minima, when this call times again
    if ALGORITHM != "benchmark":
        chosen: str | None = ALGORITHM if ALGORITHM in candidates else plain
    elif len(candidates) == 1:
        chosen = plain
    else:
        chosen = _choices.get(key)
        pending = _rechecks.get(key) if chosen is not None else None
        if pending is not None and time.perf_counter() >= pending[1]:
            # pop, not del: another thread calling the same shape may have taken the re-check first
            if _rechecks.pop(key, None) is not None:
                earlier = pending[0]
                chosen = None  # this call times the variants again
    if chosen is not None:
        return _run_variant(candidates, chosen)
    timed = _time_variants(candidates)
    if timed is None:  # not finite: im2col's answer is the reference, and this is no timing
        return cast(_Result, candidates[plain]())
    best, kept = timed
    if earlier is not None:
        best = {name: min(t, earlier.get(name, t)) for name, t in best.items()}
    winner = min(best, key=best.__getitem__)
    if best[winner] > _MARGIN * best[plain]:
        winner = plain
    if len(_choices) >= _MAX_CHOICES:
        _choices.clear()
        _rechecks.clear()
    _choices[key] = winner
    if earlier is None:
        _rechecks[key] = (best, time.perf_counter() + _RECHECK_AFTER)
    # the winner over both timings may not be this timing's fastest, whose result alone was kept
    return kept[winner] if winner in kept else _run_variant(candidates, winner)


def _run_variant(candidates: Mapping[str, Callable[[], _Result | None]], name: str) -> _Result:
    """The result of variant ``name``, or of the plain (first) one where it returned None."""
    out = candidates[name]()
    return cast(_Result, next(iter(candidates.values()))()) if out is None else out


def _time_variants(candidates: Mapping[str, Callable[[], _Result | None]]
                   ) -> tuple[dict[str, float], dict[str, _Result]] | None:
    """Each variant's minimum time over ``_TRIES`` blocks (after one untimed call each), and the last
    results of the plain variant and of the fastest other; None when a variant returned None."""
    plain = next(iter(candidates))
    best = dict.fromkeys(candidates, float("inf"))
    kept: dict[str, _Result] = {}
    for attempt in range(_TRIES + 1):
        for name, run in candidates.items():
            calls = _BLOCK if attempt else 1  # the first round warms up: one untimed call each
            for call in range(calls):
                t0 = time.perf_counter()
                out = run()
                elapsed = time.perf_counter() - t0
                if out is None:
                    return None
                if attempt:
                    best[name] = min(best[name], elapsed)
                if attempt == _TRIES and call == calls - 1:
                    kept[name] = out
                    for slower in sorted((n for n in kept if n != plain), key=best.__getitem__)[1:]:
                        del kept[slower]
                del out  # not alive during the next call
    return best, kept


def conv2d(x: np.ndarray, w: np.ndarray, stride: Pair, padding: PadPairs, dilation: Pair, groups: int,
           bias: np.ndarray | None = None) -> np.ndarray:
    """Cross-correlate ``x`` (N, C, H, W) with ``w`` (F, C//groups, kh, kw), plus ``bias`` (F,)
    when given.

    Returns a C-contiguous (N, F, OH, OW) array. When the kernel is wider than one stride the
    GEMM writes rows with a few junk columns and each chunk is then copied out without them:
    handing out a view that skips the junk instead would make every later elementwise op pay
    NumPy's ~35 ns per row of a strided ufunc loop, while the copy pays ~7 ns per row.
    """
    _check_conv2d(x, w, groups, bias)
    if x.shape[0] == 0:
        # An empty batch: nothing to compute, but the output has the size it would have.
        oh = conv2d_output_size(x.shape[2], w.shape[2], stride[0], sum(padding[0]), dilation[0])
        ow = conv2d_output_size(x.shape[3], w.shape[3], stride[1], sum(padding[1]), dilation[1])
        return array_module(x).zeros((0, w.shape[0], oh, ow), dtype=x.dtype)
    plan = _conv_plan(x.shape, w.shape[0], groups, w.shape[2:], stride, padding, dilation, False)
    names = _offer(plan, x, {"batched": True, "exact": plan.has_junk, "gather_rows": stride == (1, 1)})
    candidates: dict[str, Callable[[], np.ndarray | None]] = {
        name: partial(_conv2d_im2col, x, w, stride, padding, dilation, groups, name, bias)
        for name in names if name != "gather_rows"}
    if "gather_rows" in names:
        candidates["gather_rows"] = partial(_conv2d_gather_rows, x, w, padding, dilation, groups, bias)
    if _use_winograd(x, w.shape[2:], stride, dilation, groups, x.shape[1], w.shape[0]):
        candidates["winograd"] = partial(_winograd_conv2d, x, w, padding, bias)
    return _pick(("conv2d", x.shape, w.shape, stride, padding, dilation, groups, x.dtype, bias is None),
                 candidates)


def _winograd_conv2d(x: np.ndarray, w: np.ndarray, padding: PadPairs, bias: np.ndarray | None) -> np.ndarray | None:
    """Winograd's forward (None where it is not finite), then the bias added to its output."""
    y = winograd.conv2d(x, w, padding, min(_CACHE_TARGET, _MEMORY_BUDGET))
    if y is not None and bias is not None:
        y += bias.reshape(1, -1, 1, 1)
    return y


def _check_conv2d(x: np.ndarray, w: np.ndarray, groups: int, bias: np.ndarray | None = None) -> None:
    _check_pair("conv2d", x, w, "weight")
    if x.shape[1] != w.shape[1] * groups or w.shape[0] % groups:
        raise ValueError(f"conv2d: input {x.shape} and weight {w.shape} do not match with groups={groups} "
                         "(weight is (F, C/groups, kh, kw), F divisible by groups)")
    if bias is not None and (bias.shape != (w.shape[0],) or bias.dtype != x.dtype):
        raise ValueError(f"conv2d: the bias must be a ({w.shape[0]},) array of the input's dtype {x.dtype}, one "
                         f"value per output channel; got shape {bias.shape}, dtype {bias.dtype}")


def _check_weight_grad(x: np.ndarray, dy: np.ndarray, groups: int) -> None:
    _check_pair("conv2d_weight_grad", x, dy, "grad_output")
    if x.shape[0] != dy.shape[0]:
        raise ValueError(f"conv2d_weight_grad: input {x.shape} and grad_output {dy.shape} have different "
                         "batch sizes")
    if x.shape[1] % groups or dy.shape[1] % groups:
        raise ValueError(f"conv2d_weight_grad: groups={groups} must divide the channels of input {x.shape} "
                         f"and grad_output {dy.shape}")


def _conv2d_im2col(x: np.ndarray, w: np.ndarray, stride: Pair, padding: PadPairs, dilation: Pair,
                   groups: int, variant: str = "im2col", bias: np.ndarray | None = None) -> np.ndarray:
    """The forward's im2col variants: "im2col" (per-sample GEMMs), "batched" (one GEMM per batch
    chunk) and "exact" (per-sample GEMMs on rows without junk columns); see :data:`VARIANTS`.
    A bias is one more column of the weight, against a row of ones in the columns: the GEMM adds
    it, where adding it afterwards would be one more pass over the whole output."""
    xp = array_module(x)
    plan = _conv_plan(x.shape, w.shape[0], groups, w.shape[2:], stride, padding, dilation, False,
                      pitched=variant != "exact")
    batched = variant == "batched"
    ones_row = bias is not None
    m_max, phases, cols_flat = _gather_buffers(plan, xp, x.dtype, ones_row)
    y = xp.empty((plan.n, plan.f, plan.oh, plan.ow), dtype=x.dtype)
    wg = w.reshape(plan.g, plan.fg, plan.kg)
    if bias is not None:
        wg = xp.concatenate([wg, bias.reshape(plan.g, plan.fg, 1)], axis=2)  # (G, Fg, Kg + 1)
    rows_flat = _forward_rows(plan, xp, m_max, x.dtype, batched)
    for n0 in range(0, plan.n, m_max):
        m = min(m_max, plan.n - n0)
        cols = _gather_chunk(plan, phases, cols_flat, x[n0 : n0 + m], batched, ones_row)
        _forward_product(plan, wg, cols, rows_flat, y[n0 : n0 + m], batched)
    del cols_flat, phases, rows_flat
    return y


def _gather_buffers(plan: _Plan, xp: Any, dtype: Any, ones_row: bool = False) -> tuple[int, np.ndarray, np.ndarray]:
    """Samples per batch chunk, and the two buffers :func:`_gather_chunk` fills: the phase images
    (zero, so that the padding stays zero) and the flat column buffer (room for a row of ones per
    group when ``ones_row``)."""
    m_max = plan.chunk(np.dtype(dtype).itemsize)
    phases = _flat_buffer(xp, (plan.ah.s, plan.aw.s, m_max, plan.c, plan.flat), dtype, True, workspace.INPUT)
    phases = phases.reshape(plan.ah.s, plan.aw.s, m_max, plan.c, plan.flat)
    cols_flat = _flat_buffer(xp, (m_max, plan.g, plan.kg + ones_row, plan.run), dtype, False, workspace.COLUMNS)
    return m_max, phases, cols_flat


def _gather_chunk(plan: _Plan, phases: np.ndarray, cols_flat: np.ndarray, x: np.ndarray,
                  channel_major: bool, ones_row: bool = False) -> np.ndarray:
    """im2col of a batch chunk ``x`` (m, C, H, W) into the front of ``cols_flat``: (m, G, K, run),
    or channel-major (G, K, m, run), where each group's columns are one (K, m*run) matrix for a
    single GEMM over the chunk. K is Cg*kh*kw rows, plus a last row of ones when ``ones_row``: a
    bias column of the weight meets it in the forward GEMM, and in the weight gradient's GEMM it
    sums the upstream gradient into the bias gradient."""
    m, g, kg = x.shape[0], plan.g, plan.kg
    k = kg + ones_row
    plan.fill_phases(phases, x)
    if channel_major:
        cols = _prefix(cols_flat, (g, k, m, plan.run))
        taps = cols[:, :kg].reshape(g, plan.cg, plan.kh, plan.kw, m, plan.run).transpose(4, 0, 1, 2, 3, 5)
    else:
        cols = _prefix(cols_flat, (m, g, k, plan.run))
        taps = cols[:, :, :kg].reshape(m, g, plan.cg, plan.kh, plan.kw, plan.run)
    plan.gather(phases, m, taps)
    if ones_row:  # refilled per chunk: a shorter last chunk moves the channel-major rows
        if channel_major:
            cols[:, kg] = 1
        else:
            cols[:, :, kg] = 1
    return cols


def _forward_rows(plan: _Plan, xp: Any, m_max: int, dtype: Any, batched: bool) -> np.ndarray:
    """Where the forward GEMM writes unless it writes the output itself: rows with junk columns,
    or the batched layout; empty when the GEMM writes straight into the output."""
    direct = not (plan.has_junk or batched)
    return _flat_buffer(xp, (0 if direct else m_max, plan.f, plan.run), dtype, False, workspace.ROWS)


def _forward_product(plan: _Plan, wg: np.ndarray, cols: np.ndarray, rows_flat: np.ndarray, y: np.ndarray,
                     batched: bool) -> None:
    """The forward GEMM of one chunk's columns (from :func:`_gather_chunk`, channel-major when
    ``batched``) into ``y`` (m, F, OH, OW); ``wg`` is the weight as (G, Fg, K), K as the columns'."""
    xp = array_module(cols)
    m, g, run = y.shape[0], plan.g, plan.run
    if batched:
        out = _prefix(rows_flat, (g, plan.fg, m * run))
        xp.matmul(wg, cols.reshape(g, cols.shape[1], m * run), out=out)
        # one transposing copy into NCHW, junk columns dropped on the way
        y[...] = out.reshape(plan.f, m, plan.oh, plan.row)[..., : plan.ow].transpose(1, 0, 2, 3)
        return
    # per-sample GEMMs (Fg, K) @ (K, OH*row), written in NCHW order (with any junk columns)
    out = _prefix(rows_flat, (m, plan.f, plan.oh, plan.row)) if plan.has_junk else y
    xp.matmul(wg, cols, out=out.reshape(m, g, plan.fg, run))
    if plan.has_junk:
        y[...] = out[..., : plan.ow]  # while the chunk is still in cache


def _input_grad(
    dy: np.ndarray,
    w: np.ndarray,
    x_hw: Pair,
    stride: Pair,
    padding: PadPairs,
    dilation: Pair,
    groups: int,
) -> np.ndarray:
    """Gradient of conv2d w.r.t. an input of spatial size ``x_hw``: GEMM, then col2im.

    ``dy`` is (N, F, OH, OW), ``w`` is (F, C//groups, kh, kw); returns (N, C, *x_hw).

    The column gradient of one sample is laid out tap-major, (kh, kw, C) rows of pitch ``flat``
    (the phase-image size), zero past the ``run`` the GEMM writes. Then the rows of one tap for
    all channels line up with the phase images of all channels, so col2im adds one contiguous
    block of C*flat elements per sample and tap instead of C*kh*kw runs: the zeros spill
    harmlessly into the next channel (measured faster than the (C, kh, kw) row order on every
    benchmark shape).
    """
    xp = array_module(dy)
    n, f, oh, ow = dy.shape
    c = w.shape[1] * groups
    kh, kw = w.shape[2], w.shape[3]
    (pt, pb), (pl, pr) = padding
    if n == 0:
        return xp.zeros((0, c) + tuple(x_hw), dtype=dy.dtype)
    plan = _Plan(n, c, x_hw, f, groups, (kh, kw), stride, padding, dilation, (oh, ow), cover_input=True)
    names = _offer(plan, dy, {"gather_rows": stride == (1, 1)})
    candidates: dict[str, Callable[[], np.ndarray | None]] = {
        "im2col": partial(_input_grad_im2col, dy, w, x_hw, stride, padding, dilation, groups)}
    if "gather_rows" in names:
        candidates["gather_rows"] = partial(_input_grad_gather_rows, dy, w, x_hw, padding, dilation, groups)
    if (_use_winograd(dy, (kh, kw), stride, dilation, groups, f, c) and max(pt, pb, pl, pr) <= 2
            and tuple(x_hw) == (oh + 2 - pt - pb, ow + 2 - pl - pr)):
        candidates["winograd"] = partial(winograd.input_grad, dy, w, padding, min(_CACHE_TARGET, _MEMORY_BUDGET))
    return _pick(("input_grad", dy.shape, w.shape, tuple(x_hw), stride, padding, dilation, groups, dy.dtype),
                 candidates)


class _ShiftedDy:
    """The upstream gradient of a stride-1 conv as the (F*kw, m*run) operand of a "gather_rows" GEMM,
    one batch chunk at a time: row (f, s), for each sample, is dy's channel ``f`` in rows of ``pitch``
    columns (``run`` = OH of them) shifted right by ``(kw - 1 - s)*dw`` columns, so that tap column
    ``j = kw - 1 - s`` of a filter meets, at input column ``col``, dy's column ``col - j*dw``. dy's
    row ``o`` lies at ``o*pitch + ext`` (``ext = (kw-1)*dw``) in a zeroed buffer, and the pitch is at
    least ``OW + ext``: where a shift reaches past dy's row it reads the row's own leading zeros or
    the gap before the next row. One copy per chunk, channel-major (F, kw, m, run)."""

    def __init__(self, dy: np.ndarray, m_max: int, kw: int, dw: int, pitch: int, role: str) -> None:
        xp = array_module(dy)
        _, f, oh, ow = dy.shape
        self.dy, self.kw, self.dw, self.ow = dy, kw, dw, ow
        self.ext = (kw - 1) * dw
        self.run = oh * pitch
        self.flat = self.run + self.ext  # one channel of dy, zero around its rows
        padded = _flat_buffer(xp, (m_max, f, self.flat), dy.dtype, True, role)
        self.padded = padded.reshape(m_max, f, self.flat)
        self.rows = self.padded[:, :, : self.run].reshape(m_max, f, oh, pitch)
        self.shifted = _flat_buffer(xp, (f, kw, m_max, self.run), dy.dtype, False, workspace.ROWS)

    @staticmethod
    def elements_per_sample(f: int, kw: int, dw: int, run: int) -> int:
        """Elements of scratch a sample of the chunk takes (for the chunk size)."""
        return f * (run + (kw - 1) * dw) + f * kw * run

    def chunk(self, n0: int, m: int) -> np.ndarray:
        """Samples ``n0 : n0 + m`` shifted: (F, kw, m, run)."""
        f = self.dy.shape[1]
        self.rows[:m, :, :, self.ext : self.ext + self.ow] = self.dy[n0 : n0 + m]
        it = self.padded.itemsize
        sh = _prefix(self.shifted, (f, self.kw, m, self.run))
        sh[...] = as_strided(self.padded, shape=(f, self.kw, m, self.run),
                             strides=(self.flat * it, self.dw * it, f * self.flat * it, it), writeable=False)
        return sh


def _input_grad_gather_rows(dy: np.ndarray, w: np.ndarray, x_hw: Pair, padding: PadPairs, dilation: Pair,
                            groups: int) -> np.ndarray | None:
    """The input gradient of a stride-1 conv with the W taps gathered and only the H taps added.

    Row ``o`` of tap row ``i`` adds, at padded row ``o + i*dh``, the 1-D full correlation along W of
    dy's row ``o`` with the weights of that tap row: ``Z_i[c, o, col] = sum_{f, j} w[f, c, i, j] *
    dy[f, o, col - j*dw]``. Those sums over ``j`` are one GEMM over (F, kw) rows of dy shifted by
    ``j*dw`` (a gather, copies), so col2im adds kh blocks instead of kh*kw: on small layers with
    many taps (5x5), col2im's adds were the largest pass. The rows of dy lie ``ext = (kw-1)*dw``
    columns into rows of the padded input's width, so a shift reads zeros (the row's own front, or
    the gap before the next row) wherever the full correlation reaches past dy: every column of
    ``Z`` is a column of the padded input gradient, none is junk. One GEMM per group and batch chunk,
    columns (sample, row, col): per-sample GEMMs of these small shapes ran at half the BLAS's speed.
    None when ``w`` is not finite (the zeros the gather shifts in would meet inf or nan; im2col runs).
    """
    if not bool(np.isfinite(w).all()):
        return None
    xp = array_module(dy)
    n, f, oh, _ = dy.shape
    kw, dw = w.shape[3], dilation[1]
    to_input = _RowsToInput(w, groups, x_hw, padding, dilation)
    run = oh * to_input.pitch  # a GEMM row per sample: OH rows of the pitch
    per_sample = (_ShiftedDy.elements_per_sample(f, kw, dw, run) + to_input.elements_per_sample(run)) * dy.itemsize
    m_max = max(1, min(n, min(_CACHE_TARGET, _MEMORY_BUDGET) // per_sample))
    shifted = _ShiftedDy(dy, m_max, kw, dw, to_input.pitch, workspace.INPUT)
    z_flat = _flat_buffer(xp, (to_input.g, to_input.k, m_max, run), dy.dtype, False, workspace.COLUMNS)
    acc_flat = to_input.acc_buffer(m_max, dy)
    dx = xp.empty((n, to_input.c) + tuple(x_hw), dtype=dy.dtype)
    for n0 in range(0, n, m_max):
        m = min(m_max, n - n0)
        to_input.chunk(shifted.chunk(n0, m), z_flat, acc_flat, dx[n0 : n0 + m])
    del shifted, z_flat, acc_flat
    return dx


class _RowsToInput:
    """The input gradient's half of the "gather_rows" kernels, for a weight ``w`` and an input of
    spatial size ``x_hw``: per batch chunk one GEMM of the weight's tap rows (G, kh*Cg, Fg*kw) with
    :class:`_ShiftedDy`'s rows (pitch: the padded input's width), which gives tap row ``i``'s
    contribution at every padded input column of output row ``o``; then col2im along H, kh adds
    into the padded planes (tap row ``i`` lands ``i*dh`` rows down), and the crop into dx."""

    def __init__(self, w: np.ndarray, groups: int, x_hw: Pair, padding: PadPairs, dilation: Pair) -> None:
        g, cg, kh, kw = groups, w.shape[1], w.shape[2], w.shape[3]
        fg = w.shape[0] // g
        (pt, pb), (pl, pr) = padding
        self.g, self.cg, self.kh, self.c, self.k = g, cg, kh, cg * g, kh * cg
        self.h, self.w, self.pt, self.pl = x_hw[0], x_hw[1], pt, pl
        self.hp = x_hw[0] + pt + pb
        self.pitch = x_hw[1] + pl + pr  # the padded width, which is at least OW + (kw-1)*dw
        self.flat = self.hp * self.pitch  # one channel of the padded input gradient
        self.dh = dilation[0]
        # rows (i, c) and columns (f, s): shift s*dw meets tap j = kw - 1 - s
        self.w_rows = w.reshape(g, fg, cg, kh, kw)[..., ::-1].transpose(0, 3, 2, 1, 4).reshape(g, kh * cg, fg * kw)

    def elements_per_sample(self, run: int) -> int:
        """Elements of scratch a sample takes: the GEMM's output and the padded planes."""
        return self.k * self.g * run + self.c * self.flat

    def acc_buffer(self, m_max: int, like: np.ndarray) -> np.ndarray:
        return _flat_buffer(array_module(like), (m_max, self.c, self.flat), like.dtype, False, workspace.ACC)

    def chunk(self, sh: np.ndarray, z_flat: np.ndarray, acc_flat: np.ndarray, out: np.ndarray) -> None:
        """Input gradient of the chunk whose shifted dy is ``sh`` (F, kw, m, run) into ``out``;
        ``z_flat`` and ``acc_flat`` are scratch for the GEMM's output and the planes."""
        xp = array_module(sh)
        g, cg, kh, m, run = self.g, self.cg, self.kh, out.shape[0], sh.shape[-1]
        z = _prefix(z_flat, (g, self.k, m * run))
        xp.matmul(self.w_rows, sh.reshape(g, -1, m * run), out=z)
        acc = _prefix(acc_flat, (m, g, cg, self.flat))
        acc.fill(0)
        taps = z.reshape(g, kh, cg, m, run).transpose(1, 3, 0, 2, 4)  # (kh, m, G, Cg, run)
        for i in range(kh):
            base = i * self.dh * self.pitch
            acc[..., base : base + run] += taps[i]
        planes = acc.reshape(m, self.c, self.hp, self.pitch)
        out[...] = planes[:, :, self.pt : self.pt + self.h, self.pl : self.pl + self.w]


# ----------------------------------------------------------------------------------------------
# Stride-1 variants on whole input rows ("gather_rows")
# ----------------------------------------------------------------------------------------------
# A stride-1 conv's kh*kw taps split into kh tap rows, each reading whole padded input rows, and kw
# shifts along those rows. The variants below gather only the rows (Cg*kh rows per group in the
# GEMM, not Cg*kh*kw) and make the shifts part of the other operand or a few long adds: a kw-times
# smaller gather, at the GEMM cost of the pitched rows' junk columns, which plain im2col pays too.


def _row_buffers(plan: _Plan, xp: Any, dtype: Any, ones_row: bool,
                 other_per_sample: int) -> tuple[int, np.ndarray, np.ndarray]:
    """Samples per batch chunk (the chunk's buffers near the cache target, ``other_per_sample``
    elements a sample besides these two), the zeroed padded input (1, 1, m, C, flat) and the flat
    buffer of the row gather (see :func:`_row_taps`)."""
    k = plan.cg * plan.kh + ones_row
    per_sample = (plan.c * plan.flat + plan.g * k * plan.run + other_per_sample) * np.dtype(dtype).itemsize
    m_max = max(1, min(plan.n, min(_CACHE_TARGET, _MEMORY_BUDGET) // per_sample))
    phases = _flat_buffer(xp, (1, 1, m_max, plan.c, plan.flat), dtype, True, workspace.INPUT)
    rows_flat = _flat_buffer(xp, (plan.g, k, m_max, plan.run), dtype, False, workspace.COLUMNS)
    return m_max, phases.reshape(1, 1, m_max, plan.c, plan.flat), rows_flat


def _row_taps(plan: _Plan, phases: np.ndarray, rows_flat: np.ndarray, x: np.ndarray, ones_row: bool) -> np.ndarray:
    """The row gather of a stride-1 conv's batch chunk ``x`` (m, C, H, W) into the front of
    ``rows_flat``: (G, Cg*kh, m, run), channel-major, row (c, i) holding for each sample the OH
    padded input rows that tap row ``i`` reads, whole (``run`` = OH rows of the pitch q, every
    column a tap of that row reaches). A last row of ones per group when ``ones_row``."""
    m, g, cg, kh, run = x.shape[0], plan.g, plan.cg, plan.kh, plan.run
    k = cg * kh + ones_row
    plan.fill_phases(phases, x)
    rows = _prefix(rows_flat, (g, k, m, run))
    src = phases[0, 0, :m]
    s_n, s_c, it = src.strides[0], src.strides[1], src.itemsize
    # tap row i of output row o reads padded row o + i*dh: one run of OH*q elements from row i*dh
    win = as_strided(src, shape=(g, cg, kh, m, run), strides=(cg * s_c, s_c, plan.ah.d * plan.q * it, s_n, it),
                     writeable=False)
    rows[:, : cg * kh].reshape(g, cg, kh, m, run)[...] = win  # splitting an axis: a view, written through
    if ones_row:
        rows[:, cg * kh] = 1
    return rows


def _conv2d_gather_rows(x: np.ndarray, w: np.ndarray, padding: PadPairs, dilation: Pair, groups: int,
                        bias: np.ndarray | None = None) -> np.ndarray:
    """The forward of a stride-1 conv on whole input rows: per group and batch chunk one GEMM of the
    weight as (Fg*kw, Cg*kh) rows, tap column ``j`` of each filter, with the row gather of
    :func:`_row_taps`, which gives every filter's tap column ``j`` summed over the tap rows, at every
    column of the rows; then output column ``p`` adds column ``p + j*dw`` of each: kw - 1 long adds
    of a flat (F, m*run) block (a shift runs past a row's end only at junk columns). The bias rides
    in the GEMM on tap column 0's rows."""
    xp = array_module(x)
    plan = _conv_plan(x.shape, w.shape[0], groups, w.shape[2:], (1, 1), padding, dilation, False)
    g, fg, cg, kh, kw, run = plan.g, plan.fg, plan.cg, plan.kh, plan.kw, plan.run
    ones_row = bias is not None
    # (G, Fg*kw, Cg*kh [+ 1]): row (f, j), columns in the (c, i) order of the gathered rows
    w_rows = w.reshape(g, fg, cg, kh, kw).transpose(0, 1, 4, 2, 3).reshape(g, fg * kw, cg * kh)
    if bias is not None:
        bias_col = xp.zeros((g, fg, kw, 1), dtype=x.dtype)
        bias_col[:, :, 0, 0] = bias.reshape(g, fg)
        w_rows = xp.concatenate([w_rows, bias_col.reshape(g, fg * kw, 1)], axis=2)
    m_max, phases, rows_flat = _row_buffers(plan, xp, x.dtype, ones_row, plan.f * kw * run)
    z_flat = _flat_buffer(xp, (g, fg * kw, m_max * run), x.dtype, False, workspace.ROWS)
    y = xp.empty((plan.n, plan.f, plan.oh, plan.ow), dtype=x.dtype)
    for n0 in range(0, plan.n, m_max):
        m = min(m_max, plan.n - n0)
        rows = _row_taps(plan, phases, rows_flat, x[n0 : n0 + m], ones_row)
        span = m * run
        z = _prefix(z_flat, (g, fg * kw, span))
        xp.matmul(w_rows, rows.reshape(g, rows.shape[1], span), out=z)
        taps = z.reshape(g, fg, kw, span)
        acc = taps[:, :, 0]  # the sum builds up in tap column 0's rows
        for j in range(1, kw):
            shift = j * plan.aw.d
            acc[..., : span - shift] += taps[:, :, j, shift:]
        # one transposing copy into NCHW, junk columns dropped on the way
        y[n0 : n0 + m] = acc.reshape(plan.f, m, plan.oh, plan.q)[..., : plan.ow].transpose(1, 0, 2, 3)
    del phases, rows_flat, z_flat
    return y


def _weight_grads_gather_rows(x: np.ndarray, dy: np.ndarray, kernel_size: Pair, padding: PadPairs, dilation: Pair,
                              groups: int, with_bias: bool) -> _WeightGrads | None:
    """The weight gradient of a stride-1 conv on whole input rows: per group and batch chunk one GEMM
    of dy shifted by each tap column's offset (:class:`_ShiftedDy`) with the row gather of
    :func:`_row_taps` transposed, which is every (filter, tap column) against every (channel, tap
    row): the whole gradient, with no adds. A row of ones in the gather sums dy for the bias. Where
    the shifts' zeros meet inf or nan in x the result is not finite though the gradient may be: None
    then, and plain im2col (which can zero its junk) runs."""
    xp = array_module(x)
    plan = _conv_plan(x.shape, dy.shape[1], groups, kernel_size, (1, 1), padding, dilation, False,
                      out_hw=dy.shape[2:])
    n, f, g, kw, run = plan.n, plan.f, plan.g, plan.kw, plan.run
    # the pitch q is OW + (kw-1)*dw: the shifted dy's rows line up with the gathered input rows
    per_sample = _ShiftedDy.elements_per_sample(f, kw, plan.aw.d, run)
    m_max, phases, rows_flat = _row_buffers(plan, xp, x.dtype, with_bias, per_sample)
    shifted = _ShiftedDy(dy, m_max, kw, plan.aw.d, plan.q, workspace.ACC)
    acc = None
    for n0 in range(0, n, m_max):
        m = min(m_max, n - n0)
        rows = _row_taps(plan, phases, rows_flat, x[n0 : n0 + m], with_bias)
        acc = _add_row_product(acc, shifted.chunk(n0, m), rows, g)
    del phases, rows_flat, shifted
    return _weight_from_rows(plan, acc, with_bias)


def _add_row_product(acc: np.ndarray | None, sh: np.ndarray, rows: np.ndarray, groups: int) -> np.ndarray:
    """``acc`` plus one chunk's "gather_rows" weight-gradient product: its shifted dy ``sh``
    (F, kw, m, run) against its row gather ``rows`` (G, K, m, run) transposed, (G, Fg*kw, K)."""
    span = sh.shape[2] * sh.shape[3]
    with np.errstate(all="ignore"):  # a spurious 0 * inf: _weight_from_rows checks the sum
        part = array_module(sh).matmul(sh.reshape(groups, -1, span),
                                       rows.reshape(groups, rows.shape[1], span).transpose(0, 2, 1))
    if acc is None:
        return part
    acc += part
    return acc


def _weight_from_rows(plan: _Plan, acc: np.ndarray | None, with_bias: bool) -> _WeightGrads | None:
    """The weight (and bias) gradient from the sum over the chunks of the "gather_rows" products
    (G, Fg*kw, Cg*kh [+ 1]): rows (f, s) with tap column j = kw - 1 - s, columns (c, i) and the
    ones row's. None when it is not finite (see :func:`_weight_grads_gather_rows`)."""
    if acc is None or not bool(np.isfinite(acc).all()):
        return None
    xp = array_module(acc)
    g, fg, cg, kh, kw = plan.g, plan.fg, plan.cg, plan.kh, plan.kw
    taps = acc.reshape(g, fg, kw, acc.shape[2])
    dw = taps[:, :, ::-1, : cg * kh].reshape(g, fg, kw, cg, kh).transpose(0, 1, 3, 4, 2)
    # the ones row against every shift sums all of dy: the bias gradient, read at shift 0
    db = xp.ascontiguousarray(taps[:, :, 0, cg * kh]).reshape(plan.f) if with_bias else None
    return xp.ascontiguousarray(dw).reshape(plan.f, cg, kh, kw), db


def _input_and_weight_grads_gather_rows(x: np.ndarray, w: np.ndarray, dy: np.ndarray, padding: PadPairs,
                                        dilation: Pair, groups: int, with_bias: bool) -> _InputWeightGrads | None:
    """:func:`_input_grad_gather_rows` and :func:`_weight_grads_gather_rows` in one pass over the
    batch: both GEMMs take dy's shifted rows (:class:`_ShiftedDy`), so each chunk's are built once.
    None where either would be None (w or the weight gradient not finite): the kernels then run
    separately, by their plain variants."""
    if not bool(np.isfinite(w).all()):
        return None
    xp = array_module(x)
    plan = _conv_plan(x.shape, w.shape[0], groups, w.shape[2:], (1, 1), padding, dilation, False)
    n, run = plan.n, plan.run
    to_input = _RowsToInput(w, groups, x.shape[2:], padding, dilation)
    # a full-size dy: the input's padded width is the weight gradient's pitch q, so both GEMMs read
    # the same shifted rows
    per_sample = _ShiftedDy.elements_per_sample(plan.f, plan.kw, plan.aw.d, run) + to_input.c * to_input.flat
    m_max, phases, rows_flat = _row_buffers(plan, xp, x.dtype, with_bias, per_sample)
    shifted = _ShiftedDy(dy, m_max, plan.kw, plan.aw.d, plan.q, workspace.PRODUCT)
    acc_flat = to_input.acc_buffer(m_max, dy)
    dx = xp.empty(x.shape, dtype=x.dtype)
    acc = None
    for n0 in range(0, n, m_max):
        m = min(m_max, n - n0)
        rows = _row_taps(plan, phases, rows_flat, x[n0 : n0 + m], with_bias)
        sh = shifted.chunk(n0, m)
        acc = _add_row_product(acc, sh, rows, plan.g)
        # the row gather is used up: its buffer takes the input gradient's GEMM output (fewer rows)
        to_input.chunk(sh, rows_flat, acc_flat, dx[n0 : n0 + m])
    del phases, rows_flat, shifted, acc_flat
    grads = _weight_from_rows(plan, acc, with_bias)
    return None if grads is None else (dx,) + grads


def _input_grad_im2col(dy: np.ndarray, w: np.ndarray, x_hw: Pair, stride: Pair, padding: PadPairs,
                       dilation: Pair, groups: int) -> np.ndarray:
    xp = array_module(dy)
    n, f, oh, ow = dy.shape
    c = w.shape[1] * groups
    kh, kw = w.shape[2], w.shape[3]
    plan = _Plan(n, c, x_hw, f, groups, (kh, kw), stride, padding, dilation, (oh, ow), cover_input=True)
    g, cg, fg = plan.g, plan.cg, plan.fg
    sh, sw = plan.ah.s, plan.aw.s
    flat, run = plan.flat, plan.run
    plane = c * flat  # one sample's phase images
    tail = plan.ah.extra * plan.q + plan.aw.extra  # the largest tap offset: room for the last spill
    m_max = plan.chunk(dy.itemsize, row=flat)
    # (G, kh*kw*Cg, Fg), rows ordered (i, j, c): a small copy of w
    w_taps = w.reshape(g, fg, cg, kh, kw).transpose(0, 3, 4, 2, 1).reshape(g, kh * kw * cg, fg)
    # junk columns of dy are zero, so their dcols are zero too -- unless w holds inf or nan
    zero_junk = plan.has_junk and not bool(np.isfinite(w).all())
    dyq = None
    if plan.has_junk:
        dyq = _flat_buffer(xp, (m_max, f, oh, plan.q), dy.dtype, True, workspace.INPUT).reshape(m_max, f, oh, plan.q)
    dcols_all = _flat_buffer(xp, (m_max, g, kh * kw * cg, flat), dy.dtype, False, workspace.COLUMNS)
    dcols_all = dcols_all.reshape(m_max, g, kh * kw * cg, flat)
    dcols_all[..., run:] = 0  # and stays 0: the GEMMs write [..., :run]
    acc_chunk = _flat_buffer(xp, (sh, sw, m_max * plane + tail), dy.dtype, False, workspace.ACC)
    acc_chunk = acc_chunk.reshape(sh, sw, m_max * plane + tail)
    # contiguous, for the same reason as conv2d's output: the crop is copied while in cache
    dx = xp.empty((n, c) + tuple(x_hw), dtype=dy.dtype)
    for n0 in range(0, n, m_max):
        m = min(m_max, n - n0)
        if dyq is not None:
            dyq[:m, :, :, :ow] = dy[n0 : n0 + m]
            src = dyq[:m]
        else:
            src = dy[n0 : n0 + m]
        dcols = dcols_all[:m]
        xp.matmul(w_taps, src.reshape(m, g, fg, run), out=dcols[..., :run])
        if zero_junk:
            dcols[..., :run].reshape(m, g, kh * kw * cg, oh, plan.q)[..., ow:] = 0
        taps = dcols.reshape(m, g, kh, kw, cg * flat)
        acc = acc_chunk[:, :, : m * plane + tail]
        acc.fill(0)
        for i, (a, shift_i) in enumerate(plan.ah.taps):
            for j, (b, shift_j) in enumerate(plan.aw.taps):
                base = shift_i * plan.q + shift_j
                dst = acc[a, b, base : base + m * plane].reshape(m, g, cg * flat)
                dst += taps[:, :, i, j]
        plan.read_phases(acc[:, :, : m * plane].reshape(sh, sw, m, c, flat), dx[n0 : n0 + m])
    del dcols_all, dyq, acc_chunk
    return dx


def conv_transpose2d(
    x: np.ndarray,
    w: np.ndarray,
    stride: Pair,
    padding: PadPairs,
    dilation: Pair,
    groups: int,
    output_size: Pair,
) -> np.ndarray:
    """Transposed convolution of ``x`` (N, C_in, H, W) with ``w`` (C_in, C_out//groups, kh, kw).

    The exact adjoint of :func:`conv2d` w.r.t. its input: the "full" output of size
    ``(H-1)*s + d*(k-1) + 1`` is scattered by col2im, ``padding`` (top/left) is cropped, and
    exactly ``output_size`` rows/cols are returned, zero where they reach past the full output
    (that is output_padding). The result is C-contiguous.
    """
    _check_pair("conv_transpose2d", x, w, "weight")
    if x.shape[1] != w.shape[0] or w.shape[0] % groups:
        raise ValueError(f"conv_transpose2d: input {x.shape} and weight {w.shape} do not match with "
                         f"groups={groups} (weight is (C_in, F/groups, kh, kw), C_in divisible by groups)")
    oh, ow = output_size
    # the conv2d whose input gradient this is must reach at least x's H, W from output_size
    # (it reaches more when output_padding >= stride, which PyTorch allows for dilation > 1)
    reach = (conv2d_output_size(oh, w.shape[2], stride[0], sum(padding[0]), dilation[0]),
             conv2d_output_size(ow, w.shape[3], stride[1], sum(padding[1]), dilation[1]))
    if reach[0] < x.shape[2] or reach[1] < x.shape[3]:
        raise ValueError(f"conv_transpose2d: output_size {tuple(output_size)} is too small for an input of "
                         f"{x.shape[2]}x{x.shape[3]} (a conv2d of that size gives only {reach[0]}x{reach[1]})")
    return _input_grad(x, w, (oh, ow), stride, padding, dilation, groups)


def conv2d_weight_grad(
    x: np.ndarray,
    dy: np.ndarray,
    kernel_size: Pair,
    stride: Pair,
    padding: PadPairs,
    dilation: Pair,
    groups: int,
) -> np.ndarray:
    """Gradient of conv2d w.r.t. its weight: (F, C//groups, kh, kw).

    ``dy`` (N, F, OH, OW) normally has conv2d's output size for ``x``; a smaller one (the
    transposed conv's weight gradient with output_padding >= stride) uses the leading windows.
    One GEMM per group and batch chunk: dy as (Fg, m*OH*q) times the chunk's columns transposed.
    """
    return _weight_grads(x, dy, kernel_size, stride, padding, dilation, groups, with_bias=False)[0]


def conv2d_weight_and_bias_grad(x: np.ndarray, dy: np.ndarray, kernel_size: Pair, stride: Pair, padding: PadPairs,
                                dilation: Pair, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`conv2d_weight_grad` and the bias gradient ``dy.sum((0, 2, 3))``, from one GEMM: the
    columns carry a row of ones, whose product with dy is that sum (a separate sum would be one
    more pass over the whole of dy)."""
    dw, db = _weight_grads(x, dy, kernel_size, stride, padding, dilation, groups, with_bias=True)
    return dw, cast(np.ndarray, db)


_WeightGrads = tuple[np.ndarray, "np.ndarray | None"]  # (weight gradient, bias gradient or None)
_InputWeightGrads = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]  # (input, weight, bias gradient or None)


def conv2d_input_and_weight_grads(x: np.ndarray, w: np.ndarray, dy: np.ndarray, stride: Pair, padding: PadPairs,
                                  dilation: Pair, groups: int, with_bias: bool = False) -> _InputWeightGrads:
    """conv2d's input gradient, weight gradient and, when ``with_bias``, bias gradient, together:
    (dx, dw, db or None), as :func:`conv_transpose2d` (to ``x``'s size), :func:`conv2d_weight_grad`
    and :func:`conv2d_weight_and_bias_grad` give them.

    A backward that needs both runs two products of the one upstream gradient. For a stride-1 conv
    with a full-size ``dy`` the "gather_rows" variant builds dy's shifted rows once per batch chunk
    for both GEMMs; otherwise, and where that is not faster, the kernels run separately, each with
    its own choice of variant.
    """
    _check_conv2d(x, w, groups)
    _check_weight_grad(x, dy, groups)
    kernel = (w.shape[2], w.shape[3])

    def separate() -> _InputWeightGrads:
        dx = conv_transpose2d(dy, w, stride, padding, dilation, groups, x.shape[2:])
        return (dx,) + _weight_grads(x, dy, kernel, stride, padding, dilation, groups, with_bias)

    if x.shape[0] == 0 or stride != (1, 1):
        return separate()
    plan = _conv_plan(x.shape, w.shape[0], groups, kernel, stride, padding, dilation, False)
    if dy.shape[1:] != (plan.f, plan.oh, plan.ow):
        return separate()
    candidates: dict[str, Callable[[], _InputWeightGrads | None]] = {"separate": separate}
    for name in _offer(plan, x, {"gather_rows": True})[1:]:
        candidates[name] = partial(_input_and_weight_grads_gather_rows, x, w, dy, padding, dilation, groups, with_bias)
    key = ("conv2d_input_and_weight_grads", x.shape, w.shape, padding, dilation, groups, x.dtype, with_bias)
    return _pick(key, candidates)



def _weight_grads(x: np.ndarray, dy: np.ndarray, kernel_size: Pair, stride: Pair, padding: PadPairs,
                  dilation: Pair, groups: int, with_bias: bool) -> _WeightGrads:
    """The weight gradient, and the bias gradient when ``with_bias``, by the variant :func:`_pick`
    chooses."""
    _check_weight_grad(x, dy, groups)
    if x.shape[0] == 0:
        # An empty batch contributes nothing: the gradients are zero, as in PyTorch.
        xp = array_module(x)
        dw = xp.zeros((dy.shape[1], x.shape[1] // groups) + tuple(kernel_size), dtype=x.dtype)
        return dw, (xp.zeros(dy.shape[1], dtype=dy.dtype) if with_bias else None)
    plan = _conv_plan(x.shape, dy.shape[1], groups, kernel_size, stride, padding, dilation, False,
                      out_hw=dy.shape[2:])
    names = _offer(plan, x, {"per_sample": True, "per_sample_exact": plan.has_junk, "gather_rows": stride == (1, 1)})
    candidates: dict[str, Callable[[], _WeightGrads | None]] = {
        name: partial(_weight_grad_im2col, x, dy, kernel_size, stride, padding, dilation, groups, name, with_bias)
        for name in names if name != "gather_rows"}
    if "gather_rows" in names:
        candidates["gather_rows"] = partial(_weight_grads_gather_rows, x, dy, kernel_size, padding, dilation, groups,
                                            with_bias)
    if (_use_winograd(x, kernel_size, stride, dilation, groups, x.shape[1], dy.shape[1])
            and dy.shape[2:] == (x.shape[2] + sum(padding[0]) - 2, x.shape[3] + sum(padding[1]) - 2)):
        candidates["winograd"] = partial(_winograd_weight_grads, x, dy, padding, with_bias)
    key = ("weight_grad", x.shape, dy.shape, kernel_size, stride, padding, dilation, groups, x.dtype, with_bias)
    return _pick(key, candidates)


def _winograd_weight_grads(x: np.ndarray, dy: np.ndarray, padding: PadPairs, with_bias: bool) -> _WeightGrads | None:
    """Winograd's weight gradient (None where it is not finite), and dy's sum for the bias."""
    dw = winograd.weight_grad(x, dy, padding, min(_CACHE_TARGET, _MEMORY_BUDGET))
    if dw is None:
        return None
    return dw, (sum_axes(dy, (0, 2, 3), keepdims=False) if with_bias else None)


def _weight_grad_im2col(x: np.ndarray, dy: np.ndarray, kernel_size: Pair, stride: Pair, padding: PadPairs,
                        dilation: Pair, groups: int, variant: str = "im2col", with_bias: bool = False) -> _WeightGrads:
    """The weight gradient's im2col variants: "im2col" (one GEMM per group and batch chunk),
    "per_sample" and "per_sample_exact" (one GEMM per sample, summed); see :data:`VARIANTS`.
    With ``with_bias`` the columns carry a row of ones and the bias gradient comes out too."""
    plan = _conv_plan(x.shape, dy.shape[1], groups, kernel_size, stride, padding, dilation, False,
                      out_hw=dy.shape[2:], pitched=variant != "per_sample_exact")
    per_sample = variant in ("per_sample", "per_sample_exact")
    if not plan.has_junk:
        return _weight_grad(plan, x, dy, False, per_sample, with_bias)
    # Junk columns of dy are zero, so they add nothing -- unless x holds inf or nan, where
    # 0 * inf = nan. A finite result proves that did not happen (an inf or nan cannot cancel out
    # of a sum); otherwise redo with the junk zeroed. So the first try's warnings are spurious
    # and silenced, and the redo's are the real ones.
    with np.errstate(all="ignore"):
        dw, db = _weight_grad(plan, x, dy, False, per_sample, with_bias)
    if not (bool(np.isfinite(dw).all()) and (db is None or bool(np.isfinite(db).all()))):
        dw, db = _weight_grad(plan, x, dy, True, per_sample, with_bias)
    return dw, db


def conv2d_and_weight_grad(
    a: np.ndarray,
    w: np.ndarray,
    b: np.ndarray,
    stride: Pair,
    padding: PadPairs,
    dilation: Pair,
    groups: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``conv2d(a, w)`` and ``conv2d_weight_grad(a, b)`` (w's kernel size), computed together.

    The backward of a transposed conv needs both (``a`` is its upstream gradient, ``b`` its input):
    two GEMMs with the same column matrix of ``a``. The "shared" variants gather each batch chunk's
    columns once and run both GEMMs on them while they are in cache; the plain way calls the two
    kernels, each with its own choice of variant (Winograd included).
    """
    _check_conv2d(a, w, groups)
    _check_weight_grad(a, b, groups)
    kernel = (w.shape[2], w.shape[3])

    def separate() -> tuple[np.ndarray, np.ndarray]:
        return (conv2d(a, w, stride, padding, dilation, groups),
                conv2d_weight_grad(a, b, kernel, stride, padding, dilation, groups))

    if a.shape[0] == 0:
        return separate()
    plan = _conv_plan(a.shape, w.shape[0], groups, kernel, stride, padding, dilation, False)
    candidates: dict[str, Callable[[], tuple[np.ndarray, np.ndarray]]] = {"separate": separate}
    if b.shape[1] == w.shape[0] and b.shape[2:] == (plan.oh, plan.ow):
        for name in _offer(plan, a, {"shared": True, "shared_batched": True})[1:]:
            candidates[name] = partial(_shared_columns, a, w, b, stride, padding, dilation, groups,
                                       name == "shared_batched")
    return _pick(("conv2d_and_weight_grad", a.shape, w.shape, b.shape, stride, padding, dilation, groups, a.dtype),
                 candidates)


def _shared_columns(a: np.ndarray, w: np.ndarray, b: np.ndarray, stride: Pair, padding: PadPairs, dilation: Pair,
                    groups: int, channel_major: bool) -> tuple[np.ndarray, np.ndarray]:
    """The "shared" variants of :func:`conv2d_and_weight_grad`: per batch chunk one gather of a's
    columns, the forward GEMM and the weight-gradient GEMM on them; per-sample GEMMs in the
    forward's layout, or one GEMM each per chunk on channel-major columns ("shared_batched")."""
    xp = array_module(a)
    plan = _conv_plan(a.shape, w.shape[0], groups, w.shape[2:], stride, padding, dilation, False)
    m_max, phases, cols_flat = _gather_buffers(plan, xp, a.dtype)
    y = xp.empty((plan.n, plan.f, plan.oh, plan.ow), dtype=a.dtype)
    wg = w.reshape(plan.g, plan.fg, plan.kg)
    rows_flat = _forward_rows(plan, xp, m_max, a.dtype, channel_major)
    b_rows = _DyRows(plan, m_max, b, channel_major)
    dw_t = None
    for n0 in range(0, plan.n, m_max):
        m = min(m_max, plan.n - n0)
        cols = _gather_chunk(plan, phases, cols_flat, a[n0 : n0 + m], channel_major)
        _forward_product(plan, wg, cols, rows_flat, y[n0 : n0 + m], channel_major)
        # b's junk columns are zero, but a's junk columns may hold inf or nan (0 * inf = nan): such
        # a result is redone below, so this product's warnings are spurious
        with np.errstate(all="ignore"):
            part = _weight_product(plan, cols, b_rows.chunk(n0, m), channel_major)
        if dw_t is None:
            dw_t = part
        else:
            dw_t += part
        del part
    del cols_flat, phases, rows_flat
    dw = _weight_from_transposed(plan, dw_t, a)
    if plan.has_junk and not bool(np.isfinite(dw).all()):
        # not finite: a's columns hold inf or nan, and the weight-gradient kernel zeroes the junk ones
        dw = conv2d_weight_grad(a, b, (plan.kh, plan.kw), stride, padding, dilation, groups)
    return y, dw


def _weight_grad(plan: _Plan, x: np.ndarray, dy: np.ndarray, zero_junk: bool, per_sample: bool,
                 with_bias: bool = False) -> _WeightGrads:
    xp = array_module(x)
    channel_major = not per_sample  # each group then is one GEMM over the whole chunk
    m_max, phases, cols_flat = _gather_buffers(plan, xp, x.dtype, with_bias)
    dy_rows = _DyRows(plan, m_max, dy, channel_major)
    dw_t = None
    for n0 in range(0, plan.n, m_max):
        m = min(m_max, plan.n - n0)
        cols = _gather_chunk(plan, phases, cols_flat, x[n0 : n0 + m], channel_major, with_bias)
        if zero_junk:
            cols.reshape(cols.shape[:-1] + (plan.oh, plan.row))[..., plan.ow :] = 0
        part = _weight_product(plan, cols, dy_rows.chunk(n0, m), channel_major)
        if dw_t is None:
            dw_t = part
        else:
            dw_t += part
        del part  # not alive during the next chunk or the final transpose copy
    del cols_flat, phases
    # the ones row's product is the last row of each group: the sum of that group's dy
    db = xp.ascontiguousarray(cast(np.ndarray, dw_t)[:, plan.kg]).reshape(plan.f) if with_bias else None
    return _weight_from_transposed(plan, dw_t, x), db


class _DyRows:
    """The upstream gradient of a weight-gradient product in its columns' row layout, one batch
    chunk at a time: dy itself when rows have no junk columns, else a copy in rows of the pitch
    whose junk columns are zero (so they add nothing). Per-sample (m, F, OH, row), or channel-major
    (F, m, OH, row), a transposing copy."""

    def __init__(self, plan: _Plan, m_max: int, dy: np.ndarray, channel_major: bool) -> None:
        self.plan, self.dy, self.channel_major = plan, dy, channel_major
        shape = (plan.f, m_max, plan.oh, plan.row) if channel_major else (m_max, plan.f, plan.oh, plan.row)
        copies = channel_major or plan.has_junk
        self.flat = _flat_buffer(array_module(dy), shape if copies else (0,), dy.dtype, plan.has_junk, workspace.ACC)

    def chunk(self, n0: int, m: int) -> np.ndarray:
        plan, src = self.plan, self.dy[n0 : n0 + m]
        if not self.channel_major:
            if not plan.has_junk:
                return src
            rows = self.flat.reshape(-1, plan.f, plan.oh, plan.row)[:m]
            rows[..., : plan.ow] = src
            return rows
        if m * plan.f * plan.oh * plan.row != self.flat.size and plan.has_junk:
            # a shorter last chunk lays its rows out differently: fresh zeros for its junk columns
            self.flat = _flat_buffer(array_module(src), (plan.f, m, plan.oh, plan.row), src.dtype, True, workspace.ACC)
        rows = _prefix(self.flat, (plan.f, m, plan.oh, plan.row))
        rows[..., : plan.ow] = src.transpose(1, 0, 2, 3)
        return rows


def _weight_product(plan: _Plan, cols: np.ndarray, d: np.ndarray, channel_major: bool) -> np.ndarray:
    """One chunk's weight gradient, transposed, (G, K, Fg): its columns (from :func:`_gather_chunk`,
    K rows per group) times its upstream gradient rows (from :class:`_DyRows`, the same layout)."""
    xp = array_module(cols)
    g, run = plan.g, plan.run
    if not channel_major:
        m = cols.shape[0]
        # (K, run) @ (run, Fg) for each sample and group, summed over the chunk
        part = xp.matmul(cols, d.reshape(m, g, plan.fg, run).transpose(0, 1, 3, 2))
        return part.sum(axis=0)
    k, m = cols.shape[1], cols.shape[2]
    # computed transposed, (K, M) @ (M, Fg): OpenBLAS ran this orientation faster than
    # (Fg, M) @ (M, K), and transposing the small result is free
    return xp.matmul(cols.reshape(g, k, m * run), d.reshape(g, plan.fg, m * run).transpose(0, 2, 1))


def _weight_from_transposed(plan: _Plan, dw_t: np.ndarray | None, x: np.ndarray) -> np.ndarray:
    """The weight gradient (F, Cg, kh, kw) from its transposed sum over the chunks (G, K, Fg); a
    row of ones' product past the Kg = Cg*kh*kw rows is left out."""
    xp = array_module(x)
    if dw_t is None:  # no chunk ran: an empty batch (conv2d_weight_grad returns before this)
        dw_t = xp.zeros((plan.g, plan.kg, plan.fg), dtype=x.dtype)
    # the small transpose back, copied so that the optimiser's updates run on contiguous memory
    return xp.ascontiguousarray(dw_t[:, : plan.kg].transpose(0, 2, 1)).reshape(plan.f, plan.cg, plan.kh, plan.kw)

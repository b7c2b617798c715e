"""interpolate: resize the spatial dims of (N, C, d1, ...) inputs, as ``torch.nn.functional.interpolate``.

Modes: ``'nearest'``, ``'nearest-exact'``, ``'linear'`` (3-d input), ``'bilinear'`` (4-d),
``'trilinear'`` (5-d) and ``'area'`` (4-d, as adaptive average pooling); the others (``'bicubic'``)
raise NotImplementedError naming the mode. Each spatial dim is resampled on its own (the modes
are separable): a gather of source rows (nearest) or a blend of two gathered rows with constant
weights (linear), so the op is made of registered ops (getitem, mul, add) and differentiates twice.
Source positions follow PyTorch's formulas (``align_corners``, ``scale_factor`` used as given unless
``recompute_scale_factor``), computed in the input's precision as its CPU kernels do.

>>> import tinygrad_conv as tc
>>> import tinygrad_conv.functional as F
>>> F.interpolate(tc.Tensor([[[1.0, 2.0]]]), scale_factor=2).tolist()
[[[1.0, 1.0, 2.0, 2.0]]]
>>> F.interpolate(tc.Tensor([[[1.0, 2.0]]]), size=3, mode="linear", align_corners=True).tolist()
[[[1.0, 1.5, 2.0]]]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..tensor import Tensor
from .elementwise import Add, Mul
from .registry import Sample, register
from .samples import randn
from .shape import GetItem

_LINEAR_MODES = {"linear": 3, "bilinear": 4, "trilinear": 5}
_ALL_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "trilinear", "area", "bicubic")


def _spatial(value: Any, n: int, what: str, input: Tensor) -> list[Any] | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            dims = list(input.shape[2:])
            raise ValueError(f"interpolate: input and {what} must have the same number of spatial dimensions, but "
                             f"got input with spatial dimensions of {dims} and {what} of "
                             f"{'shape ' if what == 'scale_factor' else ''}{tuple(value)}. Give the input as "
                             f"(N, C, d1, d2, ..., dK) and {what} as ({'s' if what == 'scale_factor' else 'o'}1, "
                             f"..., {'s' if what == 'scale_factor' else 'o'}K)")
        return list(value)
    return [value] * n


def _nearest_index(in_size: int, out_size: int, scale: float | None, exact: bool, dtype: Any) -> np.ndarray:
    """PyTorch's nearest source index: floor(dst * s) (or floor((dst + 0.5) * s) for nearest-exact),
    s = 1 / scale_factor when given, else in / out, in the input's precision, clamped to in - 1."""
    ft = np.float32 if np.dtype(dtype) == np.float32 else np.float64
    s = ft(1.0 / scale) if scale is not None and scale > 0 else ft(in_size) / ft(out_size)
    dst = np.arange(out_size, dtype=ft)
    if exact:
        dst = dst + ft(0.5)
    elif out_size == in_size:
        return np.arange(out_size)
    elif out_size == 2 * in_size:
        return np.arange(out_size) >> 1  # PyTorch's exact fast path for a doubling
    src = np.floor(dst * s).astype(np.int64)
    return np.minimum(src, in_size - 1)


def _linear_weights(in_size: int, out_size: int, scale: float | None, align_corners: bool,
                    dtype: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices i0, i1 and the weight of i1 for each output position (PyTorch's
    area_pixel_compute_source_index, in the input's precision)."""
    ft = np.float32 if np.dtype(dtype) == np.float32 else np.float64
    dst = np.arange(out_size, dtype=ft)
    if align_corners:
        s = ft(in_size - 1) / ft(out_size - 1) if out_size > 1 else ft(0.0)
        src = dst * s
    else:
        s = ft(1.0 / scale) if scale is not None and scale > 0 else ft(in_size) / ft(out_size)
        src = np.maximum((dst + ft(0.5)) * s - ft(0.5), ft(0.0))
    i0 = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    lam = (src - i0.astype(ft)).astype(dtype)
    return i0, i1, lam


def _take(x: Tensor, axis: int, idx: np.ndarray) -> Tensor:
    key = (slice(None),) * axis + (idx,)
    return GetItem.apply(x, key)


def interpolate(input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:
    """Resize the spatial dims of ``input`` to ``size`` or by ``scale_factor``, as
    ``torch.nn.functional.interpolate`` (see the module docstring for the modes).

    >>> import tinygrad_conv as tc
    >>> interpolate(tc.ones(1, 3, 4, 4), scale_factor=2, mode="bilinear").shape
    (1, 3, 8, 8)
    """
    fn = "interpolate"
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}: input must be a Tensor, got {type(input).__name__}")
    if mode not in _ALL_MODES:
        raise ValueError(f"{fn}: unknown mode {mode!r}; PyTorch's modes are {', '.join(map(repr, _ALL_MODES))}")
    if mode == "bicubic":
        raise NotImplementedError(f"{fn}: mode={mode!r} is not supported yet; use 'nearest', 'nearest-exact', "
                                  "'linear', 'bilinear', 'trilinear' or 'area'")
    if antialias:
        raise NotImplementedError(f"{fn}: antialias=True is not supported (it only changes bilinear and bicubic "
                                  "downsampling); use antialias=False")
    if align_corners is not None and mode not in _LINEAR_MODES:
        raise ValueError(f"{fn}: align_corners option can only be set with the interpolating modes: linear | "
                         f"bilinear | bicubic | trilinear (got mode={mode!r})")
    if input.ndim < 3:
        raise ValueError(f"{fn}: expected an input of shape (N, C, d1, ...) with at least one spatial dim, got "
                         f"shape {input.shape}")
    if mode in _LINEAR_MODES and input.ndim != _LINEAR_MODES[mode]:
        raise NotImplementedError(f"{fn}: got {input.ndim}D input, but {mode} mode needs "
                                  f"{_LINEAR_MODES[mode]}D input")
    if mode == "area" and input.ndim != 4:
        raise NotImplementedError(f"{fn}: mode='area' is supported for 4D input only, got {input.ndim}D")
    if input.dtype.kind != "f" and mode != "nearest":
        raise TypeError(f"{fn}: mode={mode!r} needs a floating point input, got {input.dtype}")
    n = input.ndim - 2
    if size is not None and scale_factor is not None:
        raise ValueError(f"{fn}: only one of size or scale_factor should be defined")
    if size is None and scale_factor is None:
        raise ValueError(f"{fn}: either size or scale_factor should be defined")
    sizes = _spatial(size, n, "output size", input)
    scales = _spatial(scale_factor, n, "scale_factor", input)
    in_sizes = list(input.shape[2:])
    if sizes is not None:
        out_sizes = [int(s) for s in sizes]
        used_scales: list[float | None] = [None] * n
    else:
        assert scales is not None
        if any(float(s) <= 0 for s in scales):
            raise ValueError(f"{fn}: scale_factor must be positive, got {scale_factor}")
        out_sizes = [int(math.floor(float(i) * float(s))) for i, s in zip(in_sizes, scales)]
        # PyTorch maps positions with the given factor unless asked to recompute it from the sizes.
        used_scales = [None if recompute_scale_factor else float(s) for s in scales]
    if any(o <= 0 for o in out_sizes):
        raise ValueError(f"{fn}: the output size must be positive in every spatial dim, got {tuple(out_sizes)} for "
                         f"input of shape {input.shape}")
    if mode == "area":
        from .pool import adaptive_avg_pool2d

        return adaptive_avg_pool2d(input, tuple(out_sizes))
    out = input
    for k in range(n):
        axis = 2 + k
        if mode in ("nearest", "nearest-exact"):
            idx = _nearest_index(in_sizes[k], out_sizes[k], used_scales[k], mode == "nearest-exact", input.dtype)
            if out_sizes[k] != in_sizes[k] or mode == "nearest-exact":
                out = _take(out, axis, idx)
            continue
        i0, i1, lam = _linear_weights(in_sizes[k], out_sizes[k], used_scales[k], bool(align_corners), input.dtype)
        shape = (out_sizes[k],) + (1,) * (n - 1 - k)
        w1 = Tensor(lam.reshape(shape))
        w0 = Tensor((1 - lam).reshape(shape))
        out = _take(out, axis, i0) * w0 + _take(out, axis, i1) * w1
    return out


def _interp_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 1, 2, 3, 3),), {"scale_factor": 2}, name="nearest x2")
    yield Sample((randn(rng, dtype, 2, 1, 4, 5),), {"size": (3, 7)}, name="nearest to a size")
    yield Sample((randn(rng, dtype, 1, 2, 3, 4),), {"size": (5, 3), "mode": "bilinear"}, name="bilinear")
    yield Sample((randn(rng, dtype, 1, 1, 3, 3),), {"scale_factor": 1.7, "mode": "bilinear", "align_corners": True},
                 name="bilinear align_corners")
    yield Sample((randn(rng, dtype, 2, 2, 5),), {"scale_factor": 0.6, "mode": "linear"}, name="linear down")
    yield Sample((randn(rng, dtype, 1, 1, 4, 4),), {"scale_factor": 1.5, "mode": "nearest-exact"},
                 name="nearest-exact")


register("interpolate", method=False, samples=_interp_samples, nodes=(GetItem, Mul, Add),
         reference=lambda torch, x, **kw: torch.nn.functional.interpolate(x, **kw))(interpolate)


def upsample(input: Tensor, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
             align_corners: bool | None = None) -> Tensor:
    """``interpolate`` under its older name, as ``torch.nn.functional.upsample``."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def _resize_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 1, 2, 3, 3),), {"scale_factor": 2}, name="x2")


register("upsample", method=False, samples=_resize_samples, nodes=(GetItem,),
         reference=lambda torch, x, **kw: torch.nn.functional.interpolate(x, **kw))(upsample)

"""adaptive_max_pool2d: max over windows chosen so that the output has a given size, as
``torch.nn.functional.adaptive_max_pool2d``; with ``return_indices`` also the flat position of
each maximum within its (H, W) plane, as PyTorch gives it.

Window i along a dim of size n covers [floor(i n / out), ceil((i + 1) n / out)): windows may
overlap when out does not divide n. The output is a gather at the argmax positions (GetItem with
advanced indices), so the gradient adds into every window's maximum and differentiates again.

>>> import tinygrad_conv as tc
>>> import tinygrad_conv.functional as F
>>> x = tc.Tensor([[[[1.0, 5.0, 2.0], [0.0, 3.0, 4.0]]]])
>>> F.adaptive_max_pool2d(x, (1, 2)).tolist()
[[[[5.0, 5.0]]]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor
from .registry import Sample, register
from .samples import distinct
from .shape import GetItem, Reshape


def _output_size(output_size: Any, h: int, w: int) -> tuple[int, int]:
    fn = "adaptive_max_pool2d"
    if isinstance(output_size, (int, np.integer)) and not isinstance(output_size, bool):
        size: tuple[Any, Any] = (int(output_size), int(output_size))
    elif isinstance(output_size, (tuple, list)) and len(output_size) == 2:
        size = (output_size[0], output_size[1])
    else:
        raise ValueError(f"{fn}: output_size must be an int or a pair (oh, ow) (None keeps that input size), "
                         f"got {output_size!r}")
    out = (h if size[0] is None else int(size[0]), w if size[1] is None else int(size[1]))
    if out[0] <= 0 or out[1] <= 0:
        raise ValueError(f"{fn}: output_size must be positive, got {output_size!r}")
    return out


def _argmax_positions(x: np.ndarray, oh: int, ow: int) -> np.ndarray:
    """Flat (h * W + w) position of each window's maximum (the first one; NaN wins, as PyTorch)."""
    n, c, h, w = x.shape
    idx = np.empty((n, c, oh, ow), dtype=np.int64)
    for i in range(oh):
        h0, h1 = (i * h) // oh, -((-(i + 1) * h) // oh)
        for j in range(ow):
            w0, w1 = (j * w) // ow, -((-(j + 1) * w) // ow)
            window = x[:, :, h0:h1, w0:w1].reshape(n, c, -1)
            k = np.argmax(window, axis=2)  # the first maximum; a NaN counts as the maximum
            width = w1 - w0
            idx[:, :, i, j] = (h0 + k // width) * w + (w0 + k % width)
    return idx


def adaptive_max_pool2d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Max over adaptive windows of (N, C, H, W) or (C, H, W) input; ``return_indices`` adds the
    flat positions of the maxima (int64), as ``torch.nn.functional.adaptive_max_pool2d``.

    >>> import tinygrad_conv as tc
    >>> out, idx = adaptive_max_pool2d(tc.Tensor([[[1.0, 3.0], [4.0, 2.0]]]), 1, return_indices=True)
    >>> out.tolist(), idx.tolist()
    ([[[4.0]]], [[[2]]])
    """
    fn = "adaptive_max_pool2d"
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim not in (3, 4) or any(s == 0 for s in input.shape[-2:]):
        raise ValueError(f"{fn}: expected a 3-d (C, H, W) or 4-d (N, C, H, W) input with non-zero H and W, got "
                         f"shape {input.shape}")
    batched = input.ndim == 4
    x = input if batched else input.unsqueeze(0)
    n, c, h, w = x.shape
    oh, ow = _output_size(output_size, h, w)
    pos = _argmax_positions(x._data, oh, ow)
    flat = Reshape.apply(x, (n, c, h * w))
    key = (np.arange(n)[:, None, None], np.arange(c)[None, :, None], pos.reshape(n, c, oh * ow))
    out = Reshape.apply(GetItem.apply(flat, key), (n, c, oh, ow))
    if not batched:
        out = out.squeeze(0)
        pos = pos[0]
    if return_indices:
        return out, Tensor(pos)
    return out


def _adaptive_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((distinct(rng, dtype, 2, 2, 5, 7),), {"output_size": (2, 3)}, name="overlapping windows")
    yield Sample((distinct(rng, dtype, 1, 3, 4, 4),), {"output_size": 2}, name="even split")
    yield Sample((distinct(rng, dtype, 2, 3, 5),), {"output_size": (None, 2)}, name="3-d, None keeps H")
    yield Sample((distinct(rng, dtype, 1, 2, 3, 3),), {"output_size": 1}, name="global")


register("adaptive_max_pool2d", method=False, samples=_adaptive_samples, nondifferentiable_points=True,
         nodes=(GetItem, Reshape),
         reference=lambda torch, x, output_size: torch.nn.functional.adaptive_max_pool2d(x, output_size)
         )(adaptive_max_pool2d)

"""layer_norm and group_norm as registered ops, composed of mean, subtraction, square and sqrt (so
they differentiate twice), with PyTorch's signatures, the biased variance and its errors.

>>> import tinygrad_conv as tc
>>> import tinygrad_conv.functional as F
>>> [round(v, 4) for v in F.layer_norm(tc.Tensor([[1.0, 2.0, 3.0]]), (3,)).tolist()[0]]
[-1.2247, 0.0, 1.2247]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..tensor import Tensor
from .elementwise import Mul, Sqrt, Sub
from .reduce import Mean
from .registry import Sample, register
from .samples import randn
from .shape import Reshape


def _normalize(x: Tensor, dims: tuple[int, ...], eps: float) -> Tensor:
    """(x - mean) / sqrt(var + eps) over ``dims``, with the biased variance (as PyTorch's norms)."""
    mean = x.mean(dim=dims, keepdim=True)
    centered = x - mean
    var = (centered * centered).mean(dim=dims, keepdim=True)
    return centered / (var + eps).sqrt()


def _affine_param(p: Any, shape: tuple[int, ...], fn: str, name: str, rule: str) -> Tensor | None:
    if p is None:
        return None
    if not isinstance(p, Tensor):
        raise TypeError(f"{fn}: {name} must be a Tensor or None, got {type(p).__name__}")
    if p.shape != shape:
        raise ValueError(f"{fn}: expected {name} of shape {shape} ({rule}), got {p.shape}")
    return p


def layer_norm(input: Tensor, normalized_shape: int | Sequence[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the last ``len(normalized_shape)`` dims, then scale by ``weight`` and shift by
    ``bias`` (both of ``normalized_shape``), as ``torch.nn.functional.layer_norm``.

    >>> import tinygrad_conv as tc
    >>> y = layer_norm(tc.randn(2, 3, 4), [3, 4])
    >>> round(float(y.data[0].mean()), 5) == 0.0
    True
    """
    fn = "layer_norm"
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}: input must be a Tensor, got {type(input).__name__}")
    shape = (int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer)) \
        else tuple(int(s) for s in normalized_shape)
    k = len(shape)
    if k == 0 or input.ndim < k or input.shape[input.ndim - k:] != shape:
        raise ValueError(f"{fn}: given normalized_shape={list(shape)}, expected an input of shape "
                         f"[*, {', '.join(map(str, shape))}], but got an input of shape {input.shape}")
    rule = "normalized_shape"
    w = _affine_param(weight, shape, fn, "weight", rule)
    b = _affine_param(bias, shape, fn, "bias", rule)
    out = _normalize(input, tuple(range(input.ndim - k, input.ndim)), float(eps))
    if w is not None:
        out = out * w
    if b is not None:
        out = out + b
    return out


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Split the channels (dim 1) into ``num_groups`` groups and normalise each group of each sample,
    then scale and shift per channel, as ``torch.nn.functional.group_norm``.

    >>> import tinygrad_conv as tc
    >>> group_norm(tc.randn(2, 6, 3, 3), 3).shape
    (2, 6, 3, 3)
    """
    fn = "group_norm"
    if not isinstance(input, Tensor):
        raise TypeError(f"{fn}: input must be a Tensor, got {type(input).__name__}")
    if input.ndim < 2:
        raise ValueError(f"{fn}: expected an input of at least 2 dims (N, C, *), got shape {input.shape}")
    n, c = input.shape[0], input.shape[1]
    if isinstance(num_groups, bool) or not isinstance(num_groups, (int, np.integer)) or num_groups <= 0:
        raise ValueError(f"{fn}: num_groups must be a positive integer, got {num_groups!r}")
    if c % num_groups:
        raise ValueError(f"{fn}: expected the number of channels in the input to be divisible by num_groups, "
                         f"but got an input of shape {input.shape} and num_groups={num_groups}")
    rule = "one entry per channel"
    w = _affine_param(weight, (c,), fn, "weight", rule)
    b = _affine_param(bias, (c,), fn, "bias", rule)
    grouped = input.reshape(n, int(num_groups), -1)
    out = _normalize(grouped, (2,), float(eps)).reshape(input.shape)
    bshape = (1, c) + (1,) * (input.ndim - 2)
    if w is not None:
        out = out * w.reshape(bshape)
    if b is not None:
        out = out + b.reshape(bshape)
    return out


def _layer_norm_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 3, 4), (4,)), name="last dim")
    yield Sample((randn(rng, dtype, 2, 3, 4), (3, 4), randn(rng, dtype, 3, 4), randn(rng, dtype, 3, 4)),
                 name="two dims, affine")
    yield Sample((randn(rng, dtype, 2, 5), [5], randn(rng, dtype, 5)), {"eps": 1e-3}, name="weight only")


def _group_norm_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 2, 4, 3), 2), name="2 groups")
    yield Sample((randn(rng, dtype, 2, 6, 2, 2), 3, randn(rng, dtype, 6), randn(rng, dtype, 6)), name="affine")
    yield Sample((randn(rng, dtype, 3, 4), 4), {"eps": 1e-3}, name="(N, C), a group per channel")


register("layer_norm", method=False, samples=_layer_norm_samples, nodes=(Mean, Sub, Mul, Sqrt),
         reference=lambda torch, x, shape, w=None, b=None, eps=1e-5:
         torch.nn.functional.layer_norm(x, list(shape), w, b, eps))(layer_norm)
register("group_norm", method=False, samples=_group_norm_samples, nodes=(Reshape, Mean, Sub, Mul, Sqrt),
         reference=lambda torch, x, g, w=None, b=None, eps=1e-5:
         torch.nn.functional.group_norm(x, g, w, b, eps))(group_norm)

"""LayerNorm and GroupNorm, as ``torch.nn.LayerNorm`` and ``torch.nn.GroupNorm`` (parameter names,
initialisation, repr), calling ``functional.layer_norm`` / ``functional.group_norm``.

>>> import tinygrad_conv as tc
>>> from tinygrad_conv import nn
>>> nn.LayerNorm(4)
LayerNorm((4,), eps=1e-05, elementwise_affine=True, bias=True)
>>> nn.GroupNorm(2, 6)(tc.randn(3, 6, 4)).shape
(3, 6, 4)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import functional as F
from ..dtypes import get_default_dtype
from ..tensor import Tensor
from .module import Module, Parameter


def _check_device(device: Any, layer: str) -> None:
    if device is not None and str(device) != "cpu":
        raise ValueError(f"{layer}: device={device!r} is not available; tinygrad_conv runs on the CPU only "
                         "(device='cpu' or None)")


class _AffineNorm(Module):
    """Shared by LayerNorm and GroupNorm: the optional learnable scale (``weight``, ones) and shift
    (``bias``, zeros), registered as None when absent, as PyTorch's."""

    weight: Parameter | None
    bias: Parameter | None

    def _init_affine(self, shape: int | tuple[int, ...], affine: bool, bias: bool, dtype: Any) -> None:
        dt = dtype or get_default_dtype()
        if affine:
            self.weight = Parameter(np.ones(shape, dtype=dt))
            if bias:
                self.bias = Parameter(np.zeros(shape, dtype=dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            self.weight._data[...] = 1.0
        if self.bias is not None:
            self.bias._data[...] = 0.0


class LayerNorm(_AffineNorm):
    """Normalise over the trailing ``normalized_shape`` dims, with a learnable elementwise scale
    (``weight``, ones) and shift (``bias``, zeros) of that shape."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        _check_device(device, "LayerNorm")
        shape = (int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer)) \
            else tuple(int(s) for s in normalized_shape)
        if not shape or any(s <= 0 for s in shape):
            raise ValueError(f"LayerNorm: normalized_shape must be positive sizes, got {normalized_shape!r}")
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        self._init_affine(shape, elementwise_affine, bias, dtype)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class GroupNorm(_AffineNorm):
    """Normalise each of ``num_groups`` groups of channels per sample, then scale and shift per
    channel (``weight`` ones, ``bias`` zeros, when ``affine``)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device: Any = None, dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        _check_device(device, "GroupNorm")
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        self._init_affine(num_channels, affine, bias, dtype)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim >= 2 and input.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm: input has {input.shape[1]} channels (dim 1 of {input.shape}) but the "
                             f"layer was built for num_channels={self.num_channels}")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")

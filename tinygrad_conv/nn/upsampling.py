"""Upsample (and UpsamplingNearest2d, UpsamplingBilinear2d) and AdaptiveMaxPool2d, as in ``torch.nn``.

>>> import tinygrad_conv as tc
>>> from tinygrad_conv import nn
>>> nn.Upsample(scale_factor=2, mode="bilinear")(tc.ones(1, 1, 3, 3)).shape
(1, 1, 6, 6)
>>> nn.AdaptiveMaxPool2d((2, None))(tc.ones(1, 3, 5, 4)).shape
(1, 3, 2, 4)
"""

from __future__ import annotations

from typing import Any

from .. import functional as F
from ..tensor import Tensor
from .module import Module


class Upsample(Module):
    """Resize spatial dims to ``size`` or by ``scale_factor`` (see ``functional.interpolate``)."""

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None, recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        # PyTorch stores scale factors as floats (its repr shows scale_factor=2.0).
        if isinstance(scale_factor, tuple):
            self.scale_factor: Any = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor is not None else None
        self.mode, self.align_corners, self.recompute_scale_factor = mode, align_corners, recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self) -> str:
        info = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return info + f", mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """Nearest-neighbour upsampling of (N, C, H, W) inputs (Upsample with mode='nearest')."""

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear upsampling with ``align_corners=True`` (as PyTorch's UpsamplingBilinear2d)."""

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class AdaptiveMaxPool2d(Module):
    """Max over windows chosen so that the output is ``output_size`` (None keeps that input size);
    ``return_indices`` also returns the flat positions of the maxima (see
    ``functional.adaptive_max_pool2d``)."""

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, input: Tensor) -> Any:
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"

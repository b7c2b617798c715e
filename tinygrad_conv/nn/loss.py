"""Loss modules: thin wrappers over the loss functions in :mod:`tinygrad_conv.ops.loss`.

>>> import tinygrad_conv as tc
>>> from tinygrad_conv import nn
>>> criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
>>> loss = criterion(tc.Tensor([[2.0, 0.5, -1.0]]), tc.Tensor([0]))
>>> round(loss.item(), 4)
0.3913
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ops import loss as L
from ..tensor import Tensor
from .module import Module


def _buffer(value: Any) -> Tensor | None:
    if value is None or isinstance(value, Tensor):
        return value
    return Tensor(np.asarray(value, dtype=np.float32))


class CrossEntropyLoss(Module):
    """Cross entropy of logits against class indices or probabilities (see ``cross_entropy``)."""

    weight: Tensor | None

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("weight", _buffer(weight))
        self.ignore_index, self.reduction, self.label_smoothing = ignore_index, reduction, label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return L.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction,
                               self.label_smoothing)

    def extra_repr(self) -> str:
        s = f"reduction={self.reduction!r}"
        return s + (f", label_smoothing={self.label_smoothing}" if self.label_smoothing else "")


class NLLLoss(Module):
    """Negative log-likelihood of class indices given log-probabilities (see ``nll_loss``)."""

    weight: Tensor | None

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__()
        self.register_buffer("weight", _buffer(weight))
        self.ignore_index, self.reduction = ignore_index, reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return L.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(Module):
    """Mean squared error (see ``mse_loss``)."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return L.mse_loss(input, target, self.reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class BCEWithLogitsLoss(Module):
    """Binary cross entropy on logits, computed stably (see ``binary_cross_entropy_with_logits``)."""

    weight: Tensor | None
    pos_weight: Tensor | None

    def __init__(self, weight: Any = None, reduction: str = "mean", pos_weight: Any = None) -> None:
        super().__init__()
        self.register_buffer("weight", _buffer(weight))
        self.register_buffer("pos_weight", _buffer(pos_weight))
        self.reduction = reduction

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return L.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction, self.pos_weight)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


# ------------------------------------------------------------------------------------- issue 15's losses
class _LegacyReductionLoss(Module):
    """A loss taking PyTorch's deprecated ``size_average`` / ``reduce``, folded into ``reduction``."""

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = L._legacy_reduction(size_average, reduce, reduction)


class BCELoss(_LegacyReductionLoss):
    """Binary cross entropy of probabilities (see ``binary_cross_entropy``).

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv import nn
    >>> round(nn.BCELoss()(tc.Tensor([0.8, 0.1]), tc.Tensor([1.0, 0.0])).item(), 4)
    0.1643
    """

    weight: Tensor | None

    def __init__(self, weight: Any = None, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", _buffer(weight))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return L.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class L1Loss(_LegacyReductionLoss):
    """Mean absolute error (see ``l1_loss``)."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return L.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_LegacyReductionLoss):
    """Quadratic below ``beta``, linear above (see ``smooth_l1_loss``)."""

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean",
                 beta: float = 1.0) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return L.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(Module):
    """Quadratic up to ``delta``, linear (with slope delta) above (see ``huber_loss``)."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__()
        self.reduction, self.delta = reduction, delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return L.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class KLDivLoss(_LegacyReductionLoss):
    """KL divergence of the target from log-probabilities (see ``kl_div``); use ``reduction='batchmean'``."""

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean",
                 log_target: bool = False) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return L.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class CosineSimilarity(Module):
    """Cosine similarity of two inputs along ``dim`` (see ``cosine_similarity``)."""

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return L.cosine_similarity(x1, x2, self.dim, self.eps)

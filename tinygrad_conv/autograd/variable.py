"""``Variable``: PyTorch's old name for a tensor that records history, kept for old programs."""

from __future__ import annotations

from typing import Any

from ..tensor import Tensor


def Variable(data: Any, requires_grad: bool = False, volatile: bool = False) -> Tensor:
    """A new leaf Tensor sharing ``data``'s memory, as ``torch.autograd.Variable`` returns.

    ``volatile`` is accepted and ignored, as PyTorch has done since 0.4 (use ``no_grad``).

    >>> import tinygrad_conv as tc
    >>> x = tc.Tensor([1.0, 2.0])
    >>> v = tc.autograd.Variable(x, requires_grad=True)
    >>> v.requires_grad, x.requires_grad, v.detach().numpy() is x.numpy()
    (True, False, True)
    """
    if isinstance(data, Tensor):
        t = data.detach()
        t._vbox = [0]  # a leaf of its own (PyTorch's Variable(x) shares memory, not history)
        return t.requires_grad_(requires_grad)
    return Tensor(data, requires_grad=requires_grad)

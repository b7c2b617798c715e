"""embedding: rows of a weight matrix picked by integer indices, as ``torch.nn.functional.embedding``,
with ``padding_idx`` (no gradient to that row), ``max_norm`` (rows renormalised in place) and
``scale_grad_by_freq``.

>>> import tinygrad_conv as tc
>>> import tinygrad_conv.functional as F
>>> w = tc.Tensor([[0.0, 0.0], [1.0, 2.0], [3.0, 4.0]])
>>> F.embedding(tc.Tensor([[2, 1]]), w).tolist()
[[[3.0, 4.0], [1.0, 2.0]]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.function import Context, Function
from ..autograd.grad_mode import no_grad
from ..tensor import Tensor
from .registry import Sample, register
from .samples import randn
from .shape import GetItem, IndexScatter


class Embedding(Function):
    """weight[idx]; the gradient adds each row's upstream gradients (times a constant per-lookup
    scale: 0 at padding_idx, 1 / count with scale_grad_by_freq) into a zero matrix."""

    name = "embedding"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, idx: Any, weight: Any, scale: Any = None) -> Any:
        ctx.idx, ctx.shape, ctx.scale = idx, weight.shape, scale
        return weight[idx]

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        if ctx.scale is not None:
            g = g * Tensor(ctx.scale[..., None].astype(g.dtype))
        # Its own backward (IndexScatter's) is the gather g[idx], so this differentiates again.
        return None, IndexScatter.apply(g, ("key", (ctx.idx,)), ctx.shape)


def _lookup_scale(idx: np.ndarray, padding_idx: int | None, scale_grad_by_freq: bool) -> np.ndarray | None:
    if padding_idx is None and not scale_grad_by_freq:
        return None
    scale = np.ones(idx.shape, dtype=np.float64)
    if scale_grad_by_freq:
        values, inverse, counts = np.unique(idx, return_inverse=True, return_counts=True)
        scale = 1.0 / counts[inverse.reshape(idx.shape)]
    if padding_idx is not None:
        scale = np.where(idx == padding_idx, 0.0, scale)
    return scale


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """The rows of ``weight`` (num_embeddings, embedding_dim) at the integer indices ``input``: an
    output of shape ``input.shape + (embedding_dim,)``, as ``torch.nn.functional.embedding``.

    ``padding_idx``: that row gets no gradient. ``max_norm``: rows looked up whose ``norm_type``
    norm exceeds it are scaled down in place first (``weight`` changes, as in PyTorch).
    ``scale_grad_by_freq``: gradients are divided by how often each index occurs in ``input``.
    ``sparse=True`` is refused: there are no sparse gradients here.

    >>> import tinygrad_conv as tc
    >>> w = tc.Tensor([[0.0, 0.0], [3.0, 4.0]], requires_grad=True)
    >>> embedding(tc.Tensor([1, 0, 1]), w).sum().backward()
    >>> w.grad.tolist()
    [[1.0, 1.0], [2.0, 2.0]]
    """
    fn = "embedding"
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        raise ValueError(f"{fn}: weight must be a 2-d Tensor (num_embeddings, embedding_dim), got "
                         f"{getattr(weight, 'shape', type(weight).__name__)}")
    idx = input._data if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{fn}: indices must be an integer tensor (int64), got {idx.dtype}; convert with .long()")
    num = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= num):
        raise IndexError(f"{fn}: index out of range: indices must be in [0, {num}) for a weight of shape "
                         f"{weight.shape}, got values from {int(idx.min())} to {int(idx.max())}")
    if padding_idx is not None:
        if not -num <= padding_idx < num:
            raise ValueError(f"{fn}: padding_idx must be within num_embeddings ({num}), got {padding_idx}")
        padding_idx = padding_idx % num
    if sparse:
        raise NotImplementedError(f"{fn}: sparse=True is not supported: tinygrad_conv has no sparse tensors, "
                                  "so gradients are always dense (pass sparse=False)")
    if max_norm is not None:
        _renorm_rows(weight, idx, float(max_norm), float(norm_type))
    scale = _lookup_scale(idx.astype(np.int64, copy=False), padding_idx, scale_grad_by_freq)
    return Embedding.apply(Tensor(idx.astype(np.int64, copy=False)), weight, scale=scale)


def _renorm_rows(weight: Tensor, idx: np.ndarray, max_norm: float, norm_type: float) -> None:
    """Scale the looked-up rows whose norm exceeds max_norm to norm max_norm, in place (PyTorch's
    embedding_renorm_: factor max_norm / (norm + 1e-7)), outside the graph, bumping the version."""
    rows = np.unique(idx)
    with no_grad():
        w = weight._data
        norms = np.linalg.norm(w[rows].astype(np.float64), ord=norm_type, axis=1)
        big = norms > max_norm
        if big.any():
            r = rows[big]
            w[r] = (w[r] * (max_norm / (norms[big] + 1e-7))[:, None]).astype(w.dtype)
            weight._vbox[0] += 1


def _embedding_samples(rng: np.random.Generator, dtype: Any) -> Any:
    w = randn(rng, dtype, 6, 3)
    yield Sample((rng.integers(0, 6, (2, 4)), w), name="repeats", grad=(1,))
    yield Sample((rng.integers(0, 6, (5,)), w), {"padding_idx": 2}, name="padding_idx", grad=(1,))
    # scale_grad_by_freq is checked against PyTorch in tests/test_layers_more.py: it deliberately
    # is not the derivative, so finite differences cannot check it.


register("embedding", method=False, samples=_embedding_samples, nodes=(Embedding, IndexScatter, GetItem),
         reference=lambda torch, i, w, padding_idx=None: torch.nn.functional.embedding(i, w, padding_idx=padding_idx)
         )(embedding)

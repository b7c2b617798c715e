"""Embedding, as ``torch.nn.Embedding``: a lookup table of ``num_embeddings`` vectors.

>>> import tinygrad_conv as tc
>>> from tinygrad_conv import nn
>>> emb = nn.Embedding(10, 3, padding_idx=0)
>>> emb(tc.Tensor([[1, 0, 4]])).shape, emb.weight[0].tolist()
((1, 3, 3), [0.0, 0.0, 0.0])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from ..dtypes import get_default_dtype
from ..random import default_generator
from ..tensor import Tensor
from .module import Module, Parameter
from .normalization import _check_device


class Embedding(Module):
    """Rows of ``weight`` (num_embeddings, embedding_dim), drawn from N(0, 1) (the ``padding_idx``
    row zeroed), picked by integer indices; see ``functional.embedding`` for the options."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: Any = None, _freeze: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        _check_device(device, "Embedding")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx must be within num_embeddings ({num_embeddings}), got "
                                 f"{padding_idx}")
            padding_idx = padding_idx % num_embeddings
        if sparse:
            raise NotImplementedError("Embedding: sparse=True is not supported: tinygrad_conv has no sparse "
                                      "tensors, so gradients are always dense (pass sparse=False)")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx, self.max_norm, self.norm_type = padding_idx, max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            self.weight = Parameter(np.zeros((num_embeddings, embedding_dim), dtype=dtype or get_default_dtype()),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            w = _weight._data if isinstance(_weight, Tensor) else np.asarray(_weight)
            if w.shape != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight must have shape ({num_embeddings}, {embedding_dim}) "
                                 f"(num_embeddings, embedding_dim), got {w.shape}")
            self.weight = Parameter(np.array(w), requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        w = self.weight._data
        w[...] = default_generator().standard_normal(w.shape).astype(w.dtype)
        if self.padding_idx is not None:
            w[self.padding_idx] = 0.0

    def forward(self, input: Tensor) -> Tensor:
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        if self.sparse:
            s += ", sparse=True"
        return s

    @classmethod
    def from_pretrained(cls, embeddings: Any, freeze: bool = True, padding_idx: int | None = None,
                        max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:
        """An Embedding whose weight is a copy of the 2-d ``embeddings``; ``freeze`` (the default)
        makes it take no gradient, as ``torch.nn.Embedding.from_pretrained``."""
        w = embeddings._data if isinstance(embeddings, Tensor) else np.asarray(embeddings)
        if w.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-d (num_embeddings, embedding_dim), "
                             f"got shape {w.shape}")
        return cls(w.shape[0], w.shape[1], padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                   scale_grad_by_freq=scale_grad_by_freq, sparse=sparse, _weight=w, _freeze=freeze)

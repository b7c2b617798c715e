"""Matrix product with NumPy's batching and broadcasting rules (``torch.matmul``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.function import Context, Function
from ..tensor import Tensor
from .registry import Sample, register
from .samples import randn


class MatMul(Function):
    """a @ b for inputs with at least 2 dims; batch dims broadcast (the engine sums them back).

    Backward: da = g @ b^T, db = a^T @ g, both matmuls again, so it differentiates twice.
    Both inputs must have one dtype: PyTorch's matmul does not promote (float32 @ float64 raises).
    """

    name = "matmul"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        if a.dtype != b.dtype:
            raise RuntimeError(f"matmul: expected both arguments to have the same dtype, but got {a.dtype} and "
                               f"{b.dtype} (matmul does not promote, as in PyTorch): convert one with "
                               f".to({a.dtype}) or .to({b.dtype})")
        if a.shape[-1] != b.shape[-2]:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied "
                             f"({a.shape[-1]} != {b.shape[-2]}: the last dim of the first must "
                             "equal the second-to-last of the second)")
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        a, b = ctx.saved_tensors
        ga = MatMul.apply(g, b.transpose(-1, -2)) if ctx.needs_input_grad[0] else None
        gb = MatMul.apply(a.transpose(-1, -2), g) if ctx.needs_input_grad[1] else None
        return ga, gb


def matmul(input: Tensor, other: Tensor) -> Tensor:
    """Matrix product, as ``torch.matmul``: 1-d operands are promoted to a row/column and back.

    >>> import tinygrad_conv as tc
    >>> (tc.Tensor([[1.0, 2.0]]) @ tc.Tensor([[3.0], [4.0]])).item()
    11.0
    """
    if not isinstance(other, Tensor):
        other = Tensor(other)
    if not isinstance(input, Tensor):
        input = Tensor(input)
    if input.ndim == 0 or other.ndim == 0:
        raise ValueError(f"matmul: both arguments need at least 1 dim, got shapes {input.shape} "
                         f"and {other.shape}")
    a = input.unsqueeze(0) if input.ndim == 1 else input
    b = other.unsqueeze(-1) if other.ndim == 1 else other
    out = MatMul.apply(a, b)
    if other.ndim == 1:
        out = out.squeeze(-1)
    if input.ndim == 1:
        out = out.squeeze(-2)
    return out


def _matmul_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 3, 4), randn(rng, dtype, 4, 2)), name="matrices")
    yield Sample((randn(rng, dtype, 2, 3, 4), randn(rng, dtype, 4, 5)), name="batched x matrix")
    yield Sample((randn(rng, dtype, 2, 1, 3, 4), randn(rng, dtype, 3, 4, 2)), name="broadcast batch")
    yield Sample((randn(rng, dtype, 4), randn(rng, dtype, 4, 3)), name="vector x matrix")
    yield Sample((randn(rng, dtype, 3, 4), randn(rng, dtype, 4)), name="matrix x vector")


register("matmul", operators={"__matmul__": "forward", "__rmatmul__": "reflected"}, nodes=(MatMul,),
         samples=_matmul_samples, reference=lambda torch, a, b: torch.matmul(a, b))(matmul)

"""Matrix product with NumPy's batching and broadcasting rules (``torch.matmul``), and the fused
affine map ``linear`` (``torch.nn.functional.linear``) that ``nn.Linear`` runs."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.function import Context, Function
from ..autograd.grad_mode import is_grad_enabled
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


class Linear(Function):
    """x @ w.T + b for x (..., in), a 2-d w (out, in) and b broadcastable to the output (or None).

    One node instead of three (the transpose of w, the product, the bias sum), since a training
    step is dominated by such per-op costs at small sizes. Backward: dx = g @ w, dw = g^T @ x over
    the flattened leading dims, db = g summed to b's shape. A plain first-order backward (grad
    mode off) computes these as three NumPy calls; under create_graph they are written with
    registered ops (matmul, transpose, sum), so linear differentiates twice.
    """

    name = "linear"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, x: Any, w: Any, b: Any) -> Any:
        if x.ndim == 2:
            out = np.matmul(x, w.T)  # BLAS reads w transposed in place: no copy
        else:
            # One GEMM over every leading position (np.matmul would loop over the batch dims).
            out = np.matmul(x.reshape(-1, x.shape[-1]), w.T).reshape(x.shape[:-1] + (w.shape[0],))
        if b is not None:
            out += b  # into the fresh output: no second array
        ctx.save_for_backward(x, w)
        ctx.bias_shape = None if b is None else b.shape
        return out

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        out_features, in_features = w.shape
        # The bias gradient: summed over the leading dims when b is one value per output feature;
        # any other broadcast shape is summed back by the engine (sum_to_size), as for an add.
        per_feature = ctx.bias_shape == (out_features,)
        if not is_grad_enabled():
            ga, xa, wa = g._data, x._data, w._data
            g2 = ga.reshape(-1, out_features)
            gx = Tensor._wrap(np.matmul(ga, wa)) if need_x else None
            gw = Tensor._wrap(np.matmul(g2.T, xa.reshape(-1, in_features))) if need_w else None
            gb = (Tensor._wrap(g2.sum(axis=0)) if per_feature else g) if need_b else None
            return gx, gw, gb
        g2t = g.reshape(-1, out_features)
        gx = g.matmul(w) if need_x else None
        gw = g2t.transpose(0, 1).matmul(x.reshape(-1, in_features)) if need_w else None
        gb = (g2t.sum(dim=0) if per_feature else g) if need_b else None
        return gx, gw, gb


def _linear_arg(value: Any, arg: str) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"linear: argument '{arg}' must be a Tensor, not {type(value).__name__}")
    return value


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = input @ weight.T + bias, as ``torch.nn.functional.linear``.

    ``input`` is (*, in_features); ``weight`` is (out_features, in_features), or (in_features,)
    for an output of shape (*); ``bias`` (optional) is (out_features,), a 0-d tensor, or anything
    else that broadcasts to the output without changing its shape. All three share one dtype.

    >>> import tinygrad_conv as tc
    >>> x = tc.Tensor([[1.0, 2.0]])
    >>> linear(x, tc.Tensor([[1.0, 0.0], [1.0, 1.0], [0.0, -1.0]]), tc.Tensor([0.5, 0.0, 0.0])).tolist()
    [[1.5, 3.0, -2.0]]
    """
    input, weight = _linear_arg(input, "input"), _linear_arg(weight, "weight")
    if bias is not None:
        bias = _linear_arg(bias, "bias")
    if input.ndim == 0 or weight.ndim == 0:
        raise ValueError(f"linear: both input and weight need at least 1 dim, got shapes {input.shape} and "
                         f"{weight.shape}")
    if weight.ndim > 2:
        raise ValueError(f"linear: weight must be (out_features, in_features) or (in_features,), got shape "
                         f"{weight.shape}")
    if input.shape[-1] != weight.shape[-1]:
        raise ValueError(f"linear: input of shape {input.shape} and weight of shape {weight.shape} cannot be "
                         f"multiplied: the input's last dim ({input.shape[-1]}) must equal in_features, the "
                         f"weight's last dim ({weight.shape[-1]})")
    for other, arg in ((weight, "weight"), (bias, "bias")):
        if other is not None and other.dtype != input.dtype:
            raise RuntimeError(f"linear: expected input and {arg} to have the same dtype, but got {input.dtype} "
                               f"and {other.dtype} (linear does not promote, as in PyTorch): convert one with "
                               f".to({input.dtype}) or .to({other.dtype})")
    out_shape = input.shape[:-1] + weight.shape[:-1]
    if bias is not None:
        try:
            fits = np.broadcast_shapes(bias.shape, out_shape) == out_shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"linear: bias of shape {bias.shape} does not broadcast to the output's shape "
                             f"{out_shape} (input {input.shape}, weight {weight.shape}); it is usually "
                             f"(out_features,) = ({weight.shape[0] if weight.ndim == 2 else ''},)")
    if weight.ndim == 1:
        # A single output feature without its dim: matmul's vector rule, then the bias.
        out = matmul(input, weight)
        return out if bias is None else out + bias
    return Linear.apply(input, weight, bias)


def _matmul_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 3, 4), randn(rng, dtype, 4, 2)), name="matrices")
    yield Sample((randn(rng, dtype, 2, 3, 4), randn(rng, dtype, 4, 5)), name="batched x matrix")
    yield Sample((randn(rng, dtype, 2, 1, 3, 4), randn(rng, dtype, 3, 4, 2)), name="broadcast batch")
    yield Sample((randn(rng, dtype, 4), randn(rng, dtype, 4, 3)), name="vector x matrix")
    yield Sample((randn(rng, dtype, 3, 4), randn(rng, dtype, 4)), name="matrix x vector")


register("matmul", operators={"__matmul__": "forward", "__rmatmul__": "reflected"}, nodes=(MatMul,),
         samples=_matmul_samples, reference=lambda torch, a, b: torch.matmul(a, b))(matmul)


def _linear_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 3, 4), randn(rng, dtype, 2, 4), randn(rng, dtype, 2)), name="matrix, bias")
    yield Sample((randn(rng, dtype, 2, 3, 4), randn(rng, dtype, 5, 4)), name="batch dims, no bias")
    yield Sample((randn(rng, dtype, 4), randn(rng, dtype, 3, 4), randn(rng, dtype, 3)), name="vector input")
    # (PyTorch refuses a bias with a vector weight and a 2-d input: its addmm wants a matrix.)
    yield Sample((randn(rng, dtype, 2, 3, 4), randn(rng, dtype, 4), randn(rng, dtype)), name="vector weight, 0-d bias")
    yield Sample((randn(rng, dtype, 2, 3, 4), randn(rng, dtype, 2, 4), randn(rng, dtype, 3, 2)),
                 name="bias broadcast over the batch")
    yield Sample((randn(rng, dtype, 3, 4), randn(rng, dtype, 2, 4), randn(rng, dtype)), name="0-d bias")


register("linear", method=False, samples=_linear_samples, nodes=(Linear,),
         reference=lambda torch, *a, **k: torch.nn.functional.linear(*a, **k))(linear)

"""Losses: cross_entropy, nll_loss, mse_loss, binary_cross_entropy_with_logits.

Each loss is composed of registered differentiable ops (log_softmax, a gather along the class dim,
sums and products), so its gradient is itself on the tape and it differentiates twice, as PyTorch's
do. Class weights and targets are constants (they take no gradient). Arguments and defaults follow
``torch.nn.functional``.

>>> import tinygrad_conv as tc
>>> import tinygrad_conv.ops.loss as L
>>> logits = tc.Tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 3.0]], requires_grad=True)
>>> round(L.cross_entropy(logits, tc.Tensor([0, 2])).item(), 4)
0.1672
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..autograd.function import Context, Function
from ..autograd.grad_mode import is_grad_enabled
from ..tensor import Tensor
from .elementwise import Abs, Clamp, Exp, Log, Maximum, Mul, Sub, Where, clamp
from .reduce import LogSoftmax, Mean, Softmax, Sum
from .registry import Sample, register
from .samples import randn
from .shape import Gather, Reshape

_REDUCTIONS = ("none", "mean", "sum")


def _check_reduction(reduction: str, fn: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def _as_tensor(x: Any, fn: str, arg: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (np.ndarray, list, tuple, int, float)):
        return Tensor(x)
    raise TypeError(f"{fn}: {arg} must be a Tensor, got {type(x).__name__}")


def _const_weight(weight: Any, n_classes: int, dtype: Any, fn: str) -> np.ndarray | None:
    """Class weights as a constant array of the input's dtype, checked against C."""
    if weight is None:
        return None
    w = weight._data if isinstance(weight, Tensor) else np.asarray(weight)
    if w.shape != (n_classes,):
        raise ValueError(f"{fn}: weight must have shape (C,) = ({n_classes},), one entry per class, "
                         f"got shape {w.shape}")
    return w.astype(dtype, copy=False)


def _class_targets(input: Tensor, target: Tensor, ignore_index: int, fn: str) -> np.ndarray:
    """Check class-index targets against the input; return them as an int64 array."""
    t = target._data
    if input.ndim == 0:
        raise ValueError(f"{fn}: input must have a class dimension: (C,), (N, C) or (N, C, d1, ...); "
                         "got a 0-d tensor")
    expected = () if input.ndim == 1 else (input.shape[0],) + input.shape[2:]
    if t.dtype.kind not in "iu":
        raise TypeError(f"{fn}: class-index targets must be integers (int64), got {t.dtype} with shape "
                        f"{t.shape}. Convert with target.long(), or pass class probabilities as a float "
                        f"target of the input's shape {input.shape}")
    if t.shape != expected:
        raise ValueError(f"{fn}: for input of shape {input.shape} the target must have shape {expected} "
                         f"(the input's shape without the class dim 1), got {t.shape}")
    n_classes = input.shape[0] if input.ndim == 1 else input.shape[1]
    valid = t != ignore_index
    if valid.any():
        tv = t if valid.all() else t[valid]  # (no copy in the usual case: nothing ignored)
        lo, hi = int(tv.min()), int(tv.max())
        if lo < 0 or hi >= n_classes:
            raise IndexError(f"{fn}: target values must be class indices in [0, {n_classes}) for input "
                             f"of shape {input.shape} (C = {n_classes}), or ignore_index={ignore_index}; "
                             f"got values from {lo} to {hi}")
    return t.astype(np.int64, copy=False)


def _pick(logp: Tensor, t: np.ndarray, valid: np.ndarray) -> Tensor:
    """logp[n, t[n], ...] for every sample: a gather along the class dim, shaped like t."""
    class_dim = 0 if logp.ndim == 1 else 1
    safe = np.where(valid, t, 0)  # ignored entries gather class 0 and are then masked out
    idx = np.expand_dims(safe, class_dim)
    picked = Gather.apply(logp, class_dim, idx)
    return Reshape.apply(picked, t.shape)


def _reduce(loss: Tensor, reduction: str, denominator: float | None = None) -> Tensor:
    """'none', 'sum', or 'mean' (over the elements, or the sum over ``denominator``)."""
    if reduction == "none":
        return loss
    if reduction == "mean" and denominator is None:
        return Mean.apply(loss)
    total = Sum.apply(loss)
    return total / denominator if reduction == "mean" else total


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of class-index targets given log-probabilities, as
    ``torch.nn.functional.nll_loss``.

    ``input`` is (C,), (N, C) or (N, C, d1, ...) log-probabilities; ``target`` holds class indices,
    shaped like ``input`` without dim 1. Per element the loss is ``-weight[t] * input[n, t]``
    (0 where ``t == ignore_index``); ``'mean'`` divides the sum by the total weight of the
    non-ignored targets.

    >>> import tinygrad_conv as tc
    >>> import tinygrad_conv.ops.loss as L
    >>> L.nll_loss(tc.Tensor([[-1.0, -2.0], [-3.0, -0.5]]), tc.Tensor([1, 1])).item()
    1.25
    """
    fn = "nll_loss"
    input = _as_tensor(input, fn, "input")
    target = _as_tensor(target, fn, "target")
    _check_reduction(reduction, fn)
    t = _class_targets(input, target, ignore_index, fn)
    n_classes = input.shape[0] if input.ndim == 1 else input.shape[1]
    w = _const_weight(weight, n_classes, input.dtype, fn)
    return _nll(input, t, w, t != ignore_index, reduction)[0]


def _kept(per_element: Tensor, valid: np.ndarray) -> Tensor:
    """The entries of ``per_element`` whose target is not ignored, as a 1-d Tensor (a gather, so an
    ignored entry takes no part in the reduction and gets a gradient of exactly 0)."""
    flat = Reshape.apply(per_element, (valid.size,))
    return Gather.apply(flat, 0, np.flatnonzero(valid))


def _reduce_kept(kept: Tensor, reduction: str, denominator: float) -> Tensor:
    """'sum' or 'mean' of the non-ignored entries, as PyTorch: the mean over no entries at all
    (every target ignored) is 0/0 = nan, while the gradient stays 0 (PyTorch's backward skips ignored
    entries; dividing the upstream gradient by the zero total would turn it into nan * 0 = nan)."""
    total = Sum.apply(kept)
    if reduction == "sum":
        return total
    if kept.shape[0] == 0:
        return total + float("nan")
    return total / denominator


def _nll(logp: Tensor, t: np.ndarray, w: np.ndarray | None, valid: np.ndarray,
         reduction: str) -> tuple[Tensor, float | None]:
    """The reduced weighted nll of log-probabilities, and the 'mean' denominator when it is not
    simply the number of elements (class weights or ignored targets)."""
    picked = _pick(logp, t, valid)
    if w is None and valid.all():
        return _reduce(-picked, reduction), None  # the common case: a plain mean, no masks
    if reduction == "none" or valid.all():
        per = np.where(valid, 1.0 if w is None else w[np.where(valid, t, 0)], 0.0).astype(logp.dtype)
        denominator = float(per.sum())
        return _reduce(-(picked * Tensor(per)), reduction, denominator), denominator
    kept = -_kept(picked, valid)
    if w is None:
        denominator = float(kept.shape[0])
    else:
        per_kept = w[t[valid]]
        denominator = float(per_kept.sum())
        kept = kept * Tensor(per_kept)
    return _reduce_kept(kept, reduction, denominator), denominator


def _probability_targets(input: Tensor, target: Tensor, w: np.ndarray | None, reduction: str,
                         label_smoothing: float) -> Tensor:
    """Cross entropy against class probabilities (a float target shaped like the input)."""
    class_dim = 0 if input.ndim == 1 else 1
    n_classes = input.shape[class_dim]
    logp = LogSoftmax.apply(input, dim=class_dim)
    if label_smoothing > 0:
        target = target * (1.0 - label_smoothing) + label_smoothing / n_classes
    prod = logp * target
    if w is not None:
        prod = prod * Tensor(w.reshape((n_classes,) + (1,) * (input.ndim - class_dim - 1)))
    loss = -Sum.apply(prod, dim=class_dim)
    if reduction == "mean":
        # PyTorch divides by the number of samples (the batch size), not by the weights.
        count = 1 if input.ndim == 1 else int(np.prod((input.shape[0],) + input.shape[2:]))
        return Sum.apply(loss) / float(count)
    return _reduce(loss, reduction)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy between logits and targets, as ``torch.nn.functional.cross_entropy``.

    ``input``: unnormalised logits, (C,), (N, C) or (N, C, d1, ...). ``target``: class indices
    (integers, shaped like ``input`` without dim 1), or class probabilities (floats shaped like
    ``input``). Stable for logits of any size (log_softmax subtracts the maximum).
    ``label_smoothing`` mixes the one-hot target with the uniform distribution over C classes.

    >>> import tinygrad_conv as tc
    >>> import tinygrad_conv.ops.loss as L
    >>> x = tc.Tensor([[1000.0, 0.0], [0.0, 1000.0]])
    >>> L.cross_entropy(x, tc.Tensor([0, 1])).item(), round(L.cross_entropy(x, tc.Tensor([1, 1])).item())
    (0.0, 500)
    """
    fn = "cross_entropy"
    input = _as_tensor(input, fn, "input")
    target = _as_tensor(target, fn, "target")
    _check_reduction(reduction, fn)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{fn}: label_smoothing must be in [0, 1], got {label_smoothing}")
    if input.ndim == 0:
        raise ValueError(f"{fn}: input must be (C,), (N, C) or (N, C, d1, ...) logits, got a 0-d tensor")
    if input.dtype.kind != "f":
        raise TypeError(f"{fn}: input must be floating point logits, got {input.dtype}")
    class_dim = 0 if input.ndim == 1 else 1
    n_classes = input.shape[class_dim]
    w = _const_weight(weight, n_classes, input.dtype, fn)
    if target.dtype.kind == "f":
        index_shape = () if input.ndim == 1 else (input.shape[0],) + input.shape[2:]
        if target.shape == index_shape and target.shape != input.shape:
            _class_targets(input, target, ignore_index, fn)  # raises: class indices must be integers
        if target.shape != input.shape:
            raise ValueError(f"{fn}: a float target holds class probabilities and must have the input's "
                             f"shape {input.shape}, got {target.shape}. For class indices pass an integer "
                             "target (target.long())")
        return _probability_targets(input, target, w, reduction, label_smoothing)
    t = _class_targets(input, target, ignore_index, fn)
    valid = t != ignore_index
    if w is None and reduction != "none" and valid.all():
        return _class_cross_entropy(input, t, class_dim, label_smoothing, reduction)
    logp = LogSoftmax.apply(input, dim=class_dim)
    nll, denominator = _nll(logp, t, w, valid, reduction)
    if label_smoothing == 0.0:
        return nll
    # The smoothing term: -sum_c w_c * logp_c per element (0 where ignored), reduced like the
    # nll term, so loss = (1 - eps) * nll + eps / C * smooth (PyTorch's definition).
    weighted = logp if w is None else logp * Tensor(w.reshape((n_classes,) + (1,) * (input.ndim - class_dim - 1)))
    smooth = -Sum.apply(weighted, dim=class_dim)
    if valid.all():
        smooth = _reduce(smooth, reduction, denominator)
    elif reduction == "none":
        smooth = smooth * Tensor(valid.astype(input.dtype))
    else:
        assert denominator is not None  # _nll returns it whenever a target is ignored
        smooth = _reduce_kept(_kept(smooth, valid), reduction, denominator)
    return nll * (1.0 - label_smoothing) + smooth * (label_smoothing / n_classes)


class ClassCrossEntropy(Function):
    """-sum over samples and classes of q * log_softmax(x), times ``scale``, in one op: the mean
    (``scale`` = 1 / samples) or summed cross entropy against class indices without class weights
    or ignored targets, the usual training loss. ``q`` is the constant target distribution,
    (1 - eps) onehot(t) + eps / C with label smoothing eps (each row sums to 1).

    One node instead of five (log_softmax, the product with q, the sum, the sign and the mean),
    which matters at a classifier's small sizes. Since each row of q sums to 1 the gradient is
    (softmax(x) - q) * g * scale; the softmax is kept from the forward's exponentials for a plain
    backward, and under create_graph it is the registered softmax op, so this differentiates twice.
    """

    name = "cross_entropy"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, x: Any, q: Any, class_dim: int, scale: float) -> Any:
        shifted = x - np.max(x, axis=class_dim, keepdims=True)  # exp never overflows
        e = np.exp(shifted)
        total = np.sum(e, axis=class_dim, keepdims=True)
        shifted -= np.log(total)  # log_softmax(x)
        # 0 - sum, not -sum: a perfect prediction sums -0.0 terms, and PyTorch's loss is then +0.0.
        loss = (0.0 - np.sum(shifted * q)) * scale
        if ctx.needs_input_grad[0]:
            e /= total  # softmax(x), for backward
            ctx.softmax = e
            ctx.save_for_backward(x)
        ctx.q, ctx.class_dim, ctx.scale = q, class_dim, scale
        return np.asarray(loss, dtype=x.dtype)

    @staticmethod
    def backward(ctx: Context, g: Tensor, *unused: Any) -> Any:
        if not is_grad_enabled():
            gx = (ctx.softmax - ctx.q) * (g._data * ctx.scale)
            return Tensor._wrap(gx.astype(ctx.softmax.dtype, copy=False)), None
        (x,) = ctx.saved_tensors
        p = Softmax.apply(x, dim=ctx.class_dim)
        return (p - Tensor._wrap(ctx.q)) * (g * ctx.scale), None


def _class_cross_entropy(input: Tensor, t: np.ndarray, class_dim: int, label_smoothing: float,
                         reduction: str) -> Tensor:
    """Cross entropy against class indices, none ignored and no class weights, summed or
    averaged over the targets: ClassCrossEntropy with the smoothed one-hot targets.

    (1 - eps) * nll + eps / C * smooth, PyTorch's definition, is -sum_c q_c * logp_c per element
    with q = (1 - eps) * onehot(t) + eps / C.
    """
    n_classes = input.shape[class_dim]
    q = np.full(input.shape, label_smoothing / n_classes, dtype=input.dtype)
    target_value = 1.0 - label_smoothing + label_smoothing / n_classes
    if input.ndim == 2:
        # (N, C), the usual case: one fancy assignment (np.put_along_axis builds index grids first).
        q[np.arange(t.size), t] = target_value
    else:
        np.put_along_axis(q, np.expand_dims(t, class_dim), target_value, axis=class_dim)
    scale = 1.0 / t.size if reduction == "mean" else 1.0
    return ClassCrossEntropy.apply(input, q, class_dim=class_dim, scale=scale)


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Mean squared error, as ``torch.nn.functional.mse_loss`` (both arguments differentiable).

    >>> import tinygrad_conv as tc
    >>> import tinygrad_conv.ops.loss as L
    >>> L.mse_loss(tc.Tensor([1.0, 2.0]), tc.Tensor([0.0, 4.0])).item()
    2.5
    """
    fn = "mse_loss"
    input = _as_tensor(input, fn, "input")
    target = _as_tensor(target, fn, "target")
    _check_reduction(reduction, fn)
    if input.shape != target.shape:
        try:
            np.broadcast_shapes(input.shape, target.shape)
        except ValueError:
            raise ValueError(f"{fn}: input shape {input.shape} and target shape {target.shape} do not "
                             "match (nor broadcast)") from None
    diff = input - target
    return _reduce(diff * diff, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     reduction: str = "mean", pos_weight: Tensor | None = None) -> Tensor:
    """Binary cross entropy of sigmoid(input) against targets in [0, 1], computed from the logits
    without overflow, as ``torch.nn.functional.binary_cross_entropy_with_logits``.

    Per element: ``(1 - t) * x + (1 + (pos_weight - 1) * t) * softplus(-x)``, with the stable
    ``softplus(z) = max(z, 0) + log(1 + exp(-|z|))``; then times ``weight``.

    >>> import tinygrad_conv as tc
    >>> import tinygrad_conv.ops.loss as L
    >>> L.binary_cross_entropy_with_logits(tc.Tensor([-200.0, 200.0]), tc.Tensor([0.0, 1.0])).item()
    0.0
    """
    fn = "binary_cross_entropy_with_logits"
    input = _as_tensor(input, fn, "input")
    target = _as_tensor(target, fn, "target")
    _check_reduction(reduction, fn)
    if target.shape != input.shape:
        raise ValueError(f"{fn}: target shape {target.shape} must equal input shape {input.shape}")
    if target.dtype.kind != "f":
        raise TypeError(f"{fn}: target must be floating point (probabilities in [0, 1]), got "
                        f"{target.dtype}; convert with target.float()")
    zero = Tensor(np.zeros((), dtype=input.dtype))
    softplus_neg = Maximum.apply(-input, zero) + Log.apply(Exp.apply(-Abs.apply(input)) + 1.0)
    if pos_weight is not None:
        pw = pos_weight if isinstance(pos_weight, Tensor) else Tensor(np.asarray(pos_weight, dtype=input.dtype))
        coeff = (pw - 1.0) * target + 1.0
        loss = Mul.apply(Sub.apply(1.0, target), input) + coeff * softplus_neg
    else:
        loss = Mul.apply(Sub.apply(1.0, target), input) + softplus_neg
    if weight is not None:
        loss = loss * (weight if isinstance(weight, Tensor) else Tensor(np.asarray(weight, dtype=input.dtype)))
    return _reduce(loss, reduction)


# ------------------------------------------------------------------------------------- registration
def _int_targets(rng: np.random.Generator, n_classes: int, *shape: int) -> np.ndarray:
    return rng.integers(0, n_classes, shape).astype(np.int64)


def _ce_samples(rng: np.random.Generator, dtype: Any) -> Any:
    x = randn(rng, dtype, 5, 4) * 2
    t = _int_targets(rng, 4, 5)
    yield Sample((x, t), name="mean")
    yield Sample((x, t), {"reduction": "sum"}, name="sum")
    yield Sample((x, t), {"reduction": "none"}, name="none")
    w = rng.uniform(0.5, 2.0, 4).astype(dtype)
    yield Sample((x, t), {"weight": w}, name="class weights")
    yield Sample((x, t), {"label_smoothing": 0.1}, name="label smoothing")
    yield Sample((x, t), {"weight": w, "label_smoothing": 0.2, "reduction": "mean"}, name="weights+smoothing")
    t_ign = t.copy()
    t_ign[1] = -100
    yield Sample((x, t_ign), {"label_smoothing": 0.1}, name="ignore_index")
    yield Sample((x, np.full_like(t, -100)), {"reduction": "sum", "label_smoothing": 0.1}, name="all ignored sum")
    yield Sample((randn(rng, dtype, 3, 4, 2, 2), _int_targets(rng, 4, 3, 2, 2)), name="spatial (N,C,H,W)")
    yield Sample((randn(rng, dtype, 3, 4, 2, 2), _int_targets(rng, 4, 3, 2, 2)),
                 {"label_smoothing": 0.3, "reduction": "sum"}, name="spatial, smoothing, sum")
    yield Sample((randn(rng, dtype, 4), np.array(2, dtype=np.int64)), name="unbatched (C,)")
    probs = rng.dirichlet(np.ones(4), 5).astype(dtype)
    yield Sample((x, probs), {"label_smoothing": 0.1}, name="probability targets", grad=(0,))


def _nll_samples(rng: np.random.Generator, dtype: Any) -> Any:
    x = randn(rng, dtype, 5, 3)
    t = _int_targets(rng, 3, 5)
    yield Sample((x, t), name="mean")
    yield Sample((x, t), {"reduction": "sum"}, name="sum")
    yield Sample((x, t), {"reduction": "none", "weight": rng.uniform(0.5, 2.0, 3).astype(dtype)},
                 name="weights none")
    yield Sample((x, t), {"weight": rng.uniform(0.5, 2.0, 3).astype(dtype)}, name="weights mean")
    yield Sample((randn(rng, dtype, 2, 3, 4), _int_targets(rng, 3, 2, 4)), name="(N,C,L)")
    t_ign = t.copy()
    t_ign[::2] = -100
    yield Sample((x, t_ign), {"reduction": "sum", "weight": rng.uniform(0.5, 2.0, 3).astype(dtype)},
                 name="some ignored sum")


def _mse_samples(rng: np.random.Generator, dtype: Any) -> Any:
    a, b = randn(rng, dtype, 3, 4), randn(rng, dtype, 3, 4)
    yield Sample((a, b), name="mean")
    yield Sample((a, b), {"reduction": "sum"}, name="sum")
    yield Sample((a, b), {"reduction": "none"}, name="none")
    yield Sample((randn(rng, dtype, 2, 1, 3, 3), randn(rng, dtype, 2, 1, 3, 3)), name="images")


def _bce_samples(rng: np.random.Generator, dtype: Any) -> Any:
    x = randn(rng, dtype, 4, 3) * 3
    t = rng.uniform(0, 1, (4, 3)).astype(dtype)
    yield Sample((x, t), name="soft targets")
    yield Sample((x, (t > 0.5).astype(dtype)), {"reduction": "sum"}, name="hard targets sum", grad=(0,))
    yield Sample((x, t), {"reduction": "none", "weight": rng.uniform(0.5, 2, 3).astype(dtype)},
                 name="weight none")
    yield Sample((x, t), {"pos_weight": rng.uniform(0.5, 3, 3).astype(dtype)}, name="pos_weight")


def _torch_loss(name: str) -> Any:
    def ref(torch: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(torch.nn.functional, name)(*args, **kwargs)

    return ref


register("cross_entropy", method=False, samples=_ce_samples, reference=_torch_loss("cross_entropy"),
         nodes=(ClassCrossEntropy, LogSoftmax, Gather, Reshape, Mul, Sum, Mean))(cross_entropy)
register("nll_loss", method=False, samples=_nll_samples, reference=_torch_loss("nll_loss"),
         nodes=(Gather, Reshape, Mul, Sum, Mean))(nll_loss)
register("mse_loss", method=False, samples=_mse_samples, reference=_torch_loss("mse_loss"),
         nodes=(Sub, Mul, Sum, Mean))(mse_loss)
register("binary_cross_entropy_with_logits", method=False, samples=_bce_samples,
         reference=_torch_loss("binary_cross_entropy_with_logits"),
         nodes=(Maximum, Abs, Exp, Log, Mul, Sub, Sum, Mean), nondifferentiable_points=True
         )(binary_cross_entropy_with_logits)

__all__ = ["binary_cross_entropy_with_logits", "cross_entropy", "mse_loss", "nll_loss"]


# ------------------------------------------------------------------------------------- issue 15's losses
# binary_cross_entropy, l1_loss, smooth_l1_loss, huber_loss, kl_div, cosine_similarity: PyTorch's
# signatures (with the legacy size_average / reduce), defaults, errors and gradients.


def _legacy_reduction(size_average: bool | None, reduce: bool | None, reduction: str, stacklevel: int = 3) -> str:
    """PyTorch's mapping of the deprecated ``size_average`` / ``reduce`` onto ``reduction`` (with its warning)."""
    if size_average is None and reduce is None:
        return reduction
    warnings.warn("size_average and reduce args will be deprecated, please use reduction='none', 'mean' or "
                  "'sum' instead.", stacklevel=stacklevel)
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def _pointwise_args(fn: str, input: Any, target: Any, reduction: str, size_average: bool | None = None,
                    reduce: bool | None = None) -> tuple[Tensor, Tensor, str]:
    """The elementwise losses' argument handling: both as tensors, and the reduction after PyTorch's
    legacy ``size_average`` / ``reduce`` (warning at the loss's caller), checked."""
    input = _as_tensor(input, fn, "input")
    target = _as_tensor(target, fn, "target")
    reduction = _legacy_reduction(size_average, reduce, reduction, stacklevel=4)
    _check_reduction(reduction, fn)
    return input, target, reduction


def _broadcast_pair(input: Tensor, target: Tensor, fn: str, *, warn: bool = False) -> None:
    """Raise unless the shapes broadcast; with ``warn``, PyTorch's warning when they differ."""
    try:
        np.broadcast_shapes(input.shape, target.shape)
    except ValueError:
        raise ValueError(f"{fn}: input shape {input.shape} and target shape {target.shape} do not broadcast "
                         "against each other") from None
    if warn and target.shape != input.shape:
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input size ({input.shape}). "
                      "This will likely lead to incorrect results due to broadcasting. Please ensure they have "
                      "the same size.", stacklevel=3)


def _float_tensor(x: Any, fn: str, arg: str) -> Tensor:
    t = _as_tensor(x, fn, arg)
    if t.dtype.kind != "f":
        raise TypeError(f"{fn}: {arg} must be a floating point tensor, got {t.dtype}; convert with .float()")
    return t


class BinaryCrossEntropy(Function):
    """-w (t log x + (1 - t) log(1 - x)) per element, each log clamped to >= -100 (as PyTorch).

    The gradients are PyTorch's: for x, g w (x - t) / max(x (1 - x), 1e-12) (finite at 0 and 1);
    for t, g w (log(1 - x) - log(x)). Both are written with registered ops.
    """

    name = "binary_cross_entropy"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, x: Any, t: Any, w: Any) -> Any:
        ctx.save_for_backward(x, t, w)
        with np.errstate(divide="ignore"):
            log_x = np.maximum(np.log(x), -100.0)
            log_1mx = np.maximum(np.log1p(-x), -100.0)
        out = -((t * log_x + (1.0 - t) * log_1mx) * w)
        return out.astype(np.result_type(x, t), copy=False)

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> Any:
        x, t, w = ctx.saved_tensors
        gw = g * w
        d_x = d_t = None
        if ctx.needs_input_grad[0]:
            d_x = gw * (x - t) / clamp(x * (1.0 - x), min=1e-12)
        if ctx.needs_input_grad[1]:
            d_t = gw * (Log.apply(1.0 - x) - Log.apply(x))
        return d_x, d_t, None


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average: bool | None = None, reduce: bool | None = None,
                         reduction: str = "mean") -> Tensor:
    """Binary cross entropy between probabilities ``input`` and ``target`` (both in [0, 1]), as
    ``torch.nn.functional.binary_cross_entropy``; each log is clamped to >= -100, so a wrong
    prediction of exactly 0 or 1 costs 100, not inf. ``weight`` broadcasts against the target.

    >>> import tinygrad_conv as tc
    >>> import tinygrad_conv.ops.loss as L
    >>> round(L.binary_cross_entropy(tc.Tensor([0.8, 0.1]), tc.Tensor([1.0, 0.0])).item(), 4)
    0.1643
    >>> L.binary_cross_entropy(tc.Tensor([0.0]), tc.Tensor([1.0])).item()
    100.0
    """
    fn = "binary_cross_entropy"
    input = _float_tensor(input, fn, "input")
    target = _float_tensor(target, fn, "target")
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, fn)
    if target.shape != input.shape:
        raise ValueError(f"{fn}: using a target size {target.shape} that is different to the input size "
                         f"{input.shape} is not supported; give them the same shape")
    x, t = input._data, target._data
    if x.size and not ((x >= 0) & (x <= 1)).all():
        raise ValueError(f"{fn}: all elements of input should be between 0 and 1 (probabilities; for logits "
                         f"use binary_cross_entropy_with_logits), got values from {np.nanmin(x)} to {np.nanmax(x)}")
    if t.size and not ((t >= 0) & (t <= 1)).all():
        raise ValueError(f"{fn}: all elements of target should be between 0 and 1, got values from "
                         f"{np.nanmin(t)} to {np.nanmax(t)}")
    if weight is None:
        w = Tensor(np.ones((), dtype=input.dtype))
    else:
        w = _as_tensor(weight, fn, "weight")
        try:
            np.broadcast_shapes(w.shape, target.shape)
        except ValueError:
            raise ValueError(f"{fn}: weight of shape {w.shape} does not broadcast to the target's shape "
                             f"{target.shape}") from None
        w = w.detach() if w.dtype == input.dtype else Tensor(w._data.astype(input.dtype))
    return _reduce(BinaryCrossEntropy.apply(input, target, w), reduction)


def _weighted_reduce(loss: Tensor, weight: Any, input: Tensor, reduction: str, fn: str, mean_by_weight: bool) -> Tensor:
    """PyTorch's element-weighted reductions: l1_loss's mean divides by the weights' sum, huber_loss's
    by the element count."""
    if weight is None:
        return _reduce(loss, reduction)
    w = _as_tensor(weight, fn, "weight")
    if w.shape != input.shape:
        raise ValueError(f"{fn}: weights and input must have the same size, got weight {w.shape} and input "
                         f"{input.shape}")
    weighted = loss * w
    if reduction == "mean" and mean_by_weight:
        return Sum.apply(weighted) / Sum.apply(w)
    return _reduce(weighted, reduction)


def l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
            reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean absolute error |input - target|, as ``torch.nn.functional.l1_loss`` (the gradient at 0 is 0).

    With ``weight`` (the input's shape), ``'mean'`` is sum(w |d|) / sum(w), as PyTorch.

    >>> import tinygrad_conv as tc
    >>> import tinygrad_conv.ops.loss as L
    >>> L.l1_loss(tc.Tensor([1.0, 2.0]), tc.Tensor([0.0, 4.0])).item()
    1.5
    """
    fn = "l1_loss"
    input, target, reduction = _pointwise_args(fn, input, target, reduction, size_average, reduce)
    _broadcast_pair(input, target, fn, warn=True)
    return _weighted_reduce(Abs.apply(input - target), weight, input, reduction, fn, mean_by_weight=True)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target), as
    ``torch.nn.functional.smooth_l1_loss``; beta = 0 gives l1_loss.

    >>> import tinygrad_conv as tc
    >>> import tinygrad_conv.ops.loss as L
    >>> L.smooth_l1_loss(tc.Tensor([0.5, 3.0]), tc.Tensor([0.0, 0.0])).item()
    1.3125
    """
    fn = "smooth_l1_loss"
    input, target, reduction = _pointwise_args(fn, input, target, reduction, size_average, reduce)
    if beta < 0:
        raise ValueError(f"{fn}: does not support negative values for beta, got beta={beta}")
    _broadcast_pair(input, target, fn, warn=True)
    d = input - target
    ad = Abs.apply(d)
    if beta == 0:
        return _reduce(ad, reduction)
    quadratic = Tensor(np.asarray(ad._data < beta))
    return _reduce(Where.apply(quadratic, d * d * (0.5 / beta), ad - 0.5 * beta), reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """0.5 d^2 where |d| <= delta, else delta (|d| - 0.5 delta) (d = input - target), as
    ``torch.nn.functional.huber_loss``. With ``weight``, ``'mean'`` is the mean of w * loss.

    >>> import tinygrad_conv as tc
    >>> import tinygrad_conv.ops.loss as L
    >>> L.huber_loss(tc.Tensor([0.5, 3.0]), tc.Tensor([0.0, 0.0]), delta=2.0).item()
    2.0625
    """
    fn = "huber_loss"
    input, target, reduction = _pointwise_args(fn, input, target, reduction)
    if not delta > 0:
        raise ValueError(f"{fn}: does not support non-positive values for delta, got delta={delta}")
    _broadcast_pair(input, target, fn, warn=True)
    d = input - target
    ad = Abs.apply(d)
    quadratic = Tensor(np.asarray(ad._data <= delta))
    loss = Where.apply(quadratic, d * d * 0.5, (ad - 0.5 * delta) * delta)
    return _weighted_reduce(loss, weight, input, reduction, fn, mean_by_weight=False)


def kl_div(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence of ``target`` from the log-probabilities ``input``, as
    ``torch.nn.functional.kl_div``: target (log target - input) per element (0 where target is 0),
    or exp(target) (target - input) with ``log_target=True``. ``'batchmean'`` divides the sum by
    the batch size (the true KL divergence); ``'mean'`` by the element count (with PyTorch's warning).

    >>> import tinygrad_conv as tc
    >>> import tinygrad_conv.ops.loss as L
    >>> logp = tc.Tensor([[0.25, 0.75]]).log()
    >>> round(L.kl_div(logp, tc.Tensor([[0.5, 0.5]]), reduction="batchmean").item(), 4)
    0.1438
    """
    fn = "kl_div"
    input = _as_tensor(input, fn, "input")
    target = _as_tensor(target, fn, "target")
    legacy = size_average is not None or reduce is not None
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in ("none", "mean", "sum", "batchmean"):
        raise ValueError(f"{fn}: reduction must be 'none', 'batchmean', 'sum' or 'mean', got {reduction!r}")
    if reduction == "mean" and not legacy:
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the support size."
                      "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
                      "'mean' will be changed to behave the same as 'batchmean' in the next major release.",
                      stacklevel=2)
    _broadcast_pair(input, target, fn)
    if log_target:
        loss = Exp.apply(target) * (target - input)
    else:
        # xlogy(t, t): 0 where t == 0 (and its gradient there is taken through log(1) = 0).
        zero = Tensor(np.asarray(target._data == 0))
        safe = Where.apply(zero, 1.0, target)
        loss = target * Log.apply(safe) - target * input
    if reduction == "batchmean":
        total = Sum.apply(loss)
        return total / float(input.shape[0]) if input.ndim else total
    return _reduce(loss, reduction)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps)) along ``dim``, as
    ``torch.nn.functional.cosine_similarity`` (the inputs broadcast against each other).

    >>> import tinygrad_conv as tc
    >>> import tinygrad_conv.ops.loss as L
    >>> L.cosine_similarity(tc.Tensor([[1.0, 0.0], [1.0, 1.0]]), tc.Tensor([[2.0, 0.0], [1.0, -1.0]])).tolist()
    [1.0, 0.0]
    """
    fn = "cosine_similarity"
    x1 = _float_tensor(x1, fn, "x1")
    x2 = _float_tensor(x2, fn, "x2")
    try:
        shape = np.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:
        raise ValueError(f"{fn}: x1 of shape {x1.shape} and x2 of shape {x2.shape} do not broadcast") from None
    ndim = max(len(shape), 1)
    if not -ndim <= dim < ndim:
        raise IndexError(f"{fn}: dim {dim} is out of range for inputs broadcast to shape {shape} (expected "
                         f"a dim in [{-ndim}, {ndim - 1}])")
    # Each norm is clamped to eps on its own, as PyTorch (since 1.12) does, then each input is
    # divided by its norm before the product: no overflow for large entries.
    n1 = Clamp.apply((x1 * x1).sum(dim=dim, keepdim=True).sqrt(), min=eps)
    n2 = Clamp.apply((x2 * x2).sum(dim=dim, keepdim=True).sqrt(), min=eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim=dim)


def _bce_prob_samples(rng: np.random.Generator, dtype: Any) -> Any:
    x = rng.uniform(0.05, 0.95, (4, 3)).astype(dtype)
    t = rng.uniform(0, 1, (4, 3)).astype(dtype)
    yield Sample((x, t), name="mean")
    yield Sample((x, t), {"reduction": "sum"}, name="sum")
    yield Sample((x, t), {"reduction": "none", "weight": rng.uniform(0.5, 2, 3).astype(dtype)}, name="weight none")
    yield Sample((x, (t > 0.5).astype(dtype)), {"weight": rng.uniform(0.5, 2, (4, 3)).astype(dtype)},
                 name="hard targets, full weight", grad=(0,))


def _pair_samples(**extra: Any) -> Any:
    def samples(rng: np.random.Generator, dtype: Any) -> Any:
        a = randn(rng, dtype, 3, 4) * 2
        b = randn(rng, dtype, 3, 4) * 2
        yield Sample((a, b), name="mean")
        yield Sample((a, b), {"reduction": "sum", **extra}, name="sum")
        yield Sample((a, b), {"reduction": "none", **extra}, name="none")
        yield Sample((randn(rng, dtype, 2, 3, 2), randn(rng, dtype, 2, 3, 2)), dict(extra), name="3d")
    return samples


def _kl_samples(rng: np.random.Generator, dtype: Any) -> Any:
    logp = np.log(rng.dirichlet(np.ones(4), 3)).astype(dtype)
    q = rng.dirichlet(np.ones(4), 3).astype(dtype)
    yield Sample((logp, q), {"reduction": "batchmean"}, name="batchmean")
    yield Sample((logp, q), {"reduction": "sum"}, name="sum")
    yield Sample((logp, q), {"reduction": "none"}, name="none")
    yield Sample((logp, np.log(q)), {"reduction": "batchmean", "log_target": True}, name="log_target")


def _cos_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample((randn(rng, dtype, 3, 4), randn(rng, dtype, 3, 4)), name="dim 1")
    yield Sample((randn(rng, dtype, 2, 3, 4), randn(rng, dtype, 2, 3, 4)), {"dim": -1}, name="dim -1")
    yield Sample((randn(rng, dtype, 3, 4), randn(rng, dtype, 1, 4)), {"dim": 1}, name="broadcast")


register("binary_cross_entropy", method=False, samples=_bce_prob_samples,
         reference=_torch_loss("binary_cross_entropy"), nodes=(BinaryCrossEntropy, Sum, Mean))(binary_cross_entropy)
register("l1_loss", method=False, samples=_pair_samples(), reference=_torch_loss("l1_loss"),
         nondifferentiable_points=True, nodes=(Sub, Abs, Sum, Mean))(l1_loss)
register("smooth_l1_loss", method=False, samples=_pair_samples(beta=0.7), reference=_torch_loss("smooth_l1_loss"),
         nondifferentiable_points=True, nodes=(Sub, Abs, Where, Sum, Mean))(smooth_l1_loss)
register("huber_loss", method=False, samples=_pair_samples(delta=1.3), reference=_torch_loss("huber_loss"),
         nondifferentiable_points=True, nodes=(Sub, Abs, Where, Sum, Mean))(huber_loss)
register("kl_div", method=False, samples=_kl_samples, reference=_torch_loss("kl_div"),
         nodes=(Log, Exp, Where, Mul, Sum, Mean))(kl_div)
register("cosine_similarity", method=False, samples=_cos_samples, reference=_torch_loss("cosine_similarity"),
         nodes=(Mul, Sum, Clamp))(cosine_similarity)

__all__ += ["binary_cross_entropy", "cosine_similarity", "huber_loss", "kl_div", "l1_loss", "smooth_l1_loss"]

"""Linear algebra: einsum, mm, bmm, t, norm and std, as PyTorch defines them.

``einsum`` is one op whose backward is einsum again (one per operand, with the upstream gradient
in the operand's place), so it differentiates to any order. mm, bmm and t are matmul and permute
with PyTorch's shape rules; norm and std are built from registered ops.

>>> import tinygrad_conv as tc
>>> a = tc.tensor([[1.0, 2.0], [3.0, 4.0]])
>>> tc.einsum("ij,jk->ik", a, a).tolist(), tc.einsum("ii", a).item()
([[7.0, 10.0], [15.0, 22.0]], 5.0)
"""

from __future__ import annotations

import builtins
import math
import string
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..autograd.function import Context, Function
from ..tensor import Tensor
from .matmul import MatMul
from .reduce import Mean, Sum, _axes, var
from .registry import Sample, register
from .samples import distinct, randn
from .shape import Permute, expand, reshape

_LETTERS = string.ascii_letters


# ------------------------------------------------------------------------ einsum
def _from_sublists(args: tuple[Any, ...]) -> tuple[str, list[Any]]:
    """PyTorch's sublist form ``einsum(op1, [0, 1], op2, [1, 2], [0, 2])`` as an equation."""
    def letters(sub: Any) -> str:
        out = []
        for s in sub:
            if s is Ellipsis:
                out.append("...")
            elif isinstance(s, (int, np.integer)) and 0 <= s < len(_LETTERS):
                out.append(_LETTERS[s])
            else:
                raise ValueError(f"einsum(): subscript in subscript list is not within the valid range [0, 52), "
                                 f"got {s!r}")
        return "".join(out)

    pairs, out = (args[:-1], letters(args[-1])) if len(args) % 2 else (args, None)  # a trailing output sublist
    operands, terms = list(pairs[0::2]), [letters(s) for s in pairs[1::2]]
    return ",".join(terms) + ("" if out is None else "->" + out), operands


def _canonical(equation: str, shapes: Sequence[tuple[int, ...]]) -> tuple[list[str], str, dict[str, int]]:
    """The equation with each ``...`` replaced by letters of its own (right-aligned, so ellipsis dims
    broadcast as NumPy's do) and the implicit output made explicit; plus each letter's size.

    Returns (input subscripts, output subscripts, sizes). Errors are PyTorch's."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) > len(shapes):
        raise RuntimeError("einsum(): fewer operands were provided than specified in the equation "
                           f"{equation!r} ({len(shapes)} operands for {len(terms)} subscripts)")
    if len(terms) < len(shapes):
        raise RuntimeError("einsum(): more operands were provided than specified in the equation "
                           f"{equation!r} ({len(shapes)} operands for {len(terms)} subscripts)")
    for part in [*terms, rhs]:
        for ch in part.replace("...", ""):
            if ch not in _LETTERS:
                raise RuntimeError(f"einsum(): invalid subscript given at index {eq.index(ch)} in the equation "
                                   f"string {equation!r}, subscripts must be in [a-zA-Z]")
    used = set(eq)
    spare = [c for c in _LETTERS if c not in used]
    ell = 0
    for k, (term, shape) in enumerate(zip(terms, shapes)):
        named = len(term.replace("...", ""))
        if "..." in term:
            if len(shape) < named:
                raise RuntimeError(f"einsum(): the number of subscripts in the equation ({named}) is more than the "
                                   f"number of dimensions ({len(shape)}) for operand {k}")
            ell = builtins.max(ell, len(shape) - named)
        elif named != len(shape):
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({named}) does not match the "
                               f"number of dimensions ({len(shape)}) for operand {k} and no ellipsis was given")
    ell_letters = "".join(spare[:ell])
    ins = []
    for term, shape in zip(terms, shapes):
        n = len(shape) - len(term.replace("...", ""))
        ins.append(term.replace("...", ell_letters[ell - n:] if n else ""))
    if arrow:
        out = rhs.replace("...", ell_letters)
        for ch in out:
            if out.count(ch) > 1:
                raise RuntimeError(f"einsum(): output subscript {ch} appears more than once in the output")
            if not any(ch in t for t in ins):
                raise RuntimeError(f"einsum(): output subscript {ch} does not appear in the equation for any "
                                   "input operand")
    else:
        counts = "".join(terms).replace("...", "")
        out = ell_letters + "".join(sorted(c for c in set(counts) if counts.count(c) == 1))
    sizes: dict[str, int] = {}
    for k, (term, shape) in enumerate(zip(ins, shapes)):
        for ch, n in zip(term, shape):
            seen = sizes.get(ch)
            if seen is None or seen == 1:
                sizes[ch] = n
            elif n != seen and n != 1:
                raise RuntimeError(f"einsum(): subscript {ch} has size {n} for operand {k} which does not broadcast "
                                   f"with previously seen size {seen}")
    return ins, out, sizes


def _broadcast_operand(a: np.ndarray, term: str, sizes: dict[str, int]) -> np.ndarray:
    target = tuple(sizes[ch] for ch in term)
    return a if a.shape == target else np.broadcast_to(a, target)


class Einsum(Function):
    """``einsum`` on a canonical equation (letters only, explicit output, see ``_canonical``)."""

    array_forward = True

    @staticmethod
    def forward(ctx: Context, *operands: Any, equation: str) -> Any:
        lhs, out_sub = equation.split("->")
        terms = lhs.split(",")
        _, _, sizes = _canonical(equation, [o.shape for o in operands])
        dtypes = {o.dtype for o in operands}
        if len(dtypes) > 1:
            raise RuntimeError(f"einsum(): expected all operands to have the same dtype, got "
                               f"{', '.join(str(o.dtype) for o in operands)} (einsum does not promote, as in "
                               "PyTorch): convert them with .to(dtype)")
        arrays = [_broadcast_operand(o, t, sizes) for o, t in zip(operands, terms)]
        ctx.terms, ctx.out, ctx.sizes = terms, out_sub, sizes
        ctx.save_for_backward(*operands)
        out = np.asarray(np.einsum(equation, *arrays, optimize=len(arrays) > 1))
        if any(np.may_share_memory(out, a) for a in arrays):
            out = out.copy()  # e.g. 'ii->i' returns a view of the diagonal: ours has its own memory
        return out

    @staticmethod
    def backward(ctx: Context, g: Tensor) -> tuple[Any, ...]:
        operands = ctx.saved_tensors
        grads: list[Tensor | None] = []
        for i in range(len(ctx.terms)):
            if not ctx.needs_input_grad[i]:
                grads.append(None)
                continue
            grads.append(_einsum_grad(g, operands, i, ctx.terms, ctx.out, ctx.sizes))
        return tuple(grads)


def _einsum_grad(g: Tensor, operands: Sequence[Tensor], i: int, terms: Sequence[str], out: str,
                 sizes: dict[str, int]) -> Tensor:
    """The gradient for operand ``i``: einsum of the upstream gradient with the other operands onto
    the letters they share with it; then broadcast over the letters only operand ``i`` has (summed
    in forward), and put on the diagonal for letters it repeats (``ii``)."""
    term = terms[i]
    unique = "".join(dict.fromkeys(term))
    others = [(out, g)] + [(t, o) for j, (t, o) in enumerate(zip(terms, operands)) if j != i]
    available = set("".join(t for t, _ in others))
    kept = "".join(ch for ch in unique if ch in available)
    eq = ",".join(t for t, _ in others) + "->" + kept
    h = Einsum.apply(*(o for _, o in others), equation=eq)
    if kept != unique:  # letters summed away inside operand i alone: their gradient is broadcast
        h = reshape(h, tuple(sizes[ch] if ch in kept else 1 for ch in unique))
        h = expand(h, tuple(sizes[ch] for ch in unique))
    if unique == term:
        return h
    # Repeated letters: the gradient lives on the diagonal. Put h at the first occurrence of each
    # letter, broadcast over the repeats, and zero what is off the diagonal (a constant mask).
    first = {ch: term.index(ch) for ch in unique}
    h = reshape(h, tuple(sizes[ch] if first[ch] == p else 1 for p, ch in enumerate(term)))
    full = tuple(sizes[ch] for ch in term)
    h = expand(h, full)
    grid = np.indices(full, sparse=True)
    mask = np.ones(full, dtype=bool)
    for p, ch in enumerate(term):
        if first[ch] != p:
            mask = mask & (grid[p] == grid[first[ch]])
    return h * Tensor._wrap(mask.astype(g.dtype))


def einsum(equation: Any, *operands: Any) -> Tensor:
    """Sum products of ``operands`` over the subscripts ``equation`` names, as ``torch.einsum``:
    ``'ij,jk->ik'`` (explicit output), ``'ij,jk'`` (implicit: the letters seen once, sorted), ``...``
    for broadcast dims, the operands as arguments or as one list, or the sublist form
    ``einsum(a, [0, 1], b, [1, 2])``.

    >>> import tinygrad_conv as tc
    >>> x = tc.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> tc.einsum("ij->j", x).tolist(), tc.einsum("bi,bi->b", [x, x]).tolist()
    ([4.0, 6.0], [5.0, 25.0])
    """
    if isinstance(equation, Tensor):
        equation, ops = _from_sublists((equation, *operands))
    elif isinstance(equation, str):
        ops = list(operands[0]) if len(operands) == 1 and isinstance(operands[0], (list, tuple)) else list(operands)
    else:
        raise TypeError(f"einsum(): argument 'equation' must be str, not {type(equation).__name__}")
    for k, o in enumerate(ops):
        if not isinstance(o, Tensor):
            raise TypeError(f"einsum(): operand {k} must be a Tensor, not {type(o).__name__}")
    ins, out, _ = _canonical(equation, [o.shape for o in ops])
    return Einsum.apply(*ops, equation=",".join(ins) + "->" + out)


def _einsum_samples(rng: np.random.Generator, dtype: Any) -> Any:
    yield Sample(("ij,jk->ik", randn(rng, dtype, 3, 4), randn(rng, dtype, 4, 2)), name="matmul")
    yield Sample(("bij,bjk", randn(rng, dtype, 2, 3, 4), randn(rng, dtype, 2, 4, 2)), name="implicit batched")
    yield Sample(("ii->i", randn(rng, dtype, 3, 3)), name="diagonal")
    yield Sample(("ij->", randn(rng, dtype, 3, 4)), name="sum all")
    yield Sample(("...i,i...->...", randn(rng, dtype, 2, 3), randn(rng, dtype, 3, 1)), name="ellipsis broadcast")
    yield Sample(("i,j,ij->j", randn(rng, dtype, 3), randn(rng, dtype, 4), randn(rng, dtype, 3, 4)),
                 name="three operands")


register("einsum", method=False, samples=_einsum_samples, nodes=(Einsum,),
         reference=lambda torch, eq, *ops: torch.einsum(eq, *ops))(einsum)


# ------------------------------------------------------------------------ mm, bmm, t
def _check_same_dtype(op: str, a: Tensor, b: Tensor) -> None:
    if a.dtype != b.dtype:
        raise RuntimeError(f"{op}: expected m1 and m2 to have the same dtype, but got: {a.dtype} != {b.dtype}")


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """The product of two matrices (2-d only, no broadcasting), as ``torch.mm``.

    >>> import tinygrad_conv as tc
    >>> tc.mm(tc.ones(2, 3), tc.ones(3, 4)).shape
    (2, 4)
    """
    for name, t in (("self", input), ("mat2", mat2)):
        if not isinstance(t, Tensor):
            raise TypeError(f"mm(): argument '{name}' must be Tensor, not {type(t).__name__}")
        if t.ndim != 2:
            raise RuntimeError(f"mm: {name} must be a matrix (got a {t.ndim}-d tensor of shape {t.shape})")
    if input.shape[1] != mat2.shape[0]:
        raise RuntimeError(f"mm: mat1 and mat2 shapes cannot be multiplied ({input.shape[0]}x{input.shape[1]} and "
                           f"{mat2.shape[0]}x{mat2.shape[1]})")
    _check_same_dtype("mm", input, mat2)
    return MatMul.apply(input, mat2)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched matrix products of two 3-d tensors (b, n, m) @ (b, m, p), as ``torch.bmm``.

    >>> import tinygrad_conv as tc
    >>> tc.bmm(tc.ones(5, 2, 3), tc.ones(5, 3, 4)).shape
    (5, 2, 4)
    """
    for name, t in (("batch1", input), ("batch2", mat2)):
        if not isinstance(t, Tensor):
            raise TypeError(f"bmm(): argument '{name}' must be Tensor, not {type(t).__name__}")
        if t.ndim != 3:
            raise RuntimeError(f"bmm: {name} must be a 3D tensor (got shape {t.shape})")
    want = [input.shape[0], input.shape[2]]
    if list(mat2.shape[:2]) != want:
        raise RuntimeError(f"bmm: Expected size for first two dimensions of batch2 tensor to be: {want} but got: "
                           f"{list(mat2.shape[:2])}.")
    _check_same_dtype("bmm", input, mat2)
    return MatMul.apply(input, mat2)


def t(input: Tensor) -> Tensor:
    """The transpose of a matrix; 0-d and 1-d tensors come back as they are (as views), as ``torch.t``."""
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {input.ndim}D")
    return Permute.apply(input, tuple(range(input.ndim - 1, -1, -1)))


register("mm", nodes=(MatMul,), reference=lambda torch, a, b: torch.mm(a, b),
         samples=lambda rng, dt: [Sample((randn(rng, dt, 3, 4), randn(rng, dt, 4, 2)), name="matrices")])(mm)
register("bmm", nodes=(MatMul,), reference=lambda torch, a, b: torch.bmm(a, b),
         samples=lambda rng, dt: [Sample((randn(rng, dt, 2, 3, 4), randn(rng, dt, 2, 4, 5)), name="batches")])(bmm)
register("t", nodes=(Permute,), reference=lambda torch, a: torch.t(a),
         samples=lambda rng, dt: [Sample((randn(rng, dt, 3, 4),), name="matrix"),
                                  Sample((randn(rng, dt, 3),), name="vector")])(t)


# ------------------------------------------------------------------------ norm and std
def _safe_sqrt(s: Tensor) -> Tensor:
    """sqrt with a zero gradient where ``s`` is 0 (PyTorch's norm subgradient at the zero vector),
    instead of 0 * inf = NaN; twice differentiable."""
    from .elementwise import where

    zero = Tensor._wrap(s.detach().numpy() == 0)
    return where(zero, 0.0, where(zero, 1.0, s).sqrt())


def _extreme_abs(a: Tensor, axes: tuple[int, ...], keepdim: bool, largest: bool) -> Tensor:
    """max (or min) of |a| over ``axes``, its gradient shared evenly by ties (as ``torch.amax``)."""
    m = a.abs()
    arr = m.detach().numpy()
    pick = (np.max if largest else np.min)(arr, axis=axes, keepdims=True) if arr.size else arr
    hits = arr == pick
    weights = hits / np.sum(hits, axis=axes, keepdims=True)
    return (m * Tensor._wrap(weights.astype(a.dtype))).sum(dim=axes, keepdim=keepdim)


def norm(input: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
    """The vector p-norm of ``input`` over ``dim`` (every element when None), as ``torch.norm``:
    ``p`` is ``'fro'`` (the 2-norm), a number (``1``, ``2``, ``0``: the count of non-zeros,
    ``inf``: the largest magnitude, ``-inf``: the smallest). The gradient at the zero vector is 0.

    >>> import tinygrad_conv as tc
    >>> x = tc.tensor([[3.0, -4.0], [0.0, 0.0]])
    >>> x.norm().item(), x.norm(p=1, dim=1).tolist(), x.norm(float("inf")).item()
    (5.0, [7.0, 0.0], 4.0)
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"norm(): argument 'input' must be Tensor, not {type(input).__name__}")
    if dtype is not None:
        input = input.to(dtype)
    if input.dtype.kind != "f":
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. "
                           f"Got {input.dtype}")
    if isinstance(p, str):
        if p == "nuc":
            raise NotImplementedError("norm: p='nuc' (the nuclear norm) needs a singular value decomposition, "
                                      "which tinygrad_conv does not have")
        if p != "fro":
            raise RuntimeError(f"linalg.matrix_norm: Order {p} not supported.")
        if dim is not None and not isinstance(dim, (int, np.integer)) and len(dim) > 2:
            raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {tuple(dim)}")
        p = 2
    if p is None:
        p = 2
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise TypeError(f"norm(): argument 'p' must be a number or 'fro', not {type(p).__name__}")
    axes = _axes(dim, input.ndim, "norm")
    p = float(p)
    if p == 2:
        return _safe_sqrt((input * input).sum(dim=axes, keepdim=keepdim))
    if p == 1:
        return input.abs().sum(dim=axes, keepdim=keepdim)
    if math.isinf(p):
        return _extreme_abs(input, axes, keepdim, largest=p > 0)
    if p == 0:
        count = np.count_nonzero(input.detach().numpy(), axis=axes, keepdims=keepdim)
        # The count, on the graph with a zero gradient (as PyTorch).
        return (input * 0.0).sum(dim=axes, keepdim=keepdim) + Tensor._wrap(np.asarray(count, dtype=input.dtype))
    return ((input.abs() ** p).sum(dim=axes, keepdim=keepdim)) ** (1.0 / p)


def _norm_samples(rng: np.random.Generator, dtype: Any) -> Any:
    x = distinct(rng, dtype, 3, 4)
    x = np.where(np.abs(x) < 0.1, 0.3, x).astype(dtype)  # off the kink of |x| at 0
    yield Sample((x,), name="fro")
    yield Sample((x,), {"dim": 1, "keepdim": True}, name="rows keepdim")
    yield Sample((x,), {"p": 1, "dim": 0}, name="p=1 columns")
    yield Sample((x,), {"p": 3.0}, name="p=3")
    yield Sample((np.abs(x) + np.arange(12).reshape(3, 4).astype(dtype),), {"p": float("inf"), "dim": 1},
                 name="inf rows")


def _torch_norm(torch: Any, a: Any, p: Any = "fro", dim: Any = None, keepdim: bool = False) -> Any:
    return torch.norm(a, p=p, dim=dim, keepdim=keepdim)


register("norm", samples=_norm_samples, nodes=(Sum,), reference=_torch_norm, nondifferentiable_points=True)(norm)


def std(input: Tensor, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None) -> Tensor:
    """Standard deviation over ``dim`` with Bessel's correction (``correction=1``, or
    ``unbiased=False`` for 0), as ``torch.std``, with the overloads of :func:`var`.

    >>> import tinygrad_conv as tc
    >>> round(tc.tensor([1.0, 2.0, 3.0, 4.0]).std().item(), 4), tc.tensor([1.0, 3.0]).std(unbiased=False).item()
    (1.291, 1.0)
    """
    return var(input, dim, unbiased, keepdim, correction=correction).sqrt()


def _std_samples(rng: np.random.Generator, dtype: Any) -> Any:
    x = randn(rng, dtype, 3, 4)
    yield Sample((x,), name="all")
    yield Sample((x, 1), name="dim 1")
    yield Sample((x, 0, False, True), name="biased keepdim")
    yield Sample((x,), {"dim": (0, 1), "correction": 0}, name="correction 0")


register("std", samples=_std_samples, nodes=(Mean, Sum),
         reference=lambda torch, a, *args, **kw: torch.std(a, *args, **kw))(std)

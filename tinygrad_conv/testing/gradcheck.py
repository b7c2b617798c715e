"""Finite-difference checks of analytic gradients (float64), first and second order.

The analytic side is a vector-Jacobian product with a random upstream gradient (never all ones:
a constant vector hides a missing kernel flip); the numerical side is central differences of the
same product, one input element at a time, so a mismatch names the input and the element.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..autograd.engine import grad as autograd_grad
from ..tensor import Tensor


class GradcheckError(AssertionError):
    """Raised by gradcheck/gradgradcheck when an analytic gradient disagrees with the numerical one."""


def _outputs(out: Any) -> list[Tensor]:
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.kind == "f"]


def _flat_dot(outs: list[Tensor], vs: list[np.ndarray]) -> float:
    return float(sum(np.sum(o.data * v) for o, v in zip(outs, vs)))


def gradcheck(fn: Callable[..., Any], inputs: Sequence[Any], eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True, seed: int = 0,
              n_vectors: int = 2) -> bool:
    """Compare the gradients of ``fn(*inputs)`` with central finite differences in float64.

    Every input that is a float64 Tensor with ``requires_grad`` is checked.

    >>> import tinygrad_conv as tc, numpy as np
    >>> x = tc.Tensor(np.array([0.5, 1.5]), requires_grad=True)
    >>> tc.gradcheck(lambda t: (t * t).exp(), (x,))
    True
    """
    inputs = tuple(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; finite differences need "
                            "float64 inputs (use .double())")
    if not checked:
        raise ValueError("gradcheck: no input requires grad, nothing to check")
    rng = np.random.default_rng(seed)
    outs = _outputs(fn(*inputs))
    if not outs:
        raise ValueError("gradcheck: fn returned no floating-point Tensor")
    for _ in range(n_vectors):
        vs = [rng.standard_normal(o.shape) for o in outs]
        # analytic: one vector-Jacobian product
        diff_outs = [o for o in outs if o.requires_grad]
        if diff_outs:
            analytic = autograd_grad(diff_outs, [inputs[i] for i in checked],
                                     [Tensor(v.astype(o.dtype)) for o, v in zip(outs, vs) if o.requires_grad],
                                     retain_graph=True, allow_unused=True)
        else:
            analytic = tuple(None for _ in checked)
        for k, i in enumerate(checked):
            x = inputs[i]
            ak = analytic[k]
            a = ak.data if ak is not None else np.zeros(x.shape)
            num = _numerical(fn, inputs, i, vs, eps)
            bad = np.abs(a - num) > atol + rtol * np.abs(num)
            if bad.any():
                j = np.unravel_index(int(np.argmax(np.abs(a - num) * bad)), x.shape) if x.ndim else ()
                msg = (f"gradcheck: gradient mismatch for input {i} (shape {x.shape}) at element "
                       f"{tuple(int(t) for t in j)}: analytic {float(a[j]):.8g}, numerical "
                       f"{float(num[j]):.8g} ({int(bad.sum())} of {bad.size} elements differ; "
                       f"atol={atol}, rtol={rtol}, random upstream gradient)")
                if raise_exception:
                    raise GradcheckError(msg)
                return False
        outs = _outputs(fn(*inputs))
    return True


def _numerical(fn: Callable[..., Any], inputs: tuple[Any, ...], i: int, vs: list[np.ndarray],
               eps: float) -> np.ndarray:
    """d<v, fn(inputs)>/d inputs[i] by central differences, element by element."""
    x = inputs[i]
    base = x.data.astype(np.float64).copy()
    out = np.zeros(base.shape)
    flat = base.reshape(-1)
    res = out.reshape(-1)
    # No no_grad here: for gradgradcheck, fn itself calls grad() and needs the tape.
    for j in range(flat.size):
        orig = flat[j]
        values = []
        for step in (eps, -eps):
            flat[j] = orig + step
            probe = list(inputs)
            probe[i] = Tensor(base.copy(), requires_grad=x.requires_grad)
            values.append(_flat_dot(_outputs(fn(*probe)), vs))
        flat[j] = orig
        res[j] = (values[0] - values[1]) / (2 * eps)
    return out


def gradgradcheck(fn: Callable[..., Any], inputs: Sequence[Any], grad_outputs: Sequence[Any] | None = None,
                  eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True,
                  seed: int = 0) -> bool:
    """Check second derivatives: gradcheck of ``(inputs, v) -> grad(fn(inputs), inputs, v)``.

    The upstream gradient ``v`` is random (or ``grad_outputs``) and is itself checked as an input.

    >>> import tinygrad_conv as tc, numpy as np
    >>> x = tc.Tensor(np.array([0.5, 1.5]), requires_grad=True)
    >>> tc.gradgradcheck(lambda t: (t * t * t).sum(), (x,))
    True
    """
    inputs = tuple(inputs)
    rng = np.random.default_rng(seed + 1)
    outs = _outputs(fn(*inputs))
    if grad_outputs is None:
        vs = [Tensor(rng.standard_normal(o.shape), requires_grad=True) for o in outs]
    else:
        vs = [v if isinstance(v, Tensor) else Tensor(np.asarray(v, dtype=np.float64), requires_grad=True)
              for v in grad_outputs]
    diff_idx = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    n = len(inputs)

    def first_grads(*args: Any) -> tuple[Tensor, ...]:
        xs, v = args[:n], args[n:]
        o = [t for t in _outputs(fn(*xs)) if t.requires_grad]
        gs = autograd_grad(o, [xs[i] for i in diff_idx], list(v[:len(o)]), create_graph=True,
                           allow_unused=True)
        # An input the first derivative doesn't depend on still gets a (zero) row to check.
        return tuple(g if g is not None else Tensor(np.zeros(xs[i].shape))
                     for g, i in zip(gs, diff_idx))

    return gradcheck(first_grads, (*inputs, *vs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception, seed=seed)

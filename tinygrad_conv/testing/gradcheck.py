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
    """Raised by gradcheck/gradgradcheck when an analytic gradient disagrees with the numerical one.

    Besides the message it carries where: ``input`` (the index into ``inputs``), ``element`` (an
    index tuple into that input), ``analytic`` and ``numerical`` (the two values there),
    ``mismatched`` and ``size`` (how many elements of that input differ, of how many), and
    ``order`` (1 for gradcheck, 2 for gradgradcheck).
    """

    def __init__(self, message: str, *, input: int = -1, element: tuple[int, ...] = (),
                 analytic: float = float("nan"), numerical: float = float("nan"), mismatched: int = 0,
                 size: int = 0, order: int = 1) -> None:
        super().__init__(message)
        self.input, self.element = input, element
        self.analytic, self.numerical = analytic, numerical
        self.mismatched, self.size, self.order = mismatched, size, order


def _outputs(out: Any) -> list[Tensor]:
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.kind == "f"]


def _unsupported(**flags: Any) -> None:
    """PyTorch's options that need forward-mode AD, vmap or masked tensors, which we do not have."""
    for name, value in flags.items():
        if value:
            raise NotImplementedError(f"gradcheck: {name}=True needs forward-mode AD, vmap or masked "
                                      "tensors, which tinygrad_conv does not have; leave it False")


def gradcheck(func: Callable[..., Any], inputs: Tensor | Sequence[Any], *, eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True, nondet_tol: float = 0.0,
              check_undefined_grad: bool = True, check_grad_dtypes: bool = False,
              check_batched_grad: bool = False, check_batched_forward_grad: bool = False,
              check_forward_ad: bool = False, check_backward_ad: bool = True, fast_mode: bool = False,
              masked: bool | None = None, seed: int = 0, n_vectors: int = 2) -> bool:
    """Compare the gradients of ``func(*inputs)`` with central finite differences in float64.

    PyTorch's signature (``torch.autograd.gradcheck``). Every input that is a float64 Tensor with
    ``requires_grad`` is checked against ``n_vectors`` random upstream gradients v: the analytic
    ``v^T J`` against its finite differences, element by element (PyTorch's slow mode builds all
    of J; a wrong entry of J shows in ``v^T J`` for a random v just as surely, and ``fast_mode``
    changes nothing here). ``check_grad_dtypes`` also compares each gradient's dtype with its
    input's. On a mismatch it raises :class:`GradcheckError` naming the input, the element, and
    both values (or returns False when ``raise_exception=False``).

    >>> import tinygrad_conv as tc, numpy as np
    >>> x = tc.Tensor(np.array([0.5, 1.5]), requires_grad=True)
    >>> tc.gradcheck(lambda t: (t * t).exp(), (x,))
    True
    """
    _unsupported(check_batched_grad=check_batched_grad, check_batched_forward_grad=check_batched_forward_grad,
                 check_forward_ad=check_forward_ad, masked=masked)
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    if not check_backward_ad:
        return True  # nothing left to check: PyTorch's other modes are refused above
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; finite differences need "
                            "float64 inputs (use .double())")
    if not checked:
        raise ValueError("gradcheck: no input requires grad, nothing to check")
    rng = np.random.default_rng(seed)
    outs = _outputs(func(*inputs))
    if not outs:
        raise ValueError("gradcheck: func returned no floating-point Tensor")
    vectors = [[rng.standard_normal(o.shape) for o in outs] for _ in range(n_vectors)]
    analytic: list[list[np.ndarray]] = []
    for vs in vectors:
        outs = _outputs(func(*inputs))
        pairs = [(o, v) for o, v in zip(outs, vs) if o.requires_grad]
        if pairs:
            got = autograd_grad([o for o, _ in pairs], [inputs[i] for i in checked],
                                [Tensor(v.astype(o.dtype)) for o, v in pairs], allow_unused=True)
        else:
            got = tuple(None for _ in checked)
        if check_grad_dtypes:
            for g, i in zip(got, checked):
                if g is not None and g.dtype != inputs[i].dtype:
                    msg = f"gradcheck: the gradient for input {i} has dtype {g.dtype}, the input {inputs[i].dtype}"
                    if raise_exception:
                        raise GradcheckError(msg, input=i)
                    return False
        analytic.append([np.zeros(inputs[i].shape) if g is None else g._data
                         for g, i in zip(got, checked)])
    for k, i in enumerate(checked):
        x = inputs[i]
        # One pass of finite differences serves every upstream vector.
        numerical = _numerical(func, inputs, i, vectors, eps)
        for a_all, num in zip(analytic, numerical):
            a = a_all[k]
            bad = np.abs(a - num) > atol + rtol * np.abs(num)
            if not bad.any():
                continue
            j = tuple(int(t) for t in np.unravel_index(int(np.argmax(np.abs(a - num) * bad)), x.shape)) \
                if x.ndim else ()
            msg = (f"gradcheck: the gradient for input {i} (shape {x.shape}) is wrong at element "
                   f"{j}: ours (analytic) {float(a[j]):.8g}, expected (finite differences) "
                   f"{float(num[j]):.8g}; {int(bad.sum())} of {bad.size} elements differ "
                   f"(atol={atol}, rtol={rtol}, random upstream gradient)")
            if raise_exception:
                raise GradcheckError(msg, input=i, element=j, analytic=float(a[j]),
                                     numerical=float(num[j]), mismatched=int(bad.sum()), size=bad.size)
            return False
    return True


def _numerical(fn: Callable[..., Any], inputs: tuple[Any, ...], i: int, vectors: list[list[np.ndarray]],
               eps: float) -> list[np.ndarray]:
    """d<v, fn(inputs)>/d inputs[i] by central differences, element by element, for each v."""
    x = inputs[i]
    base = x._data.astype(np.float64).copy()
    flat = base.reshape(-1)
    results = [np.zeros(base.shape) for _ in vectors]
    flats = [r.reshape(-1) for r in results]
    # No no_grad here: for gradgradcheck, fn itself calls grad() and needs the tape.
    for j in range(flat.size):
        orig = flat[j]
        values = []
        for step in (eps, -eps):
            flat[j] = orig + step
            probe = list(inputs)
            probe[i] = Tensor(base.copy(), requires_grad=x.requires_grad)
            values.append([o._data.astype(np.float64) for o in _outputs(fn(*probe))])
        flat[j] = orig
        for res, vs in zip(flats, vectors):
            plus = sum(float(np.sum(o * v)) for o, v in zip(values[0], vs))
            minus = sum(float(np.sum(o * v)) for o, v in zip(values[1], vs))
            res[j] = (plus - minus) / (2 * eps)
    return results


def gradgradcheck(func: Callable[..., Any], inputs: Tensor | Sequence[Any],
                  grad_outputs: Tensor | Sequence[Any] | None = None, *, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, gen_non_contig_grad_outputs: bool = False, raise_exception: bool = True,
                  nondet_tol: float = 0.0, check_undefined_grad: bool = True, check_grad_dtypes: bool = False,
                  check_batched_grad: bool = False, check_fwd_over_rev: bool = False,
                  check_rev_over_rev: bool = True, fast_mode: bool = False, masked: bool = False,
                  seed: int = 0) -> bool:
    """Check second derivatives: gradcheck of ``(inputs, v) -> grad(func(inputs), inputs, v)``.

    PyTorch's signature (``torch.autograd.gradgradcheck``); ``check_fwd_over_rev`` and
    ``check_batched_grad`` are refused (no forward-mode AD, no vmap).

    The upstream gradient ``v`` is random (or ``grad_outputs``) and is itself checked as an input:
    a :class:`GradcheckError` with ``input >= len(inputs)`` points at ``v`` for output
    ``input - len(inputs)``.

    >>> import tinygrad_conv as tc, numpy as np
    >>> x = tc.Tensor(np.array([0.5, 1.5]), requires_grad=True)
    >>> tc.gradgradcheck(lambda t: (t * t * t).sum(), (x,))
    True
    """
    _unsupported(check_batched_grad=check_batched_grad, check_fwd_over_rev=check_fwd_over_rev, masked=masked)
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    if isinstance(grad_outputs, Tensor):
        grad_outputs = (grad_outputs,)
    if not check_rev_over_rev:
        return True
    rng = np.random.default_rng(seed + 1)
    outs = [o for o in _outputs(func(*inputs)) if o.requires_grad]
    if grad_outputs is None:
        vs = [Tensor(rng.standard_normal(o.shape), requires_grad=True) for o in outs]
    else:
        vs = [v if isinstance(v, Tensor) else Tensor(np.asarray(v, dtype=np.float64), requires_grad=True)
              for v in grad_outputs]
    diff_idx = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    n = len(inputs)

    def first_grads(*args: Any) -> tuple[Tensor, ...]:
        xs, v = args[:n], args[n:]
        o = [t for t in _outputs(func(*xs)) if t.requires_grad]
        gs = autograd_grad(o, [xs[i] for i in diff_idx], list(v[:len(o)]), create_graph=True,
                           allow_unused=True)
        return tuple(g if g is not None else Tensor(np.zeros(xs[i].shape)) * 0.0
                     for g, i in zip(gs, diff_idx))

    try:
        return gradcheck(first_grads, (*inputs, *vs), eps=eps, atol=atol, rtol=rtol,
                         raise_exception=raise_exception, seed=seed, check_grad_dtypes=check_grad_dtypes)
    except GradcheckError as exc:
        wrt = (f"input {exc.input}" if exc.input < n
               else f"the upstream gradient of output {exc.input - n}")
        raise GradcheckError(
            f"gradgradcheck: the derivative of the gradients with respect to {wrt} is wrong at "
            f"element {exc.element}: ours (double backward) {exc.analytic:.8g}, expected (finite "
            f"differences of backward) {exc.numerical:.8g}; {exc.mismatched} of {exc.size} elements "
            f"differ (atol={atol}, rtol={rtol})", input=exc.input, element=exc.element,
            analytic=exc.analytic, numerical=exc.numerical, mismatched=exc.mismatched, size=exc.size,
            order=2) from None

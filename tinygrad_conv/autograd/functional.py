"""Higher-order autograd helpers, as ``torch.autograd.functional``: vjp, jvp, jacobian, hessian, vhp, hvp.

Everything here is built on :func:`grad` (reverse mode). A forward-mode product (jvp, hvp) uses the
double-backward trick: the backward pass is linear in its incoming gradient ``u``, so
``J^T u`` differentiated with respect to ``u`` along ``v`` gives ``J v``.

Inputs and results follow PyTorch's rules: a single Tensor in gives a single Tensor out, a tuple gives
a tuple (nested tuples for ``jacobian`` and ``hessian``); results are detached unless
``create_graph=True``; an output that does not depend on an input contributes zeros, or an error when
``strict=True``.

``vectorize=True`` and ``strategy="forward-mode"`` are not available: PyTorch implements them with
vmap (batched gradients) and forward-mode AD, neither of which this library has.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np

from ..tensor import Tensor
from .engine import grad as _grad
from .grad_mode import enable_grad, is_grad_enabled, set_grad_enabled

__all__ = ["hessian", "hvp", "jacobian", "jvp", "vhp", "vjp"]

# A function's inputs or outputs: one Tensor, or a tuple of them.
Tensors = Tensor | tuple[Tensor, ...]
# What jacobian / hessian return: a Tensor, a tuple, or a tuple of tuples.
Jacobian = Tensor | tuple[Tensor, ...] | tuple[tuple[Tensor, ...], ...]

_STRATEGIES = ("forward-mode", "reverse-mode")


# ----------------------------------------------------------------------------------------- helpers
def _as_tuple(value: Any, what: str, fn_name: str) -> tuple[bool, tuple[Tensor, ...]]:
    """``(was it a tuple, the value as a tuple of Tensors)``; a TypeError naming the culprit otherwise."""
    is_tuple = isinstance(value, tuple)
    items = value if is_tuple else (value,)
    for i, item in enumerate(items):
        if not isinstance(item, Tensor):
            where = f"its element {i} is a {type(item).__name__}" if is_tuple else \
                f"got a {type(item).__name__}"
            raise TypeError(f"{fn_name}(): the {what} must be a Tensor or a tuple of Tensors, but {where}. "
                            "(Lists are not accepted: pass a tuple.)")
    return is_tuple, items


def _prepare(tensors: tuple[Tensor, ...], create_graph: bool, need_graph: bool) -> tuple[Tensor, ...]:
    """Fresh Tensor objects for the inputs (or v) that the computation is differentiated against.

    A new object is always made, so that a tensor the user's function captured from outside is not
    confused with the argument it was given. With create_graph and an input that requires grad, the
    copy is a recorded clone, so gradients still flow back to the caller's tensor; otherwise it is a
    detached alias that requires grad only when we differentiate with respect to it (need_graph).
    """
    out = []
    for t in tensors:
        if create_graph and t.requires_grad:
            out.append(t.clone())
        else:
            out.append(t.detach().requires_grad_(need_graph))
    return tuple(out)


def _validate_v(v: tuple[Tensor, ...], like: tuple[Tensor, ...], like_is_tuple: bool, fn_name: str,
                like_name: str) -> None:
    """v must have one Tensor per output/input, each of the same shape."""
    if len(v) != len(like):
        if like_is_tuple:
            raise RuntimeError(f"{fn_name}(): v is a tuple of invalid length: it must have one Tensor per "
                               f"{like_name} ({len(like)}) but has {len(v)}.")
        raise RuntimeError(f"{fn_name}(): the {like_name} is a single Tensor, so v should contain a single "
                           f"Tensor, but got a tuple of {len(v)}.")
    for i, (v_i, like_i) in enumerate(zip(v, like)):
        if v_i.shape != like_i.shape:
            entry = f"entry {i} of v" if like_is_tuple else "v"
            raise RuntimeError(f"{fn_name}(): {entry} has invalid size: it should be {like_i.shape} "
                               f"(the shape of the {like_name}) but got {v_i.shape}.")


def _prepare_v(v: Tensors, like: tuple[Tensor, ...], like_is_tuple: bool, create_graph: bool, fn_name: str,
               like_name: str) -> tuple[Tensor, ...]:
    """The user's ``v`` as a tuple of tensors, detached unless ``create_graph``, checked against ``like``."""
    _, vs = _as_tuple(v, "v", fn_name)
    vs = _prepare(vs, create_graph, need_graph=False)
    _validate_v(vs, like, like_is_tuple, fn_name, like_name)
    return vs


def _check_requires_grad(tensors: Sequence[Tensor | None], kind: str, strict: bool) -> None:
    """In strict mode, refuse outputs / gradients that are not connected to the inputs."""
    if not strict:
        return
    for i, t in enumerate(tensors):
        if t is None:  # only grad() results can be None (allow_unused)
            raise RuntimeError(f"The output of the user-provided function is independent of input {i}. "
                               "This is not allowed in strict mode.")
        if t.requires_grad:
            continue
        if kind == "outputs":
            raise RuntimeError(f"Output {i} of the user-provided function does not require gradients: "
                               "in strict mode every output must be computed in a differentiable way from "
                               "the inputs.")
        if kind == "grad_inputs":
            raise RuntimeError(f"The gradient with respect to input {i} is independent of the inputs of the "
                               "user-provided function. This is not allowed in strict mode.")
        if kind == "jacobian":
            raise RuntimeError(f"While computing the hessian, found that the jacobian of the user-provided "
                               f"function with respect to input {i} is independent of the input. This is not "
                               "allowed in strict mode: the function must be twice differentiable with a "
                               "jacobian that depends on the inputs (a linear function breaks this).")
        raise ValueError(f"_check_requires_grad: unknown kind {kind!r}")


def _autograd_grad(outputs: Sequence[Tensor | None], inputs: tuple[Tensor, ...],
                   grad_outputs: Sequence[Tensor | None] | None = None, create_graph: bool = False,
                   retain_graph: bool | None = None) -> tuple[Tensor | None, ...]:
    """grad() that skips outputs which are None or do not require grad; None for unreached inputs."""
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    roots: list[Tensor] = []
    seeds: list[Tensor | None] = []
    for out, g in zip(outputs, grad_outputs):
        if out is None or not out.requires_grad:
            continue
        # PyTorch accepts a v of another float dtype (a float32 v for a float64 output); cast it to
        # the output's dtype so every backward rule sees gradients of its own dtype.
        if g is not None and g.dtype != out.dtype and g.dtype.kind == "f" and out.dtype.kind == "f":
            g = g.to(out.dtype)
        roots.append(out)
        seeds.append(g)
    if not roots:  # nothing differentiable: no backward to run
        return (None,) * len(inputs)
    return _grad(roots, inputs, seeds, retain_graph=retain_graph, create_graph=create_graph,
                 allow_unused=True)


def _fill_in_zeros(grads: Sequence[Tensor | None], refs: tuple[Tensor, ...], strict: bool,
                   create_graph: bool, stage: str) -> tuple[Tensor, ...]:
    """Replace unreached gradients with zeros, or raise in strict mode (the message depends on the stage)."""
    res = []
    for i, g in enumerate(grads):
        if g is None:
            if strict:
                if stage == "back":
                    raise RuntimeError(f"The output of the user-provided function is independent of input {i}. "
                                       "This is not allowed in strict mode.")
                if stage == "back_trick":
                    raise RuntimeError(f"The gradient with respect to the input is independent of entry {i} of "
                                       "the grad_outputs used by the double-backward trick that computes the "
                                       "forward-mode product. This is not allowed in strict mode.")
                if stage == "double_back":
                    raise RuntimeError(f"The jacobian of the user-provided function is independent of input {i}. "
                                       "This is not allowed in strict mode.")
                raise RuntimeError(f"The hessian of the user-provided function is independent of entry {i} of "
                                   "the grad_jacobian, which prevents the double-backward trick that replaces "
                                   "forward-mode AD. This is not allowed in strict mode.")
            g = _zeros_like(refs[i])
        elif strict and create_graph and not g.requires_grad:
            which = "hessian" if "double" in stage else "jacobian"
            raise RuntimeError(f"The {which} of the user-provided function is independent of input {i}. This "
                               "is not allowed in strict mode when create_graph=True.")
        res.append(g)
    return tuple(res)


def _zeros_like(t: Tensor) -> Tensor:
    return Tensor(np.zeros(t.shape, dtype=t.dtype))


def _detach_unless(value: Any, create_graph: bool) -> Any:
    """Results are handed back without history unless the caller asked for a graph."""
    if create_graph:
        return value
    if isinstance(value, Tensor):
        return value.detach()
    return tuple(_detach_unless(v, create_graph) for v in value)


def _unpack(res: Any, was_tuple: bool) -> Any:
    """Undo _as_tuple: a single Tensor in, a single result out."""
    return res if was_tuple else res[0]


def _unpack2(res: Any, outer_was_tuple: bool, inner_was_tuple: bool) -> Any:
    """Undo two _as_tuple calls on a nested result (outputs x inputs)."""
    if not inner_was_tuple:
        res = tuple(row[0] for row in res)
    if not outer_was_tuple:
        res = res[0]
    return res


def _single_scalar_output(outputs: tuple[Tensor, ...], is_tuple: bool, fn_name: str) -> None:
    if is_tuple:
        raise RuntimeError(f"The function given to {fn_name} should return a single Tensor, not a tuple "
                           f"of {len(outputs)}.")
    if outputs[0].numel() != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {fn_name} should contain a single "
                           f"element; it has shape {outputs[0].shape}. Reduce it first (e.g. .sum()).")


def _v_none_for_input(inputs: tuple[Tensor, ...], fn_name: str) -> None:
    if len(inputs) != 1 or inputs[0].numel() != 1:
        shapes = [t.shape for t in inputs]
        raise RuntimeError(f"{fn_name}(): the vector v can only be None if the input to the user-provided "
                           f"function is a single Tensor with a single element; the inputs have shapes {shapes}.")


# ------------------------------------------------------------------------------------------ vjp / jvp
def vjp(func: Callable[..., Any], inputs: Tensors, v: Tensors | None = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Tensors, Tensors]:
    """``(func(*inputs), v^T J)``: the vector-Jacobian product at ``inputs``, as torch.autograd.functional.vjp.

    ``v`` has the shape of the output(s); it may be None only when func returns a single one-element
    Tensor. The product has the shape of the input(s).

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv.autograd.functional import vjp
    >>> x = tc.Tensor([1.0, 2.0])
    >>> out, g = vjp(lambda t: t ** 2, x, tc.Tensor([1.0, 10.0]))
    >>> out.tolist(), g.tolist()
    ([1.0, 4.0], [2.0, 40.0])
    """
    with enable_grad():
        inputs_is_tuple, ins = _as_tuple(inputs, "inputs", "vjp")
        ins = _prepare(ins, create_graph, need_graph=True)
        outputs_is_tuple, outs = _as_tuple(func(*ins), "outputs of the user-provided function", "vjp")
        _check_requires_grad(outs, "outputs", strict)
        vs: tuple[Tensor, ...] | None = None
        if v is not None:
            vs = _prepare_v(v, outs, outputs_is_tuple, create_graph, "vjp", "output of func")
        elif len(outs) != 1 or outs[0].numel() != 1:
            raise RuntimeError("vjp(): the vector v can only be None if the user-provided function returns a "
                               f"single Tensor with a single element; it returned shapes {[o.shape for o in outs]}.")

    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        grads = _autograd_grad(outs, ins, vs, create_graph=create_graph)
        res = _fill_in_zeros(grads, ins, strict, create_graph, "back")

    return (_unpack(_detach_unless(outs, create_graph), outputs_is_tuple),
            _unpack(_detach_unless(res, create_graph), inputs_is_tuple))


def jvp(func: Callable[..., Any], inputs: Tensors, v: Tensors | None = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Tensors, Tensors]:
    """``(func(*inputs), J v)``: the Jacobian-vector product at ``inputs``, as torch.autograd.functional.jvp.

    ``v`` has the shape of the input(s); it may be None only for a single one-element input. Computed
    with the double-backward trick (two reverse passes), as PyTorch does here.

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv.autograd.functional import jvp
    >>> out, jv = jvp(lambda a, b: a * b, (tc.Tensor([2.0, 3.0]), tc.Tensor([5.0, 7.0])),
    ...               (tc.Tensor([1.0, 0.0]), tc.Tensor([0.0, 1.0])))
    >>> out.tolist(), jv.tolist()
    ([10.0, 21.0], [5.0, 3.0])
    """
    with enable_grad():
        inputs_is_tuple, ins = _as_tuple(inputs, "inputs", "jvp")
        ins = _prepare(ins, create_graph, need_graph=True)
        vs: tuple[Tensor, ...] | None = None
        if v is not None:
            vs = _prepare_v(v, ins, inputs_is_tuple, create_graph, "jvp", "input of func")
        else:
            _v_none_for_input(ins, "jvp")
        outputs_is_tuple, outs = _as_tuple(func(*ins), "outputs of the user-provided function", "jvp")
        _check_requires_grad(outs, "outputs", strict)
        # The backward is linear in these seeds, so their value does not reach the final result (zeros
        # are safe: no inf/nan); they only need to be differentiable.
        seeds = tuple(_zeros_like(o).requires_grad_(True) for o in outs)
        grad_inputs = _autograd_grad(outs, ins, seeds, create_graph=True)
        _check_requires_grad(grad_inputs, "grad_inputs", strict)

    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        grads = _autograd_grad(grad_inputs, seeds, vs, create_graph=create_graph)
        res = _fill_in_zeros(grads, outs, strict, create_graph, "back_trick")

    return (_unpack(_detach_unless(outs, create_graph), outputs_is_tuple),
            _unpack(_detach_unless(res, create_graph), outputs_is_tuple))


# ----------------------------------------------------------------------------------- jacobian / hessian
def _check_strategy(strategy: str, arg: str) -> None:
    if strategy not in _STRATEGIES:
        # PyTorch raises AssertionError here; a ValueError says the same and is what a bad argument gets.
        raise ValueError(f'{arg} must be "forward-mode" or "reverse-mode", got {strategy!r}. "forward-mode" '
                         'tends to be faster when func has more outputs than inputs, "reverse-mode" otherwise.')


def _forward_mode_jacobian(inputs: Tensors, create_graph: bool, strict: bool, vectorize: bool) -> Jacobian:
    """strategy="forward-mode": the same argument checks as PyTorch, then NotImplementedError."""
    if create_graph:
        raise NotImplementedError('jacobian(): create_graph=True and strategy="forward-mode" are not supported '
                                  'together. Set create_graph=False or strategy="reverse-mode".')
    if strict:
        raise RuntimeError('jacobian(): strict=True and strategy="forward-mode" are not supported together. '
                           'Set strict=False or strategy="reverse-mode".')
    _as_tuple(inputs, "inputs", "jacobian")
    if not vectorize:
        raise NotImplementedError('jacobian(): strategy="forward-mode" is only implemented with vectorize=True '
                                  '(as in PyTorch). Use strategy="reverse-mode".')
    raise NotImplementedError('jacobian(): strategy="forward-mode" with vectorize=True needs forward-mode AD and '
                              'vmap, which tinygrad_conv does not have. Use strategy="reverse-mode" with '
                              "vectorize=False: it gives the same Jacobian, one row per backward pass.")


def _stack_rows(rows: list[Tensor], shape: tuple[int, ...], like: Tensor, create_graph: bool) -> Tensor:
    """The rows of one Jacobian block, stacked and shaped output.shape + input.shape."""
    if not rows:  # an output with no elements: an empty Jacobian block
        return Tensor(np.zeros(shape, dtype=like.dtype))
    if not create_graph:  # the result is detached anyway: stack the arrays without recording
        return Tensor(np.stack([r._data for r in rows]).reshape(shape))
    from ..ops.shape import stack  # ops register on import, after autograd: import at call time

    return stack(rows, 0).reshape(shape)


def jacobian(func: Callable[..., Any], inputs: Tensors, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode") -> Jacobian:
    """The Jacobian of ``func`` at ``inputs``, as torch.autograd.functional.jacobian.

    Block ``[i][j]`` has shape ``outputs[i].shape + inputs[j].shape`` and the dtype of ``inputs[j]``;
    a single Tensor (not a tuple) on either side removes that level of nesting. Computed in reverse
    mode, one backward pass per output element. ``vectorize=True`` and ``strategy="forward-mode"``
    raise NotImplementedError (they need vmap and forward-mode AD).

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv.autograd.functional import jacobian
    >>> jacobian(lambda t: t ** 2, tc.Tensor([1.0, 3.0])).tolist()
    [[2.0, 0.0], [0.0, 6.0]]
    """
    _check_strategy(strategy, "strategy")
    if strategy == "forward-mode":
        return _forward_mode_jacobian(inputs, create_graph, strict, vectorize)

    with enable_grad():
        inputs_is_tuple, ins = _as_tuple(inputs, "inputs", "jacobian")
        ins = _prepare(ins, create_graph, need_graph=True)
        outputs_is_tuple, outs = _as_tuple(func(*ins), "outputs of the user-provided function", "jacobian")
        _check_requires_grad(outs, "outputs", strict)

        if vectorize:
            if strict:
                raise RuntimeError("jacobian(): strict=True and vectorize=True are not supported together. "
                                   "Set strict=False or vectorize=False.")
            # Computing the rows one by one here would not be vectorization, so say so rather than
            # pretend: PyTorch batches the backward pass over the rows with vmap.
            raise NotImplementedError("jacobian(): vectorize=True needs vmap (one batched backward pass over all "
                                      "rows), which tinygrad_conv does not have. Use vectorize=False: it gives "
                                      "the same Jacobian, one row per backward pass.")

        blocks: list[tuple[Tensor, ...]] = []
        for i, out in enumerate(outs):
            rows: list[list[Tensor]] = [[] for _ in ins]
            for k in range(out.numel()):
                # Row k of J_i is the gradient of output element k: seed the backward with a one-hot
                # (a constant, so with create_graph the row depends on the inputs exactly as the
                # gradient of that element does).
                onehot = np.zeros(out.shape, dtype=out.dtype)
                onehot.flat[k] = 1
                row = _autograd_grad((out,), ins, (Tensor(onehot),), create_graph=create_graph,
                                     retain_graph=True)
                for j, (g, inp) in enumerate(zip(row, ins)):
                    if g is None:
                        if strict:
                            raise RuntimeError(f"Output {i} of the user-provided function is independent of "
                                               f"input {j}. This is not allowed in strict mode.")
                        g = _zeros_like(inp)
                    elif strict and create_graph and not g.requires_grad:
                        raise RuntimeError(f"The jacobian of the user-provided function (output {i}) is "
                                           f"independent of input {j}. This is not allowed in strict mode "
                                           "when create_graph=True.")
                    rows[j].append(g)
            blocks.append(tuple(_stack_rows(r, out.shape + inp.shape, inp, create_graph)
                                for r, inp in zip(rows, ins)))

        return _unpack2(_detach_unless(tuple(blocks), create_graph), outputs_is_tuple, inputs_is_tuple)


def hessian(func: Callable[..., Any], inputs: Tensors, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False, outer_jacobian_strategy: str = "reverse-mode") -> Jacobian:
    """The Hessian of a scalar-valued ``func`` at ``inputs``, as torch.autograd.functional.hessian.

    The Jacobian of the (reverse-mode) gradient. Block ``[i][j]`` has shape
    ``inputs[i].shape + inputs[j].shape``; a single input gives a single Tensor.

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv.autograd.functional import hessian
    >>> hessian(lambda t: (t ** 3).sum(), tc.Tensor([1.0, 2.0])).tolist()
    [[6.0, 0.0], [0.0, 12.0]]
    """
    inputs_is_tuple, ins = _as_tuple(inputs, "inputs", "hessian")
    _check_strategy(outer_jacobian_strategy, "outer_jacobian_strategy")

    def scalar_func(*xs: Tensor) -> Tensor:
        out = func(*xs)
        is_tuple, outs = _as_tuple(out, "outputs of the user-provided function", "hessian")
        _check_requires_grad(outs, "outputs", strict)
        _single_scalar_output(outs, is_tuple, "hessian")
        return outs[0].squeeze()  # a 0-d output, so its Jacobian has exactly the input's shape

    def gradient(*xs: Tensor) -> Jacobian:
        jac = jacobian(scalar_func, xs, create_graph=True)
        # xs is a tuple and func has one output, so jac is a tuple with one block per input
        _check_requires_grad(cast(tuple[Tensor, ...], jac), "jacobian", strict)
        return jac

    res = jacobian(gradient, ins, create_graph=create_graph, strict=strict, vectorize=vectorize,
                   strategy=outer_jacobian_strategy)
    return _unpack2(res, inputs_is_tuple, inputs_is_tuple)


# ------------------------------------------------------------------------------------------ vhp / hvp
def _scalar_and_gradient(func: Callable[..., Any], inputs: Tensors, v: Tensors | None, create_graph: bool,
                         strict: bool, fn_name: str) -> tuple[bool, tuple[Tensor, ...], tuple[Tensor, ...] | None,
                                                              tuple[Tensor, ...], tuple[Tensor | None, ...]]:
    """The part vhp and hvp share: checked inputs and v, func's one-element output, its gradient graph."""
    inputs_is_tuple, ins = _as_tuple(inputs, "inputs", fn_name)
    ins = _prepare(ins, create_graph, need_graph=True)
    vs: tuple[Tensor, ...] | None = None
    if v is not None:
        vs = _prepare_v(v, ins, inputs_is_tuple, create_graph, fn_name, "input of func")
    else:
        _v_none_for_input(ins, fn_name)
    outputs_is_tuple, outs = _as_tuple(func(*ins), "outputs of the user-provided function", fn_name)
    _check_requires_grad(outs, "outputs", strict)
    _single_scalar_output(outs, outputs_is_tuple, fn_name)
    jac = _autograd_grad(outs, ins, create_graph=True)
    _check_requires_grad(jac, "jacobian", strict)
    return inputs_is_tuple, ins, vs, outs, jac


def vhp(func: Callable[..., Any], inputs: Tensors, v: Tensors | None = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Tensor, Tensors]:
    """``(func(*inputs), v^T H)`` for a scalar-valued func, as torch.autograd.functional.vhp.

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv.autograd.functional import vhp
    >>> out, p = vhp(lambda t: (t ** 3).sum(), tc.Tensor([1.0, 2.0]), tc.Tensor([1.0, 1.0]))
    >>> out.item(), p.tolist()
    (9.0, [6.0, 12.0])
    """
    with enable_grad():
        inputs_is_tuple, ins, vs, outs, jac = _scalar_and_gradient(func, inputs, v, create_graph, strict, "vhp")

    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        grads = _autograd_grad(jac, ins, vs, create_graph=create_graph)
        res = _fill_in_zeros(grads, ins, strict, create_graph, "double_back")

    return _detach_unless(outs[0], create_graph), _unpack(_detach_unless(res, create_graph), inputs_is_tuple)


def hvp(func: Callable[..., Any], inputs: Tensors, v: Tensors | None = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Tensor, Tensors]:
    """``(func(*inputs), H v)`` for a scalar-valued func, as torch.autograd.functional.hvp.

    Uses the double-backward trick on top of the gradient (three reverse passes); for a twice
    continuously differentiable func ``H`` is symmetric and :func:`vhp` gives the same result faster.

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv.autograd.functional import hvp
    >>> out, p = hvp(lambda a, b: (a * b * b).sum(), (tc.Tensor([1.0]), tc.Tensor([3.0])),
    ...              (tc.Tensor([1.0]), tc.Tensor([0.0])))
    >>> out.item(), p[0].tolist(), p[1].tolist()
    (9.0, [0.0], [6.0])
    """
    with enable_grad():
        inputs_is_tuple, ins, vs, outs, jac = _scalar_and_gradient(func, inputs, v, create_graph, strict, "hvp")
        # H^T u is linear in u: differentiating it with respect to u along v gives H v.
        seeds = tuple(_zeros_like(t).requires_grad_(True) for t in ins)
        double_back = _autograd_grad(jac, ins, seeds, create_graph=True)

    with set_grad_enabled(True if create_graph else is_grad_enabled()):
        grads = _autograd_grad(double_back, seeds, vs, create_graph=create_graph)
        res = _fill_in_zeros(grads, ins, strict, create_graph, "double_back_trick")

    return _detach_unless(outs[0], create_graph), _unpack(_detach_unless(res, create_graph), inputs_is_tuple)

"""In-place changes, as PyTorch makes them: the memory changes, and so does the history.

``t.mul_(3)`` on a tensor that requires grad is recorded like ``t = t * 3`` with one difference:
the new values are written into ``t``'s own memory, so everything that shares it (a view's base,
the other views of that base, ``detach()`` aliases) sees them. Then ``t`` takes the new node as its
``grad_fn`` (PyTorch calls this *rebasing* the history). The steps:

1. compute the new value out of place, from a copy of the old one (an op that saved the old value
   for its backward keeps it, unchanged);
2. write it into the tensor's memory and bump the version counter, so that any *other* op that
   saved the old value raises at backward instead of reading the new one;
3. when the tensor is a view, the base is rebased too: its new history is ``copy_slices(old base,
   new value)``, whose backward sends the gradient of the written region to the new value and the
   rest to the old base (PyTorch's ``CopySlices``). Every other view of that base notices the bumped
   version the next time it is used and re-derives its history from the base (``sync_view``).

A leaf that requires grad, or a view of one, is refused outside ``no_grad``, as in PyTorch.

>>> import tinygrad_conv as tc
>>> x = tc.Tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> y = x * 1
>>> v = y[:2]          # a view of y
>>> v.mul_(10)         # changes y too, and y's history
tensor([10., 20.], grad_fn=<getitem>)
>>> y.grad_fn.name, y.tolist()
('copy_slices', [10.0, 20.0, 3.0])
>>> y.backward(tc.Tensor([1.0, 1.0, 1.0]))
>>> x.grad.tolist()
[10.0, 10.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..tensor import Tensor
from .grad_mode import is_grad_enabled, no_grad

# A view step: (the view op's Function class, its other positional arguments, its keywords).
ViewStep = tuple[Any, tuple[Any, ...], dict[str, Any]]


def replay_view(t: Tensor, chain: tuple[ViewStep, ...]) -> Tensor:
    """Apply the view ops of ``chain`` to the Tensor ``t`` (recorded when grad mode is on)."""
    for cls, rest, kwargs in chain:
        t = cls.apply(t, *rest, **kwargs)
    return t


def replay_view_array(a: np.ndarray, chain: tuple[ViewStep, ...]) -> np.ndarray:
    """Apply the view ops of ``chain`` to the array ``a``: a NumPy view of the same memory."""
    from .function import Context

    for cls, rest, kwargs in chain:
        a = cls.forward(Context(), a, *rest, **kwargs)
    return a


def sync_view(t: Tensor) -> None:
    """Re-derive a view's history from its base after the base's memory changed in place.

    Called when the shared version counter moved since the view last looked: an in-place op on the
    base or on another view of it may have given the base a new ``grad_fn``."""
    assert t._view is not None  # (for the type checker: callers check it)
    base, chain, _, tracks = t._view
    if tracks and is_grad_enabled() and base._requires_grad:
        fresh = replay_view(base, chain)
        t._grad_fn, t._out_idx, t._requires_grad = fresh._grad_fn, fresh._out_idx, True
    t._view = (base, chain, t._vbox[0], tracks)


_LEAF = ("a leaf Variable that requires grad is being used in an in-place operation ({what}). "
         "Wrap the update in `with tinygrad_conv.no_grad():` (as optimisers do), or change a copy: "
         "x = x.clone().")
_LEAF_VIEW = ("a view of a leaf Variable that requires grad is being used in an in-place operation "
              "({what}). Wrap the update in `with tinygrad_conv.no_grad():`, or change a copy of the "
              "leaf (x.clone()) and take the view of that.")
_OVERLAP = ("{what}: unsupported operation: more than one element of the written-to tensor refers to a "
            "single memory location (it is an expanded view, shape {shape}). Please clone() the tensor "
            "before performing the operation.")


def modify_in_place(t: Tensor, what: str, compute: Callable[[Tensor], Any], others: tuple[Any, ...] = (),
                    casting: str = "same_kind",
                    direct: Callable[[np.ndarray], None] | None = None) -> Tensor:
    """Change ``t`` in place to ``compute(t)``; the one path of every in-place Tensor method.

    ``compute`` builds the new value out of place with Tensor ops. ``others`` are the other Tensor
    operands (whether they require grad decides recording). ``casting`` is how the result may be
    cast to ``t``'s dtype ('same_kind' for arithmetic, as PyTorch refuses ``int_tensor *= 1.5``;
    'unsafe' for copy_ and fill_). ``direct(array)``, when given, does the change on the array
    itself; it is used when nothing is recorded, to skip the out-of-place temporary.
    """
    if t._view is not None and t._view[2] != t._vbox[0]:
        sync_view(t)
    view = t._view
    record = is_grad_enabled() and (
        t._requires_grad or any(isinstance(o, Tensor) and o._requires_grad for o in others))
    if record:
        if view is None and t._grad_fn is None and t._requires_grad:
            raise RuntimeError(_LEAF.format(what=what))
        if view is not None and view[0]._grad_fn is None and view[0]._requires_grad:
            raise RuntimeError(_LEAF_VIEW.format(what=what))
    if not t._data.flags.writeable:
        if view is not None:
            raise RuntimeError(_OVERLAP.format(what=what, shape=tuple(t.shape)))
        t._data = t._data.copy()  # e.g. an array the user made read-only: this tensor gets its own

    if not record and direct is not None:
        direct(t._data)
        t._vbox[0] += 1
        return t

    # 1. The new value, out of place, from the old one (a copy when the change is recorded: an op
    #    that saved the old value must keep it after step 2 overwrites this memory).
    old = Tensor._make(t._data.copy() if record else t._data, t._requires_grad, t._grad_fn, t._out_idx,
                       [t._vbox[0]])
    if record:
        new = compute(old)
    else:
        with no_grad():
            new = compute(old)
    if not isinstance(new, Tensor):
        new = Tensor(np.asarray(new))
    if new.shape != t.shape:
        raise RuntimeError(f"{what}: output with shape {list(t.shape)} doesn't match the broadcast "
                           f"shape {list(new.shape)}")
    if new.dtype != t.dtype:
        if not np.can_cast(new.dtype, t.dtype, casting=casting):  # type: ignore[arg-type]
            raise RuntimeError(f"{what}: result type {new.dtype} can't be cast to the desired output "
                               f"type {t.dtype}")
        if record and t.dtype.kind not in "fc":
            raise RuntimeError(f"{what}: an integer tensor of dtype {t.dtype} cannot take a value that "
                               "requires grad (only floating point tensors can require gradients)")
        new = new.to(t.dtype)

    # 2. The memory: views, the base and detached aliases all see the new values.
    np.copyto(t._data, new._data, casting="unsafe")
    t._vbox[0] += 1
    if not record:
        return t

    # 3. The history.
    take_history(t, new)
    return t


def take_history(t: Tensor, new: Tensor) -> None:
    """Make the recorded ``new`` (whose values ``t``'s memory now holds) ``t``'s history; when ``t``
    is a view, its base is rebased with ``copy_slices`` and ``t`` re-derived from the base."""
    view = t._view
    if view is None:
        t._grad_fn, t._out_idx, t._requires_grad = new._grad_fn, new._out_idx, new._requires_grad
        return
    from ..ops.shape import copy_slices

    base, chain, _, _ = view
    base_old = Tensor._make(base._data, base._requires_grad, base._grad_fn, base._out_idx, [base._vbox[0]])
    new_base = copy_slices(base_old, new, chain)
    base._grad_fn, base._out_idx, base._requires_grad = new_base._grad_fn, 0, True
    t._view = (base, chain, -1, True)  # stale on purpose: sync_view re-derives t from the new base
    sync_view(t)

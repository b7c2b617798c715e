"""Hook handles and the machinery behind ``nn.Module``'s backward hooks, as ``torch.utils.hooks``.

``RemovableHandle`` is what every ``register_*_hook`` returns. ``BackwardHook`` implements
``register_full_backward_hook`` / ``register_full_backward_pre_hook`` the way PyTorch does: the
module's tensor inputs and outputs pass through an identity op (``backward_hook``); when the
gradient reaches the output side the pre-hooks see ``grad_output``, and when it reaches the input
side the hooks see ``grad_input`` and ``grad_output`` together.

>>> import tinygrad_conv as tc
>>> from tinygrad_conv import nn
>>> seen = []
>>> lin = nn.Linear(2, 1)
>>> handle = lin.register_full_backward_hook(lambda m, gi, go: seen.append((gi[0].shape, go[0].shape)))
>>> lin(tc.ones(3, 2, requires_grad=True)).sum().backward()
>>> seen
[((3, 2), (3, 1))]
>>> handle.remove()
"""

from __future__ import annotations

import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from ..autograd.function import Context, Function
from ..autograd.grad_mode import is_grad_enabled
from ..tensor import Tensor


class RemovableHandle:
    """A handle that removes the hook it was returned for: ``handle.remove()``, or ``with handle:``.

    ``hooks_dict`` maps hook ids to hooks; ``extra_dict`` (a dict or a list of dicts) holds
    per-hook flags (with_kwargs, always_call) that are removed with the hook.

    >>> from collections import OrderedDict
    >>> hooks = OrderedDict()
    >>> handle = RemovableHandle(hooks)
    >>> hooks[handle.id] = print
    >>> handle.remove(); len(hooks)
    0
    """

    id: int
    next_id: int = 0

    def __init__(self, hooks_dict: Any, *, extra_dict: Any = None) -> None:
        # Weak references, as PyTorch: a handle does not keep a deleted module's hooks alive.
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = RemovableHandle.next_id
        RemovableHandle.next_id += 1
        self.extra_dict_ref: tuple[Any, ...] = ()
        if isinstance(extra_dict, dict):
            self.extra_dict_ref = (weakref.ref(extra_dict),)
        elif isinstance(extra_dict, list):
            self.extra_dict_ref = tuple(weakref.ref(d) for d in extra_dict)

    def remove(self) -> None:
        """Unregister the hook (removing it twice is harmless)."""
        hooks_dict = self.hooks_dict_ref()
        if hooks_dict is not None and self.id in hooks_dict:
            del hooks_dict[self.id]
        for ref in self.extra_dict_ref:
            extra = ref()
            if extra is not None and self.id in extra:
                del extra[self.id]

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.hooks_dict_ref(), self.id, tuple(ref() for ref in self.extra_dict_ref))

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.hooks_dict_ref = weakref.ref(state[0] if state[0] is not None else OrderedDict())
        self.id = state[1]
        RemovableHandle.next_id = max(RemovableHandle.next_id, self.id + 1)
        self.extra_dict_ref = tuple(weakref.ref(d) for d in state[2] if d is not None) if len(state) > 2 else ()


class BackwardHookFunction(Function):
    """Identity on the module's tensors; its backward runs the module's backward hooks."""

    name = "backward_hook"
    array_forward = True
    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, *arrays: Any) -> Any:
        # The arrays themselves: no copy (as PyTorch's identity, whose outputs are views).
        return tuple(arrays)

    @staticmethod
    def backward(ctx: Context, *grads: Any) -> Any:
        side = ctx.__dict__.get("hook_side")
        if side is None:  # the hooks were set up without grad tracking (never happens in practice)
            return grads
        state, which = side
        if which == "output":
            # The engine fills the gradient of an output that nothing used with zeros; PyTorch's
            # grad_output has None there. The marker hooks (on each output) recorded which came.
            arrived = state.arrived.pop(which, set())
            return state.on_output_grads(tuple(g if i in arrived else None for i, g in enumerate(grads)))
        # On the input side PyTorch's grad_input holds zeros for a gradient that did not come.
        return state.on_input_grads(grads)


class BackwardHook:
    """One module call's backward hooks (created by ``Module.__call__``, as in PyTorch)."""

    def __init__(self, module: Any, user_hooks: list[Callable[..., Any]],
                 user_pre_hooks: list[Callable[..., Any]]) -> None:
        self.user_hooks = user_hooks
        self.user_pre_hooks = user_pre_hooks
        self.module = module
        self.grad_outputs: tuple[Any, ...] | None = None
        self.n_outputs = -1
        self.output_tensors_index: list[int] | None = None
        self.n_inputs = -1
        self.input_tensors_index: list[int] | None = None
        self.arrived: dict[str, set[int]] = {}
        self.passed: dict[str, list[int]] = {}
        self.constant_inputs: dict[str, list[tuple[int, tuple[int, ...], Any]]] = {}

    @staticmethod
    def _pack_with_none(indices: list[int], values: tuple[Any, ...], size: int) -> tuple[Any, ...]:
        res: list[Any] = [None] * size
        for idx, val in zip(indices, values):
            res[idx] = val
        return tuple(res)

    @staticmethod
    def _unpack_none(indices: list[int], values: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(values[idx] for idx in indices)

    def _apply_on_tensors(self, which: str, args: tuple[Any, ...]) -> tuple[Any, list[int] | None]:
        """Pass the tensors of ``args`` that require grad through the identity op; returns the new
        args and the positions of all tensors in ``args`` (None when none requires grad)."""
        tensors_idx = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        passed = [i for i in tensors_idx if args[i].requires_grad]
        if not passed or not is_grad_enabled():
            return args, None
        new = BackwardHookFunction.apply(*[args[i] for i in passed])
        node = new[0].grad_fn
        node.ctx.hook_side = (self, which)
        if which == "output":
            for k, t in enumerate(new):
                t.register_hook(self._marker(which, k))
        # The tensors that do not require grad stay as they are; PyTorch's grad_input still has an
        # entry of zeros for each of them.
        self.passed[which] = passed
        self.constant_inputs[which] = [(i, args[i].shape, args[i].dtype) for i in tensors_idx if i not in passed]
        arg_list = list(args)
        for i, t in zip(passed, new):
            # The output is the input's array itself: like a view, it shares its version counter,
            # so an in-place change through either is seen by the checks on saved tensors.
            t._vbox = args[i]._vbox
            arg_list[i] = t
        out = tuple(arg_list) if type(args) is tuple else type(args)(*arg_list)
        return out, tensors_idx

    def _marker(self, which: str, k: int) -> Callable[[Tensor], None]:
        def mark(grad: Tensor) -> None:
            self.arrived.setdefault(which, set()).add(k)
        return mark

    def setup_input_hook(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        res, self.input_tensors_index = self._apply_on_tensors("input", args)
        self.n_inputs = len(args)
        return res

    def setup_output_hook(self, result: Any) -> Any:
        is_tuple = isinstance(result, tuple)
        args = result if is_tuple else (result,)
        res, self.output_tensors_index = self._apply_on_tensors("output", args)
        self.n_outputs = len(args)
        return res if is_tuple else res[0]

    def on_output_grads(self, grads: tuple[Any, ...]) -> tuple[Any, ...]:
        passed = self.passed["output"]
        self.grad_outputs = self._pack_with_none(passed, grads, self.n_outputs)
        expected = len(self.grad_outputs)
        for pre_hook in self.user_pre_hooks:
            out = pre_hook(self.module, self.grad_outputs)
            if out is None:
                continue
            out = _as_grad_tuple(out)
            if len(out) != expected:
                raise RuntimeError("Backward pre hook returned an invalid number of grad_output, "
                                   f"got {len(out)}, but expected {expected}")
            self.grad_outputs = out
        local = self.grad_outputs
        if self.input_tensors_index is None:
            # No input requires grad: the hooks fire now, with grad_input all None (as PyTorch).
            warnings.warn("Full backward hook is firing when gradients are computed with respect to module "
                          "outputs since no inputs require gradients. See "
                          "https://docs.pytorch.org/docs/main/generated/torch.nn.Module.html"
                          "#torch.nn.Module.register_full_backward_hook for more details.", stacklevel=2)
            grad_inputs = self._pack_with_none([], (), self.n_inputs)
            for hook in self.user_hooks:
                res = hook(self.module, grad_inputs, self.grad_outputs)
                if res is not None and not (isinstance(res, tuple) and all(el is None for el in res)):
                    raise RuntimeError("Backward hook for Modules where no input requires gradient should "
                                       "always return None or None for all gradients.")
            self.grad_outputs = None
        return self._unpack_none(passed, local)

    def on_input_grads(self, grads: tuple[Any, ...]) -> tuple[Any, ...]:
        if self.grad_outputs is None:
            # The gradient reached the inputs without passing through the outputs (e.g. a double
            # backward): PyTorch calls no hook then.
            return grads
        passed = self.passed["input"]
        packed = list(self._pack_with_none(passed, grads, self.n_inputs))
        for i, shape, dtype in self.constant_inputs["input"]:
            packed[i] = Tensor(np.zeros(shape, dtype=dtype))
        res = tuple(packed)
        for hook in self.user_hooks:
            out = hook(self.module, res, self.grad_outputs)
            if out is None:
                continue
            out = _as_grad_tuple(out)
            if len(out) != len(res):
                raise RuntimeError("Backward hook returned an invalid number of grad_input, "
                                   f"got {len(out)}, but expected {len(res)}")
            res = out
        self.grad_outputs = None
        return self._unpack_none(passed, res)


def _as_grad_tuple(value: Any) -> tuple[Any, ...]:
    """A hook's replacement gradients as a tuple (PyTorch accepts a lone Tensor too)."""
    if isinstance(value, Tensor):
        return (value,)
    if isinstance(value, (tuple, list)):
        return tuple(value)
    raise TypeError(f"a backward hook must return None, a Tensor or a tuple of Tensors, got {type(value).__name__}")


# ---------------------------------------------------------------- the older register_backward_hook
# PyTorch registers those hooks on the grad_fn of the module's (first) output: they see the
# gradients of that last op's inputs, whatever they are. Our nodes have no per-node hooks, so the
# node's op class is swapped for a subclass whose backward calls the original rule, then the hooks.
_LEGACY_CLASSES: dict[type[Function], type[Function]] = {}


def _legacy_class(fn: type[Function]) -> type[Function]:
    if fn.__dict__.get("_legacy_hooked"):  # already swapped (a second module ends in this node)
        return fn
    sub = _LEGACY_CLASSES.get(fn)
    if sub is not None:
        return sub
    original = fn.backward

    def backward(ctx: Context, *grads: Any) -> Any:
        result = original(ctx, *grads)
        info = ctx.__dict__.get("legacy_hooks")
        if info is None:
            return result
        module, hooks, node_ref = info[:3]
        node = node_ref()
        gin = result if isinstance(result, tuple) else tuple(result) if isinstance(result, list) else (result,)
        if node is not None and len(gin) == len(node.next):
            from ..autograd.engine import _fit  # the engine's own shape check and broadcast sum

            fitted: list[Any] = []
            for i, (e, g) in enumerate(zip(node.next, gin)):
                if e is None or g is None:  # PyTorch passes None for inputs that take no gradient
                    fitted.append(None)
                    continue
                shape, dtype = e[0].out_meta[e[1]] if type(e) is tuple else (e._data.shape, e._data.dtype)
                fitted.append(_fit(g, node, i, shape, dtype))
            gin = tuple(fitted)
        for hook in hooks:
            out = hook(module, gin, tuple(grads))
            if out is None:
                continue
            out = _as_grad_tuple(out)
            if len(out) != len(gin):
                raise RuntimeError(f"hook '{getattr(hook, '__name__', hook)}' has returned an incorrect number of "
                                   f"values (got {len(out)}, but expected {len(gin)})")
            gin = out
        return gin

    sub = type(fn.__name__, (fn,), {"name": fn.name, "backward": staticmethod(backward), "_legacy_hooked": True,
                                    "__module__": fn.__module__, "__doc__": fn.__doc__})
    _LEGACY_CLASSES[fn] = sub
    return sub


def _warn_partial_legacy_hook(inputs: tuple[Any, ...], result: Any, node: Any) -> None:
    """PyTorch's FutureWarnings for the older hook where its grad_input or grad_output will miss
    something: the same tests, on our nodes (a leaf input counts as its own edge, as PyTorch's
    AccumulateGrad node does)."""
    def warn(text: str) -> None:
        warnings.warn(text, FutureWarning, stacklevel=4)

    if isinstance(result, Tensor):
        result = (result,)
    elif not (isinstance(result, tuple) and all(isinstance(r, Tensor) for r in result)):
        warn("Using non-full backward hooks on a Module that does not return a single Tensor or a tuple of Tensors "
             "is deprecated and will be removed in future versions. This hook will be missing some of the "
             "grad_output. Please use register_full_backward_hook to get the documented behavior.")
        return
    if not all(isinstance(i, Tensor) for i in inputs):
        warn("Using non-full backward hooks on a Module that does not take as input a single Tensor or a tuple of "
             "Tensors is deprecated and will be removed in future versions. This hook will be missing some of the "
             "grad_input. Please use register_full_backward_hook to get the documented behavior.")
        return
    out_nodes = {id(r.grad_fn) for r in result if r.grad_fn is not None}
    if len(out_nodes) == 0 or (len(out_nodes) == 1 and id(node) not in out_nodes):
        warn("Using a non-full backward hook when outputs are nested in python data structure is deprecated and will "
             "be removed in future versions. This hook will be missing some grad_output.")
    elif len(out_nodes) > 1:
        warn("Using a non-full backward hook when outputs are generated by different autograd Nodes is deprecated "
             "and will be removed in future versions. This hook will be missing some grad_output. Please use "
             "register_full_backward_hook to get the documented behavior.")
    else:
        input_edges = {id(i.grad_fn) for i in inputs if i.grad_fn is not None}
        node_edges = {id(e[0]) if type(e) is tuple else id(e) for e in node.next}
        if input_edges != node_edges:
            warn("Using a non-full backward hook when the forward contains multiple autograd Nodes is deprecated and "
                 "will be removed in future versions. This hook will be missing some grad_input. Please use "
                 "register_full_backward_hook to get the documented behavior.")


def attach_legacy_hooks(module: Any, inputs: tuple[Any, ...], result: Any, hooks: list[Callable[..., Any]]) -> None:
    """Register ``register_backward_hook`` hooks on the node that made the module's first output."""
    var = result
    while not isinstance(var, Tensor):
        if isinstance(var, dict):
            var = next(v for v in var.values() if isinstance(v, Tensor))
        else:
            var = var[0]
    node = var.grad_fn
    if node is None:
        return
    ctx = node.ctx
    previous = ctx.__dict__.get("legacy_hooks")
    # A second module ending in the same node (a wrapper around it) adds its hooks after the first.
    if previous is None:
        bound = [(module, h) for h in hooks]
    else:
        bound = previous[3] + [(module, h) for h in hooks]
    node.fn = _legacy_class(node.fn)  # type: ignore[assignment]

    def run(mod_hook: tuple[Any, Callable[..., Any]]) -> Callable[..., Any]:
        mod, h = mod_hook
        return lambda _m, gi, go: h(mod, gi, go)

    ctx.legacy_hooks = (module, [run(mh) for mh in bound], weakref.ref(node), bound)
    _warn_partial_legacy_hook(inputs, result, node)

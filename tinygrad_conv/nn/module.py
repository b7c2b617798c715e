"""``Module`` and ``Parameter``: the building blocks of models, shaped like ``torch.nn``.

A Module registers its parameters, buffers and child modules as they are assigned, so
``parameters()``, ``state_dict()`` and ``train()``/``eval()`` walk the whole tree. Calling a module
runs ``forward`` inside a tape scope named by the module's dotted path from the root (``''`` for
the root, ``features.0`` for the first child of ``features``), so every recorded op knows which
layer made it and the graph drawer can group ops by layer.

>>> import tinygrad_conv as tc
>>> from tinygrad_conv import nn
>>> class Net(nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.body = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
...     def forward(self, x):
...         return self.body(x)
>>> net = Net()
>>> [name for name, _ in net.named_parameters()]
['body.0.weight', 'body.0.bias', 'body.2.weight', 'body.2.bias']
>>> out = net(tc.ones(5, 3))
>>> out.grad_fn.scope
'body.2'
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from ..autograd.grad_mode import no_grad
from ..autograd.tape import current_scope, scope
from ..tensor import Tensor
from ..utils.hooks import RemovableHandle

# The modules whose forward is running in this thread, innermost last, with their scope paths.
_running = threading.local()

# Hooks for every module (torch.nn.modules.module.register_module_*_hook); they run before each
# module's own hooks of the same kind.
_global_forward_pre_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
_global_forward_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
_global_forward_hooks_with_kwargs: OrderedDict[int, bool] = OrderedDict()
_global_forward_hooks_always_called: OrderedDict[int, bool] = OrderedDict()
_global_backward_pre_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
_global_backward_hooks: OrderedDict[int, Callable[..., Any]] = OrderedDict()
_global_is_full_backward_hook: bool | None = None


def _add_hook(hooks: OrderedDict[int, Callable[..., Any]], hook: Callable[..., Any], *, prepend: bool = False,
              flags: Iterable[tuple[OrderedDict[int, bool], bool]] = ()) -> RemovableHandle:
    """Register ``hook`` in ``hooks`` (first when ``prepend``), marking it in each flag table whose
    flag is set; the handle removes it from all of them."""
    flags = list(flags)
    handle = RemovableHandle(hooks, extra_dict=[table for table, _ in flags] if flags else None)
    hooks[handle.id] = hook
    for table, on in flags:
        if on:
            table[handle.id] = True
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


def _check_backward_hook_kind(current: bool | None, full: bool, where: str) -> None:
    """Full and regular backward hooks cannot be mixed (``current`` is the kind already in use)."""
    if current is (not full):
        raise RuntimeError(f"Cannot use both regular backward hooks and full backward hooks {where}. "
                           "Please use only one of them.")


def register_module_forward_pre_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """Call ``hook(module, args)`` before every module's forward (before its own pre-hooks)."""
    return _add_hook(_global_forward_pre_hooks, hook)


def register_module_forward_hook(hook: Callable[..., Any], *, with_kwargs: bool = False,
                                 always_call: bool = False) -> RemovableHandle:
    """Call ``hook(module, args, output)`` after every module's forward (before its own hooks).

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv import nn
    >>> from tinygrad_conv.nn.module import register_module_forward_hook
    >>> names = []
    >>> with register_module_forward_hook(lambda m, args, out: names.append(type(m).__name__)):
    ...     _ = nn.Sequential(nn.Linear(2, 2), nn.ReLU())(tc.ones(1, 2))
    >>> names
    ['Linear', 'ReLU', 'Sequential']
    """
    return _add_hook(_global_forward_hooks, hook, flags=[(_global_forward_hooks_with_kwargs, with_kwargs),
                                                         (_global_forward_hooks_always_called, always_call)])


def register_module_full_backward_pre_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """``register_full_backward_pre_hook`` for every module (runs before each module's own)."""
    return _add_hook(_global_backward_pre_hooks, hook)


def register_module_full_backward_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """``register_full_backward_hook`` for every module (runs before each module's own)."""
    global _global_is_full_backward_hook
    _check_backward_hook_kind(_global_is_full_backward_hook, True, "as a global Module hook")
    _global_is_full_backward_hook = True
    return _add_hook(_global_backward_hooks, hook)


def register_module_backward_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """The older ``register_backward_hook`` for every module (deprecated in PyTorch)."""
    global _global_is_full_backward_hook
    _check_backward_hook_kind(_global_is_full_backward_hook, False, "as a global Module hook")
    _global_is_full_backward_hook = False
    return _add_hook(_global_backward_hooks, hook)


class Parameter(Tensor):
    """A Tensor that a Module registers as a learnable parameter (``requires_grad=True``).

    >>> from tinygrad_conv import nn
    >>> p = nn.Parameter([1.0, 2.0])
    >>> p.requires_grad, p.is_leaf
    (True, True)
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            data = np.zeros((0,), dtype=np.float32)
        super().__init__(data, requires_grad=requires_grad)
        if not self._data.flags.writeable:  # optimisers update parameters in place
            self._data = self._data.copy()

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` returns: the keys it did not use or did not find."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _as_state_array(value: Any) -> np.ndarray | None:
    """The array inside a state-dict value (Tensor, ndarray or number), or None if it is none."""
    if isinstance(value, Tensor):
        return value._data
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value)
    if isinstance(value, (bool, int, float)):
        return np.asarray(value)
    return None


class Module:
    """Base class of every layer and model. Subclass it, assign layers and parameters in
    ``__init__`` (after ``super().__init__()``) and write ``forward``.

    >>> from tinygrad_conv import nn
    >>> nn.Linear(2, 3)
    Linear(in_features=2, out_features=3, bias=True)
    """

    training: bool
    _parameters: dict[str, Parameter | None]
    _buffers: dict[str, Tensor | None]
    _non_persistent: set[str]
    _modules: dict[str, Module | None]
    _scope_name: str
    _forward_pre_hooks: OrderedDict[int, Callable[..., Any]]
    _forward_pre_hooks_with_kwargs: OrderedDict[int, bool]
    _forward_hooks: OrderedDict[int, Callable[..., Any]]
    _forward_hooks_with_kwargs: OrderedDict[int, bool]
    _forward_hooks_always_called: OrderedDict[int, bool]
    _backward_pre_hooks: OrderedDict[int, Callable[..., Any]]
    _backward_hooks: OrderedDict[int, Callable[..., Any]]
    _is_full_backward_hook: bool | None

    def __init__(self) -> None:
        d = self.__dict__
        d["_parameters"] = {}
        d["_buffers"] = {}
        d["_non_persistent"] = set()
        d["_modules"] = {}
        d["training"] = True
        # The attribute name this module was last assigned to in a parent ('' for a root): the
        # last part of its scope path, set by the parent's __setattr__.
        d["_scope_name"] = ""
        # Hooks by handle id, in call order (as PyTorch's), and the per-hook flags.
        d["_forward_pre_hooks"] = OrderedDict()
        d["_forward_pre_hooks_with_kwargs"] = OrderedDict()
        d["_forward_hooks"] = OrderedDict()
        d["_forward_hooks_with_kwargs"] = OrderedDict()
        d["_forward_hooks_always_called"] = OrderedDict()
        d["_backward_pre_hooks"] = OrderedDict()
        d["_backward_hooks"] = OrderedDict()
        # True: the backward hooks are full ones; False: the older kind; None: none yet.
        d["_is_full_backward_hook"] = None

    # ------------------------------------------------------------------ registration
    def _registry(self, kind: str) -> dict[str, Any]:
        reg = self.__dict__.get(kind)
        if reg is None:
            raise AttributeError(f"cannot assign parameters, buffers or modules before "
                                 f"Module.__init__() is called: call super().__init__() first in "
                                 f"{type(self).__name__}.__init__")
        return reg

    def _forget(self, name: str) -> None:
        for kind in ("_parameters", "_buffers", "_modules"):
            reg = self.__dict__.get(kind)
            if reg is not None:
                reg.pop(name, None)
        self.__dict__.get("_non_persistent", set()).discard(name)

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params, buffers, modules = d.get("_parameters"), d.get("_buffers"), d.get("_modules")
        if isinstance(value, Parameter):
            reg = self._registry("_parameters")
            self._forget(name)
            reg[name] = value
        elif isinstance(value, Module):
            reg = self._registry("_modules")
            self._forget(name)
            reg[name] = value
            value._adopt(name)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} as parameter '{name}' of "
                                f"{type(self).__name__}: use nn.Parameter(...) or None")
            params[name] = None
        elif buffers is not None and name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign a {type(value).__name__} as buffer '{name}' of "
                                f"{type(self).__name__}: use a Tensor or None")
            buffers[name] = value
        elif modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} as child module '{name}' "
                                f"of {type(self).__name__}: use a Module or None")
            modules[name] = None
        # Also a plain attribute, so reading it is an ordinary (fast) attribute lookup.
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._forget(name)
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or a None placeholder, as a layer without bias does)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter: '{name}' must be a Parameter or None, got "
                            f"{type(param).__name__}")
        _check_name(name, "parameter")
        self._forget(name)
        self._registry("_parameters")[name] = param
        object.__setattr__(self, name, param)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add state that is not a parameter (BatchNorm's running statistics); persistent buffers
        are part of ``state_dict()``."""
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"register_buffer: '{name}' must be a Tensor or None, got "
                            f"{type(tensor).__name__}")
        _check_name(name, "buffer")
        self._forget(name)
        self._registry("_buffers")[name] = tensor
        if not persistent:
            self.__dict__["_non_persistent"].add(name)
        object.__setattr__(self, name, tensor)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module under ``name`` (what assigning an attribute does)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: '{name}' must be a Module or None, got {type(module).__name__}")
        _check_name(name, "module")
        self._forget(name)
        self._registry("_modules")[name] = module
        if module is not None:
            module._adopt(name)
        object.__setattr__(self, name, module)

    # ------------------------------------------------------------------ calling
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} has no forward(): define forward(self, ...) "
                                  "in the subclass")

    def _adopt(self, name: str) -> None:
        self.__dict__["_scope_name"] = name

    def _relative_path(self, target: Module, max_depth: int = 4) -> str | None:
        """The dotted path of ``target`` below this module, or None (searched breadth first)."""
        name = target._scope_name
        if self._modules.get(name) is target:  # the usual case: a direct child, one lookup
            return name
        level: list[tuple[str, Module]] = [("", self)]
        for _ in range(max_depth):
            nxt = []
            for prefix, mod in level:
                for child_name, child in mod._modules.items():
                    if child is None:
                        continue
                    path = f"{prefix}.{child_name}" if prefix else child_name
                    if child is target:
                        return path
                    nxt.append((path, child))
            level = nxt
        return None

    def _scope_path(self, running: list[tuple[Module, str]]) -> str:
        """This module's dotted path below the innermost running module that contains it.

        Usually that is the module whose forward is calling this one, and this is a direct child.
        Containers that are iterated rather than called (ModuleList) are searched through, so
        their children still get 'blocks.0', as in named_modules().
        """
        if not running:
            return current_scope()  # a root: its ops belong to whatever scope encloses the call
        for module, path in reversed(running):
            rel = module._relative_path(self)
            if rel is not None:
                return f"{path}.{rel}" if path else rel
        # Not part of any running module (kept outside the model and called from its forward):
        # file it under the caller, by its own name.
        top = running[-1][1]
        name = self._scope_name
        return f"{top}.{name}" if top and name else (name or top)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        running = getattr(_running, "stack", None)
        if running is None:
            running = _running.stack = []
        path = self._scope_path(running)
        running.append((self, path))
        try:
            with scope(path):
                d = self.__dict__
                if (d.get("_forward_pre_hooks") or d.get("_forward_hooks") or d.get("_backward_hooks")
                        or d.get("_backward_pre_hooks") or _global_forward_pre_hooks or _global_forward_hooks
                        or _global_backward_hooks or _global_backward_pre_hooks):
                    return self._call_with_hooks(args, kwargs)
                return self.forward(*args, **kwargs)
        finally:
            running.pop()

    def _call_with_hooks(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``forward`` with the module's hooks around it, in PyTorch's order: forward pre-hooks,
        the backward hooks' input side, forward, forward hooks, the backward hooks' output side."""
        from ..utils.hooks import BackwardHook, attach_legacy_hooks

        result = None
        called_always: set[int] = set()
        try:
            full_hooks: list[Callable[..., Any]] = []
            legacy_hooks: list[Callable[..., Any]] = []
            for flag, table in ((_global_is_full_backward_hook, _global_backward_hooks),
                                (self._is_full_backward_hook, self._backward_hooks)):
                if table:
                    (full_hooks if flag else legacy_hooks).extend(table.values())
            pre_hooks = [*_global_backward_pre_hooks.values(), *self._backward_pre_hooks.values()]
            for hook_id, hook in [*_global_forward_pre_hooks.items(), *self._forward_pre_hooks.items()]:
                if hook_id in self._forward_pre_hooks_with_kwargs:
                    new = hook(self, args, kwargs)
                    if new is not None:
                        if isinstance(new, tuple) and len(new) == 2:
                            args, kwargs = new
                        else:
                            raise RuntimeError("forward pre-hook must return None or a tuple of (new_args, "
                                               f"new_kwargs), but got {new}.")
                else:
                    new = hook(self, args)
                    if new is not None:
                        args = new if isinstance(new, tuple) else (new,)
            bw_hook = None
            if full_hooks or pre_hooks:
                bw_hook = BackwardHook(self, full_hooks, pre_hooks)
                args = bw_hook.setup_input_hook(args)
            result = self.forward(*args, **kwargs)
            for hook_id, hook in [*_global_forward_hooks.items(), *self._forward_hooks.items()]:
                if hook_id in self._forward_hooks_always_called or hook_id in _global_forward_hooks_always_called:
                    called_always.add(hook_id)
                if hook_id in self._forward_hooks_with_kwargs or hook_id in _global_forward_hooks_with_kwargs:
                    new = hook(self, args, kwargs, result)
                else:
                    new = hook(self, args, result)
                if new is not None:
                    result = new
            if bw_hook is not None:
                if not isinstance(result, (Tensor, tuple)):
                    warnings.warn("For backward hooks to be called, module output should be a Tensor or a "
                                  f"tuple of Tensors but received {type(result)}", stacklevel=3)
                result = bw_hook.setup_output_hook(result)
            if legacy_hooks:
                attach_legacy_hooks(self, args, result, legacy_hooks)
            return result
        except Exception:
            # Hooks registered with always_call=True still run when forward (or a hook) raised: the
            # global ones first (called without kwargs, as PyTorch), then the module's.
            for hook_id, hook in list(_global_forward_hooks.items()):
                if hook_id not in _global_forward_hooks_always_called or hook_id in called_always:
                    continue
                try:
                    new = hook(self, args, result)
                    if new is not None:
                        result = new
                except Exception as e:
                    warnings.warn("global module forward hook with ``always_call=True`` raised an exception that "
                                  f"was silenced as another error was raised in forward: {e}", stacklevel=3)
            for hook_id, hook in list(self._forward_hooks.items()):
                if hook_id not in self._forward_hooks_always_called or hook_id in called_always:
                    continue
                try:
                    if hook_id in self._forward_hooks_with_kwargs:
                        new = hook(self, args, kwargs, result)
                    else:
                        new = hook(self, args, result)
                    if new is not None:
                        result = new
                except Exception as e:
                    warnings.warn("module forward hook with ``always_call=True`` raised an exception that was "
                                  f"silenced as another error was raised in forward: {e}", stacklevel=3)
            raise

    # ------------------------------------------------------------------ hooks
    def register_forward_pre_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args)`` before every ``forward``; a returned value replaces ``args``
        (a non-tuple is wrapped in one). With ``with_kwargs=True`` the hook is
        ``hook(module, args, kwargs)`` and may return ``(new_args, new_kwargs)``. ``prepend``
        runs it before the hooks already registered.

        >>> import tinygrad_conv as tc
        >>> from tinygrad_conv import nn
        >>> relu = nn.ReLU()
        >>> h = relu.register_forward_pre_hook(lambda m, args: (-args[0],))
        >>> relu(tc.tensor([1.0, -2.0])).tolist()
        [0.0, 2.0]
        >>> h.remove()
        """
        return _add_hook(self._forward_pre_hooks, hook, prepend=prepend,
                         flags=[(self._forward_pre_hooks_with_kwargs, with_kwargs)])

    def register_forward_hook(self, hook: Callable[..., Any], *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after every ``forward``; a returned value replaces
        the output. With ``with_kwargs=True`` the hook is ``hook(module, args, kwargs, output)``;
        with ``always_call=True`` it also runs when forward raises (with output None).

        >>> import tinygrad_conv as tc
        >>> from tinygrad_conv import nn
        >>> shapes = []
        >>> lin = nn.Linear(3, 2)
        >>> h = lin.register_forward_hook(lambda m, args, out: shapes.append(out.shape))
        >>> _ = lin(tc.ones(4, 3)); shapes
        [(4, 2)]
        >>> h.remove()
        """
        return _add_hook(self._forward_hooks, hook, prepend=prepend,
                         flags=[(self._forward_hooks_with_kwargs, with_kwargs),
                                (self._forward_hooks_always_called, always_call)])

    def register_full_backward_pre_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_output)`` when the gradients with respect to the module's
        outputs are computed; a returned tuple replaces ``grad_output`` (same length).

        >>> import tinygrad_conv as tc
        >>> from tinygrad_conv import nn
        >>> lin = nn.Linear(2, 2)
        >>> h = lin.register_full_backward_pre_hook(lambda m, go: (go[0] * 0,))
        >>> x = tc.ones(1, 2, requires_grad=True)
        >>> lin(x).sum().backward(); x.grad.tolist()
        [[0.0, 0.0]]
        >>> h.remove()
        """
        return _add_hook(self._backward_pre_hooks, hook, prepend=prepend)

    def register_full_backward_hook(self, hook: Callable[..., Any], prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_input, grad_output)`` when the gradients with respect to the
        module's positional inputs are computed. ``grad_input`` has one entry per positional
        argument (None for non-tensors and tensors that do not require grad), ``grad_output`` one
        per output; a returned tuple replaces ``grad_input``. The inputs and outputs pass through
        an identity op, so the hook also fires when the module changes nothing.

        >>> import tinygrad_conv as tc
        >>> from tinygrad_conv import nn
        >>> norms = []
        >>> lin = nn.Linear(2, 2)
        >>> h = lin.register_full_backward_hook(lambda m, gi, go: norms.append(len(gi)))
        >>> lin(tc.ones(1, 2, requires_grad=True)).sum().backward(); norms
        [1]
        >>> h.remove()
        """
        _check_backward_hook_kind(self._is_full_backward_hook, True, "on a single Module")
        self.__dict__["_is_full_backward_hook"] = True
        return _add_hook(self._backward_hooks, hook, prepend=prepend)

    def register_backward_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """The older backward hook (deprecated in PyTorch in favour of
        ``register_full_backward_hook``): ``hook(module, grad_input, grad_output)`` is registered
        on the op that made the module's (first) output, so ``grad_input`` holds the gradients of
        that last op's inputs (for Conv2d: input, weight, bias), whatever the module did before.
        """
        _check_backward_hook_kind(self._is_full_backward_hook, False, "on a single Module")
        self.__dict__["_is_full_backward_hook"] = False
        return _add_hook(self._backward_hooks, hook)

    @property
    def type_name(self) -> str:
        """The layer's type as the graph drawer shows it (the class name, e.g. 'Conv2d')."""
        return type(self).__name__

    # ------------------------------------------------------------------ walking the tree
    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs; a parameter shared by two layers is listed once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter of this module and (with ``recurse``) its descendants."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        """(dotted name, buffer) pairs; a buffer shared by two layers is listed once (unless
        ``remove_duplicate=False``)."""
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def _named_members(self, table: str, prefix: str, recurse: bool,
                       remove_duplicate: bool) -> Iterator[tuple[str, Any]]:
        """The entries of each module's ``table`` (``_parameters`` or ``_buffers``) with dotted
        names, skipping None and, with ``remove_duplicate``, entries already listed."""
        seen: set[int] = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else iter([(prefix, self)])
        for mod_prefix, mod in mods:
            for name, member in getattr(mod, table).items():
                if member is None or (remove_duplicate and id(member) in seen):
                    continue
                seen.add(id(member))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), member

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_modules(self, memo: set[Any] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(dotted path, module) for this module and every descendant, parents first; a module
        reached twice is listed once unless ``remove_duplicate=False``. The paths are the scope
        paths ops are recorded under when this module is the root.

        >>> from tinygrad_conv import nn
        >>> lin = nn.Linear(2, 2)
        >>> [name for name, _ in nn.Sequential(lin, lin).named_modules(remove_duplicate=False)]
        ['', '0', '1']
        """
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            yield from m.named_modules(memo, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def _get_name(self) -> str:
        return type(self).__name__

    def get_submodule(self, target: str) -> Module:
        """The descendant at dotted path ``target`` (``''`` is this module), as PyTorch's.

        >>> from tinygrad_conv import nn
        >>> net = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU()))
        >>> type(net.get_submodule("1.0")).__name__
        'ReLU'
        """
        if target == "":
            return self
        mod: Module = self
        for item in target.split("."):
            if not hasattr(mod, item):
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}` (looking up submodule '{target}')")
            found = getattr(mod, item)
            if not isinstance(found, Module):
                raise AttributeError(f"`{item}` is not an nn.Module (looking up submodule '{target}')")
            mod = found
        return mod

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at dotted path ``target`` (``'0.weight'``), as PyTorch's."""
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if not hasattr(mod, name):
            raise AttributeError(f"{mod._get_name()} has no attribute `{name}` (looking up parameter '{target}')")
        param = getattr(mod, name)
        if not isinstance(param, Parameter):
            raise AttributeError(f"`{name}` is not an nn.Parameter (looking up parameter '{target}')")
        return param

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at dotted path ``target`` (``'0.running_mean'``), as PyTorch's."""
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if not hasattr(mod, name):
            raise AttributeError(f"{mod._get_name()} has no attribute `{name}` (looking up buffer '{target}')")
        if name not in mod._buffers:
            raise AttributeError(f"`{name}` is not a buffer (looking up buffer '{target}')")
        return getattr(mod, name)  # type: ignore[no-any-return]

    def register_module(self, name: str, module: Module | None) -> None:
        """Alias of ``add_module``, as in PyTorch."""
        self.add_module(name, module)

    def module_types(self) -> dict[str, str]:
        """{scope path: type name} for this model and its descendants (for the graph drawer).

        >>> from tinygrad_conv import nn
        >>> nn.Sequential(nn.Linear(2, 2), nn.ReLU()).module_types()
        {'': 'Sequential', '0': 'Linear', '1': 'ReLU'}
        """
        return {path: m.type_name for path, m in self.named_modules()}

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every descendant, then on this module (e.g. a custom initialisation)."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and gradients
    def train(self, mode: bool = True) -> Module:
        """Training mode (BatchNorm uses batch statistics, Dropout drops); returns self."""
        if not isinstance(mode, bool):
            raise ValueError(f"train(mode): mode must be a bool, got {mode!r}")
        for m in self.modules():
            m.__dict__["training"] = mode
        return self

    def eval(self) -> Module:
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Turn gradients on or off for every parameter (to freeze layers)."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the parameters' gradients (to None by default, as PyTorch)."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                # A fresh array: the old gradient may share memory with another tensor.
                p.grad = Tensor(np.zeros_like(p.grad._data))

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Convert floating-point parameters and buffers in place, as ``torch.nn.Module.to``:
        ``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(tensor)`` and the keywords
        ``dtype=``, ``device=``, ``non_blocking=``. The device must be the CPU (where everything is);
        the parameters stay the same objects, and their gradients are dropped when the dtype changes.

        >>> from tinygrad_conv import nn
        >>> import tinygrad_conv as tc
        >>> m = nn.Linear(2, 3)
        >>> m.to("cpu") is m, m.to(tc.float64).weight.dtype
        (True, dtype('float64'))
        """
        from ..device import as_device
        from ..dtypes import as_dtype
        from ..tensor import _to_arguments

        if "copy" in kwargs or len(args) > 3:
            raise TypeError("Module.to() takes (device=None, dtype=None, non_blocking=False), (dtype, "
                            "non_blocking=False) or (tensor, non_blocking=False)")
        dtype, device, _, _ = _to_arguments(args, kwargs)
        if device is not None:
            as_device(device)  # anything but the CPU raises, saying so
        if dtype is None:
            return self
        dt = as_dtype(dtype, "Module.to")
        if dt.kind != "f":
            raise TypeError(f"nn.Module.to only accepts floating point or complex dtypes, but got desired dtype={dt}")
        with no_grad():
            for p in self.parameters():
                if p.dtype.kind == "f" and p.dtype != dt:
                    p._data = p._data.astype(dt)
                    p.grad = None
                    p._vbox[0] += 1
            for b in self.buffers():
                if b.dtype.kind == "f" and b.dtype != dt:
                    b._data = b._data.astype(dt)
                    b._vbox[0] += 1
        return self

    def float(self) -> Module:
        """Floating-point parameters and buffers to float32."""
        return self.to(np.float32)

    def double(self) -> Module:
        """Floating-point parameters and buffers to float64."""
        return self.to(np.float64)

    def half(self) -> Module:
        """Floating-point parameters and buffers to float16."""
        return self.to(np.float16)

    def type(self, dst_type: Any) -> Module:
        """Every parameter and buffer (integer buffers too, unlike ``to``) to ``dst_type``, in place, as
        ``torch.nn.Module.type``."""
        from ..dtypes import as_dtype

        dt = as_dtype(dst_type, "Module.type", "dst_type")
        tensors = [t for t in [*self.parameters(), *self.buffers()] if t.dtype != dt]
        if dt.kind != "f" and any(t.requires_grad for t in tensors):  # checked first: a refusal changes nothing
            raise RuntimeError(f"Module.type: a parameter that requires grad can't become {dt} (only floating point "
                               "tensors can require gradients)")
        with no_grad():
            for t in tensors:
                if t.dtype != dt:
                    t._data = t._data.astype(dt)
                    t.grad = None
                    t._vbox[0] += 1
        return self

    def cpu(self) -> Module:
        """The module itself: everything is on the CPU already."""
        return self

    def cuda(self, device: Any = None) -> Module:
        """Refused: tinygrad_conv has no CUDA device (``tinygrad_conv.cuda.is_available()`` is False)."""
        from ..device import as_device

        as_device("cuda" if device is None else device if isinstance(device, str) else f"cuda:{device}")
        return self  # pragma: no cover  (as_device raised)

    # ------------------------------------------------------------------ state
    def _state_entries(self) -> dict[str, Tensor]:
        """Every tensor state_dict() holds, by key, as the live objects."""
        out: dict[str, Tensor] = {}
        for prefix, mod in self.named_modules():
            pre = prefix + "." if prefix else ""
            for name, p in mod._parameters.items():
                if p is not None:
                    out[pre + name] = p
            for name, b in mod._buffers.items():
                if b is not None and name not in mod._non_persistent:
                    out[pre + name] = b
        return out

    def state_dict(self, keep_vars: bool = False) -> OrderedDict[str, Tensor]:
        """Parameters and persistent buffers by dotted name. The tensors share memory with the
        model (as PyTorch's do): save them, or ``clone()`` them to keep a snapshot.

        >>> from tinygrad_conv import nn
        >>> list(nn.BatchNorm2d(3).state_dict())
        ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
        """
        return OrderedDict((k, v if keep_vars else v.detach()) for k, v in self._state_entries().items())

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy values from ``state_dict`` into this model's parameters and buffers.

        Everything is checked before anything is copied: a missing or unexpected key (with
        ``strict``), a shape that differs, or a value that is not numeric raises one error listing
        every problem, and the model is left unchanged.

        >>> from tinygrad_conv import nn
        >>> a, b = nn.Linear(2, 2), nn.Linear(2, 2)
        >>> b.load_state_dict(a.state_dict())
        IncompatibleKeys(missing_keys=[], unexpected_keys=[])
        >>> bool((a.weight.data == b.weight.data).all())
        True
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict: expected a mapping of names to tensors, got "
                            f"{type(state_dict).__name__}")
        own = self._state_entries()
        missing = [k for k in own if k not in state_dict]
        unexpected = [str(k) for k in state_dict if k not in own]
        problems: list[str] = []
        arrays: dict[str, np.ndarray] = {}
        for key, target in own.items():
            if key not in state_dict:
                continue
            arr = _as_state_array(state_dict[key])
            if arr is None or arr.dtype.kind not in "biuf":
                what = type(state_dict[key]).__name__ if arr is None else f"an array of {arr.dtype}"
                problems.append(f"value for '{key}' is {what}; expected a numeric Tensor or array")
                continue
            if arr.shape != target.shape:
                problems.append(f"size mismatch for '{key}': the checkpoint has shape {arr.shape}, "
                                f"the model has shape {target.shape}")
                continue
            arrays[key] = arr
        key_problems = []
        if strict and missing:
            key_problems.append("missing key(s): " + ", ".join(f"'{k}'" for k in missing))
        if strict and unexpected:
            key_problems.append("unexpected key(s): " + ", ".join(f"'{k}'" for k in unexpected))
        problems = key_problems + problems
        if problems:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__} (nothing was "
                               "changed):\n  " + "\n  ".join(problems) +
                               ("\nPass strict=False to load the matching keys only (shapes must still "
                                "match)." if key_problems else ""))
        with no_grad():
            for key, arr in arrays.items():
                own[key].copy_(arr)
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        """The text inside this layer's parentheses in ``repr`` (its settings)."""
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        head = f"{type(self).__name__}(" + (f"\n  {extra}" if extra else "")
        return head + "\n" + "\n".join(lines) + "\n)"


def _check_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not name or "." in name:
        raise KeyError(f"{what} name must be a non-empty string without '.', got {name!r}")


def _present(modules: dict[str, Module | None]) -> list[tuple[str, Module]]:
    return [(name, m) for name, m in modules.items() if m is not None]


class Sequential(Module):
    """Modules applied one after another; children are named '0', '1', ...

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv import nn
    >>> model = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    >>> model(tc.ones(2, 4)).shape, len(model), type(model[1]).__name__
    ((2, 3), 2, 'ReLU')
    """

    def __init__(self, *modules: Module | Mapping[str, Module]) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, item in enumerate(modules):
                if not isinstance(item, Module):
                    raise TypeError(f"Sequential: argument {i} is a {type(item).__name__}, not a Module")
                self.add_module(str(i), item)

    def forward(self, input: Any) -> Any:
        for _, m in _present(self._modules):
            input = m(input)
        return input

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter([m for _, m in _present(self._modules)])

    def __getitem__(self, index: int | slice) -> Any:
        items = _present(self._modules)
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        try:
            return items[index][1]
        except IndexError:
            raise IndexError(f"Sequential index {index} is out of range for {len(items)} modules") from None

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self


class ModuleList(Module):
    """A list of modules whose parameters the parent sees; children are named '0', '1', ...

    >>> from tinygrad_conv import nn
    >>> layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    >>> len(list(layers.parameters()))
    6
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _renumber(self, mods: list[Module]) -> None:
        for name in list(self._modules):
            self._forget(name)
            object.__delattr__(self, name)
        for i, m in enumerate(mods):
            self.add_module(str(i), m)

    def append(self, module: Module) -> ModuleList:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList.append: expected a Module, got {type(module).__name__}")
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        mods = [m for _, m in _present(self._modules)]
        mods.insert(index, module)
        self._renumber(mods)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter([m for _, m in _present(self._modules)])

    def __getitem__(self, index: int | slice) -> Any:
        mods = [m for _, m in _present(self._modules)]
        if isinstance(index, slice):
            return ModuleList(mods[index])
        try:
            return mods[index]
        except IndexError:
            raise IndexError(f"ModuleList index {index} is out of range for {len(mods)} modules") from None

    def __setitem__(self, index: int, module: Module) -> None:
        mods = [m for _, m in _present(self._modules)]
        mods[index] = module
        self._renumber(mods)

    def __delitem__(self, index: int | slice) -> None:
        mods = [m for _, m in _present(self._modules)]
        del mods[index]
        self._renumber(mods)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleList has no forward(): iterate over it in your model's forward")


class Identity(Module):
    """Returns its input unchanged (a placeholder layer); any arguments are accepted and ignored,
    as ``torch.nn.Identity`` does, so it can stand in for a layer with the same call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:
        return input

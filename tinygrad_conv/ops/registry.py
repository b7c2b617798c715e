"""The op registry: one entry per public op, read by Tensor, functional, the graph drawer and the checker.

Registering an op (``@register(...)`` over a Function subclass or over a public function that calls
one) makes it:

* a Tensor method (``method=``) and operators (``operators=``),
* a function in :mod:`tinygrad_conv.functional` (``functional=True``),
* a case the op checker runs (``samples=``, and ``reference=`` for PyTorch parity).

>>> import tinygrad_conv as tc
>>> info = tc.ops.registry()["conv2d"]
>>> info.twice_differentiable, info.method
(True, 'conv2d')
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..autograd.function import Function
from ..tensor import Tensor


@dataclass
class Sample:
    """One set of arguments to check an op with.

    ``args`` holds NumPy arrays (float ones become Tensors that require grad; int/bool ones
    constant Tensors) and plain values; ``kwargs`` are passed as they are. ``grad`` says which
    positional array args to differentiate (default: every float array).
    """

    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    name: str = ""
    grad: tuple[int, ...] | None = None
    #: arguments that gradcheck should keep away from kinks (documentation only)
    note: str = ""


SampleFn = Callable[[np.random.Generator, Any], Iterable[Sample]]


@dataclass
class OpInfo:
    """What the registry knows of one op."""

    name: str
    function: Callable[..., Any]
    signature: inspect.Signature
    method: str | None
    functional: bool
    samples: SampleFn | None
    reference: Callable[..., Any] | None
    twice_differentiable: bool
    node_types: tuple[type[Function], ...]
    doc: str
    #: A non-smooth op that gradcheck must see away from its kinks (max, abs, relu...).
    nondifferentiable_points: bool = False
    #: Inputs broadcast against each other (NumPy rules): the checker also runs each same-shape
    #: sample with one input shrunk to a broadcastable shape.
    broadcasts: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        order = "twice-differentiable" if self.twice_differentiable else "first-order only"
        return f"<op {self.name}{self.plain_signature()} {order}>"

    def plain_signature(self) -> str:
        """The signature without type annotations, e.g. ``(input, dim=None, keepdim=False)``."""
        empty = inspect.Parameter.empty
        params = [p.replace(annotation=empty) for p in self.signature.parameters.values()]
        return str(self.signature.replace(parameters=params, return_annotation=empty))


_REGISTRY: dict[str, OpInfo] = {}
_FUNCTIONAL: dict[str, Callable[..., Any]] = {}


def registry() -> dict[str, OpInfo]:
    """Every registered op by name (a copy: change it through ``register``)."""
    return dict(_REGISTRY)


def functional_ops() -> dict[str, Callable[..., Any]]:
    return dict(_FUNCTIONAL)


def make_op_info(obj: Any, name: str | None = None, *, method: str | None | bool = True,
                 functional: bool = True, samples: SampleFn | None = None,
                 reference: Callable[..., Any] | None = None, twice_differentiable: bool | None = None,
                 nodes: Iterable[type[Function]] = (), nondifferentiable_points: bool = False,
                 broadcasts: bool = False) -> OpInfo:
    """The :class:`OpInfo` that ``register`` would store for ``obj``, without storing it.

    ``check_op`` uses it to check an op before (or without) registering it.
    """
    if isinstance(obj, type) and issubclass(obj, Function):
        for part, args in (("forward", "ctx, *inputs"), ("backward", "ctx, *grads")):
            if getattr(obj, part) is getattr(Function, part):
                raise TypeError(f"register: {obj.__name__} does not define {part}({args}); write it "
                                "in the class (a @staticmethod, as in torch.autograd.Function)")
        node_types: tuple[type[Function], ...] = (obj, *nodes)
        op_name = name or obj.name
        fn = obj.apply
        sig = inspect.signature(obj.forward)
        params = list(sig.parameters.values())[1:]  # drop ctx
        sig = sig.replace(parameters=params)
        twice = obj.twice_differentiable if twice_differentiable is None else twice_differentiable
    elif callable(obj):
        node_types = tuple(nodes)
        op_name = name or obj.__name__
        fn = obj
        sig = inspect.signature(obj)
        twice = (all(n.twice_differentiable for n in node_types)
                 if twice_differentiable is None else twice_differentiable)
    else:
        raise TypeError(f"register: expected a Function subclass or a function, got {obj!r}")
    meth = op_name if method is True else (method or None)
    return OpInfo(name=op_name, function=fn, signature=sig, method=meth, functional=functional,
                  samples=samples, reference=reference, twice_differentiable=twice,
                  node_types=node_types, doc=inspect.getdoc(obj) or "",
                  nondifferentiable_points=nondifferentiable_points, broadcasts=broadcasts)


def register(name: str | None = None, *, method: str | None | bool = True, functional: bool = True,
             operators: dict[str, str] | None = None, samples: SampleFn | None = None,
             reference: Callable[..., Any] | None = None, twice_differentiable: bool | None = None,
             nodes: Iterable[type[Function]] = (), nondifferentiable_points: bool = False,
             broadcasts: bool = False, replace: bool = False) -> Callable[[Any], Any]:
    """Register an op: a ``Function`` subclass (its ``apply`` is the entry point) or a function.

    ``operators`` maps dunder names to ``'forward'`` (``self`` first) or ``'reflected'``
    (``self`` second), e.g. ``{"__add__": "forward", "__radd__": "reflected"}``.
    ``reference(torch, *args, **kwargs)`` computes the same thing with PyTorch for parity tests.
    Graph nodes are named after the op: the Function subclass registered, or for a function the
    first of ``nodes``, unless that class sets ``name`` itself.
    """

    def deco(obj: Any) -> Any:
        info = make_op_info(obj, name, method=method, functional=functional, samples=samples,
                            reference=reference, twice_differentiable=twice_differentiable,
                            nodes=nodes, nondifferentiable_points=nondifferentiable_points,
                            broadcasts=broadcasts)
        op_name, fn, meth = info.name, info.function, info.method
        if op_name in _REGISTRY and not replace:
            raise ValueError(f"register: an op named '{op_name}' is already registered; pick another "
                             "name or pass replace=True")
        for attr in [meth, *(operators or {})]:
            if attr and isinstance(Tensor.__dict__.get(attr), (property, types.MemberDescriptorType)):
                raise ValueError(f"register('{op_name}'): Tensor.{attr} is a built-in attribute and "
                                 "cannot become an op method; pass method='another_name' or method=False")
        # The tape names nodes after their Function class: the registered name wins over the
        # class-derived one (for a function, the first of ``nodes`` takes it).
        first = info.node_types[0] if info.node_types else None
        if first is not None and first.__dict__.get("_auto_name"):
            first.name = op_name
            first._auto_name = False
        _REGISTRY[op_name] = info
        if functional:
            _FUNCTIONAL[op_name] = fn
        attached: dict[str, tuple[Any, Any]] = {}
        if meth:
            attached[meth] = (_as_method(fn, meth), Tensor.__dict__.get(meth))
        for dunder, how in (operators or {}).items():
            wrapper = _as_method(fn, dunder) if how == "forward" else _reflected(fn, dunder)
            attached[dunder] = (wrapper, Tensor.__dict__.get(dunder))
        for attr, (wrapper, _) in attached.items():
            setattr(Tensor, attr, wrapper)
        info.extra["attached"] = attached
        return obj

    return deco


def unregister(name: str) -> OpInfo:
    """Remove an op from the registry, ``functional`` and Tensor (restoring what it replaced).

    For experiments and tests; returns the removed entry.
    """
    if name not in _REGISTRY:
        raise KeyError(f"unregister: no op named '{name}' is registered")
    info = _REGISTRY.pop(name)
    if _FUNCTIONAL.get(name) is info.function:
        del _FUNCTIONAL[name]
    for attr, (wrapper, previous) in info.extra.get("attached", {}).items():
        if Tensor.__dict__.get(attr) is wrapper:
            if previous is None:
                delattr(Tensor, attr)
            else:
                setattr(Tensor, attr, previous)
    return info


def _as_method(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    if name.startswith("__") and name != "__neg__":
        # Binary operators are the hottest calls in user code: no *args/**kwargs packing.
        def operator(self: Tensor, other: Any) -> Any:
            return fn(self, other)

        operator.__name__ = name
        return operator

    def method(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        return fn(self, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = fn.__doc__
    return method


def _reflected(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    def method(self: Tensor, other: Any) -> Any:
        return fn(other, self)

    method.__name__ = name
    return method

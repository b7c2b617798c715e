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
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<op {self.name}{self.signature}>"


_REGISTRY: dict[str, OpInfo] = {}
_FUNCTIONAL: dict[str, Callable[..., Any]] = {}


def registry() -> dict[str, OpInfo]:
    """Every registered op by name (a copy: change it through ``register``)."""
    return dict(_REGISTRY)


def functional_ops() -> dict[str, Callable[..., Any]]:
    return dict(_FUNCTIONAL)


def register(name: str | None = None, *, method: str | None | bool = True, functional: bool = True,
             operators: dict[str, str] | None = None, samples: SampleFn | None = None,
             reference: Callable[..., Any] | None = None, twice_differentiable: bool | None = None,
             nodes: Iterable[type[Function]] = (), nondifferentiable_points: bool = False,
             replace: bool = False) -> Callable[[Any], Any]:
    """Register an op: a ``Function`` subclass (its ``apply`` is the entry point) or a function.

    ``operators`` maps dunder names to ``'forward'`` (``self`` first) or ``'reflected'``
    (``self`` second), e.g. ``{"__add__": "forward", "__radd__": "reflected"}``.
    ``reference(torch, *args, **kwargs)`` computes the same thing with PyTorch for parity tests.
    """

    def deco(obj: Any) -> Any:
        if isinstance(obj, type) and issubclass(obj, Function):
            node_types: tuple[type[Function], ...] = (obj, *nodes)
            op_name = name or obj.name
            if obj.__dict__.get("_auto_name"):  # the registered name wins over the class-derived one
                obj.name = op_name
                obj._auto_name = False
            fn = obj.apply
            sig = inspect.signature(obj.forward)
            params = list(sig.parameters.values())[1:]  # drop ctx
            sig = sig.replace(parameters=params)
            doc = inspect.getdoc(obj) or ""
            twice = obj.twice_differentiable if twice_differentiable is None else twice_differentiable
        elif callable(obj):
            node_types = tuple(nodes)
            op_name = name or obj.__name__
            fn = obj
            sig = inspect.signature(obj)
            doc = inspect.getdoc(obj) or ""
            twice = (all(n.twice_differentiable for n in node_types)
                     if twice_differentiable is None else twice_differentiable)
        else:
            raise TypeError(f"register: expected a Function subclass or a function, got {obj!r}")
        if op_name in _REGISTRY and not replace:
            raise ValueError(f"register: an op named '{op_name}' is already registered; pick another "
                             "name or pass replace=True")
        meth = op_name if method is True else (method or None)
        info = OpInfo(op_name, fn, sig, meth, functional, samples, reference, twice, node_types, doc,
                      nondifferentiable_points)
        _REGISTRY[op_name] = info
        if functional:
            _FUNCTIONAL[op_name] = fn
        if meth:
            setattr(Tensor, meth, _as_method(fn, meth))
        for dunder, how in (operators or {}).items():
            setattr(Tensor, dunder, _as_method(fn, dunder) if how == "forward" else _reflected(fn, dunder))
        return obj

    return deco


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

"""The tape: recorded nodes, the sequence counter that orders them, module scopes and anomaly mode.

Every recorded op becomes a :class:`Node`. Nodes point at the nodes (or leaf tensors) that produced
their inputs, never at intermediate tensors, so an intermediate array is freed as soon as nothing
but the tape would hold it, unless an op saved it for backward.
"""

from __future__ import annotations

import itertools
import operator
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .function import Context, Function

# One counter for the whole process: a node recorded later always has a larger number, so
# decreasing sequence numbers are a topological order of any graph (inputs exist before outputs).
_sequence = itertools.count()

# Module scopes and anomaly mode are process-wide (plain globals, read once per recorded op, so
# they must be cheap); grad mode, which changes far more often, is per thread (grad_mode.py).
_scopes: list[str] = [""]
_anomaly_state = {"enabled": False, "check_nan": True}


def current_scope() -> str:
    """The module path ops are being recorded under ('' outside any Module)."""
    return _scopes[-1]


@contextmanager
def scope(name: str) -> Iterator[None]:
    """Record the ops inside this block as belonging to module path ``name`` (used by nn.Module)."""
    _scopes.append(name)
    try:
        yield
    finally:
        _scopes.pop()


def is_anomaly_enabled() -> bool:
    return _anomaly_state["enabled"]


@contextmanager
def detect_anomaly(check_nan: bool = True) -> Iterator[None]:
    """Record where each op was called; a failing or NaN-producing backward rule names it.

    >>> import tinygrad_conv as tc
    >>> with tc.detect_anomaly():
    ...     x = tc.Tensor([0.0], requires_grad=True)
    ...     y = x.sqrt()   # d sqrt(x)/dx is inf at 0
    ...     try:
    ...         y.backward(tc.Tensor([1.0]))
    ...     except RuntimeError as e:
    ...         print(str(e).splitlines()[0])
    anomaly: backward of 'sqrt' (node #...) produced inf in the gradient for input 0
    """
    prev = dict(_anomaly_state)
    _anomaly_state.update(enabled=True, check_nan=check_nan)
    try:
        yield
    finally:
        _anomaly_state.update(prev)


def anomaly_checks_nan() -> bool:
    return _anomaly_state["check_nan"]


is_anomaly_check_nan_enabled = anomaly_checks_nan  # PyTorch's name


class set_detect_anomaly:
    """Turn anomaly mode on or off, as ``torch.autograd.set_detect_anomaly``: at once when called,
    undone when a ``with`` block around it ends."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self._prev = dict(_anomaly_state)
        _anomaly_state.update(enabled=bool(mode), check_nan=bool(check_nan))

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        _anomaly_state.update(self._prev)


# Frames from files under the package's own folder are not the user's (matched by path, so a
# checkout that happens to be named tinygrad_conv keeps its tests and examples in the trace).
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def user_stack() -> list[str]:
    """The call stack at record time, without this package's own frames."""
    frames = traceback.extract_stack()[:-1]
    keep = [f for f in frames if f.filename.startswith("<")  # <stdin>, <string>: the user's
            or not os.path.abspath(f.filename).startswith(_PACKAGE_DIR)]
    return traceback.format_list(keep or frames)


class ConstMeta(tuple):
    """``("const", shape, dtype)``: a constant tensor argument in ``Node.arg_meta``."""

    __slots__ = ()


class Node:
    """One recorded op on the tape.

    ``next`` holds, for each positional argument of the op, where its gradient goes: a
    ``(Node, output_index)`` pair for a non-leaf tensor, the leaf Tensor itself for a leaf that
    requires grad, or None. ``input_meta`` describes the arguments that take no gradient
    (constants and plain Python values) for the graph drawer: ``("const", shape, dtype)`` or
    ``("value", value)``, None for the others.

    The node keeps ``next`` in a shorter form, ``edges``: an output 0 (the commonest, and every
    output of a one-output op) as its Node alone, without the pair. Each pair would be one more
    object per edge for the cyclic GC to traverse for as long as the graph lives; ``next`` builds
    the pairs when asked (the engine reads ``edges``). In the same way the node keeps
    ``input_meta`` as ``arg_meta``: a plain value as it is, without its ``("value", ...)`` tuple
    (a constant's entry is a :class:`ConstMeta`, which tells it apart from a value).
    """

    __slots__ = ("fn", "ctx", "edges", "arg_meta", "params", "seq", "out_meta", "released",
                 "out_hooks", "retained", "scope", "trace", "__weakref__")

    def __init__(self, fn: type[Function], ctx: Context, edges: tuple[Any, ...],
                 arg_meta: tuple[Any, ...], params: dict[str, Any],
                 out_meta: tuple[tuple[tuple[int, ...], Any], ...]) -> None:
        self.fn = fn
        self.ctx = ctx
        self.edges = edges
        self.arg_meta = arg_meta
        self.params = params
        self.seq = next(_sequence)
        self.out_meta = out_meta
        self.released = False
        self.out_hooks: dict[int, list[Any]] | None = None
        self.retained: dict[int, Any] | None = None
        self.scope = _scopes[-1]
        self.trace: list[str] | None = user_stack() if _anomaly_state["enabled"] else None

    @property
    def name(self) -> str:
        """The op's registered name, e.g. 'conv2d'."""
        return self.fn.name

    @property
    def next(self) -> tuple[Any, ...]:
        """Where each positional argument's gradient goes: a ``(Node, output_index)`` pair, a
        leaf Tensor, or None."""
        return tuple([(e, 0) if type(e) is Node else e for e in self.edges])

    @property
    def input_meta(self) -> tuple[Any, ...]:
        """What the graph drawer shows of each positional argument that takes no gradient:
        ``("const", shape, dtype)`` for a constant tensor, ``("value", value)`` for a plain
        value; None for an argument that takes a gradient."""
        return tuple([None if e is not None else m if type(m) is ConstMeta else ("value", m)
                      for e, m in zip(self.edges, self.arg_meta)])

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        """PyTorch-style view of the edges: (Node or leaf Tensor or None, output index)."""
        out = []
        for e in self.edges:
            if isinstance(e, tuple):
                out.append(e)
            else:
                out.append((e, 0))
        return tuple(out)

    def release(self) -> None:
        """Drop everything saved for backward; the structure (names, params, shapes) stays."""
        self.released = True
        self.ctx.release()

    def __repr__(self) -> str:
        return f"<{self.fn.name} node #{self.seq}>"


_by_seq = operator.attrgetter("seq")  # (a C-level sort key: no Python call per node)


def reachable_nodes(roots: list[Node]) -> list[Node]:
    """Every node reachable from ``roots`` through the tape's edges, latest first (decreasing
    sequence number, a topological order). An explicit stack, no recursion."""
    seen: set[int] = set()
    nodes: list[Node] = []
    stack = list(roots)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        nodes.append(node)
        for e in node.edges:
            if type(e) is Node:
                if id(e) not in seen:
                    stack.append(e)
            elif type(e) is tuple and id(e[0]) not in seen:
                stack.append(e[0])
    nodes.sort(key=_by_seq, reverse=True)
    return nodes

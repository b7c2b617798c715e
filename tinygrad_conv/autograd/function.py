"""``Function``: one op's forward and backward side by side, the way both users and built-ins add ops.

A subclass defines ``forward(ctx, *args, **params)`` and ``backward(ctx, *grads)``; ``apply`` runs the
forward and, when grad mode is on and an input requires grad, records a :class:`Node` on the tape.

Two flavours share this one class:

* ``array_forward = False`` (the default, shaped like ``torch.autograd.Function``): ``forward``
  receives Tensors (detached, with grad mode off) and returns Tensors.
* ``array_forward = True`` (the built-in ops): ``forward`` receives the NumPy arrays inside the
  Tensors and returns arrays, which skips wrapping and unwrapping on the hot path.

In both, ``backward`` receives and returns Tensors, written with registered ops, so that with
``create_graph=True`` the gradient is itself on the tape and can be differentiated again.
"""

from __future__ import annotations

import functools
import re
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np

from ..tensor import Tensor
from .grad_mode import _set, is_grad_enabled
from .grad_mode import _state as _grad_state
from .inplace import sync_view
from .tape import ConstMeta, Node
from .tape import _anomaly_state as anomaly

_RELEASED = object()

# Tensor's constructor for op outputs, bound once: looking a classmethod up on the class builds a
# new bound method at every call, and apply calls it for every op.
_make = Tensor._make


class SavedEntry(NamedTuple):
    """One value ``save_for_backward`` kept, resolved right after forward.

    ``kind`` is one of:

    * ``"input"``: a Tensor (usually an input of the op, so a double backward can differentiate
      through it); ``value`` is that Tensor;
    * ``"output"``: an output of this op; ``value`` is ``(array, index)``, rebuilt as a Tensor on
      access, so the node holds no Tensor that points back at it (no reference cycle);
    * ``"constant"``: a NumPy array that is neither; ``"value"``: a plain Python value; ``"none"``.

    ``version_box``/``version``: the tensor's version counter and its value at save time, compared
    on access to catch an in-place change in between (None for the kinds without one).

    The context keeps the entries' fields one after another in one flat tuple, four per entry (a
    NamedTuple instance costs a call to build, and each tuple per entry is one more object for the
    cyclic GC to traverse for as long as the graph lives); ``Context.saved_entries`` gives them as
    this class.
    """

    kind: str
    value: Any
    version_box: list[int] | None = None
    version: int = 0


_Entry = tuple[str, Any, list[int] | None, int]  # a SavedEntry's fields
_NO_ENTRY: _Entry = ("none", None, None, 0)


def _split_entries(flat: tuple[Any, ...]) -> list[_Entry]:
    """The entries of a context's flat ``_saved`` tuple (four fields each), one tuple per entry."""
    return [flat[i:i + 4] for i in range(0, len(flat), 4)]  # type: ignore[misc]


class Context:
    """What ``forward`` passes to ``backward``: saved tensors, input-grad flags, any attributes.

    >>> import tinygrad_conv as tc
    >>> class Square(tc.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x * x
    ...     @staticmethod
    ...     def backward(ctx, grad):
    ...         (x,) = ctx.saved_tensors
    ...         return 2 * x * grad
    >>> x = tc.Tensor([3.0], requires_grad=True)
    >>> Square.apply(x).backward(tc.Tensor([1.0]))
    >>> x.grad.tolist()
    [6.0]
    """

    needs_input_grad: tuple[bool, ...]

    if TYPE_CHECKING:  # forward may store anything on ctx for backward
        def __getattr__(self, name: str) -> Any: ...
        def __setattr__(self, name: str, value: Any) -> None: ...

    # Class-level defaults keep creating a Context (once per op call) cheap.
    _to_save: tuple[Any, ...] = ()
    _saved: Any = ()
    _node: Any = None
    _op = "?"

    _materialize_grads = True
    _dirty: tuple[Any, ...] = ()
    _non_differentiable: tuple[Any, ...] = ()
    _marked = False  # whether either was set: apply then reads one attribute, not two

    def save_for_backward(self, *items: Any) -> None:
        """Keep tensors (or arrays, in array ops) for backward; checked for in-place changes."""
        self._to_save = items

    def mark_non_differentiable(self, *outputs: Any) -> None:
        """Say which outputs take no gradient (indices, masks): they come back not requiring grad,
        and backward receives zeros for them, as in PyTorch."""
        self._non_differentiable = self._non_differentiable + outputs
        self._marked = True

    def mark_dirty(self, *tensors: Any) -> None:
        """Say which inputs forward changed in place (and returns as outputs): those input tensors
        then take this op as their history, as PyTorch's in-place ops do."""
        self._dirty = self._dirty + tensors
        self._marked = True

    def set_materialize_grads(self, value: bool) -> None:
        """With False, backward receives None (not zeros) for outputs that got no gradient."""
        self._materialize_grads = bool(value)

    def saved_entries(self) -> tuple[SavedEntry, ...]:
        """What forward saved, as :class:`SavedEntry` records, without the version check (for
        the graph drawer); empty after backward freed them."""
        if self._saved is _RELEASED:
            return ()
        return tuple([SavedEntry._make(e) for e in _split_entries(self._saved)])

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        if self._saved is _RELEASED:
            raise RuntimeError(
                f"Trying to backward through the graph a second time (op '{self._op}'): its saved "
                "arrays were freed after the first backward. Pass retain_graph=True to the first "
                ".backward() or grad() call if you need to backward through it again.")
        saved = self._saved  # (kind, value, version box, version) of each entry, one after another
        out = []
        i, n = 0, len(saved)
        while i < n:  # (fewer steps than a for loop over range(0, n, 4))
            # The most common entries, an unchanged input, a Python value and nothing (None), are
            # read inline (the value field of "none" is None).
            kind = saved[i]
            if (kind == "input" and saved[i + 2][0] == saved[i + 3]) or kind == "value" or kind == "none":
                out.append(saved[i + 1])
            else:
                out.append(self._unpack(saved[i:i + 4]))  # type: ignore[arg-type]
            i += 4
        return tuple(out)

    def _unpack(self, entry: _Entry) -> Any:
        kind, value, box, version = entry
        if box is not None and box[0] != version:
            shape = value.shape if kind == "input" else value[0].shape
            raise RuntimeError(
                f"one of the tensors needed for gradient computation has been modified by an "
                f"in-place operation: a tensor of shape {tuple(shape)} saved by op '{self._op}' "
                f"is at version {box[0]}; expected version {version}. Do the in-place change "
                "after backward, or change a copy (.clone()) instead.")
        if kind == "output":
            node = self._node() if self._node is not None else None
            return Tensor._make(value[0], node is not None, node, value[1], box)
        if kind == "constant":
            return Tensor._wrap(value)
        return value  # "input": the Tensor; "value": the Python value; "none": None

    def release(self) -> None:
        """Free the saved values and any attributes backward stored (called after backward)."""
        # Everything forward and backward stored on ctx goes; the op's name stays for the error
        # a second backward raises. (One new dict: cheaper than clearing and refilling the old.)
        self.__dict__ = {"_saved": _RELEASED, "_op": self._op}


def once_differentiable(backward: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a ``backward`` that is not itself differentiable (it may use NumPy freely).

    It runs with grad mode off; when a double backward is being recorded, its gradients get a node
    that raises if anything differentiates through it, as PyTorch's ``once_differentiable`` does
    (instead of a silently wrong second derivative).

    >>> import tinygrad_conv as tc
    >>> class Cube(tc.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x ** 3
    ...     @staticmethod
    ...     @tc.autograd.once_differentiable
    ...     def backward(ctx, g):
    ...         (x,) = ctx.saved_tensors
    ...         return tc.Tensor(3 * x.detach().numpy() ** 2) * g
    >>> x = tc.Tensor([2.0], requires_grad=True)
    >>> (g,) = tc.grad(Cube.apply(x).sum(), x, create_graph=True)
    >>> g.tolist()
    [12.0]
    >>> tc.grad(g.sum(), x)
    Traceback (most recent call last):
    RuntimeError: trying to differentiate twice a function that was marked with @once_differentiable ...
    """

    @functools.wraps(backward)
    def wrapper(ctx: Context, *grads: Any) -> Any:
        recording = is_grad_enabled()
        _set(False)
        try:
            result = backward(ctx, *grads)
        finally:
            _set(recording)
        if not recording:
            return result
        # What the gradients depend on: the incoming gradients and what forward saved.
        deps = [g for g in grads if isinstance(g, Tensor) and g._requires_grad]
        if ctx._saved is not _RELEASED:
            deps += [e[1] for e in _split_entries(ctx._saved) if e[0] == "input" and e[1]._requires_grad]
        if not deps:
            return result
        single = not isinstance(result, (tuple, list))
        wrapped = tuple(_DelayedError.apply(g, *deps, op=ctx._op) if isinstance(g, Tensor) else g
                        for g in ((result,) if single else result))
        return wrapped[0] if single else wrapped

    return wrapper


class Function:
    """Base class of every op. Subclass it, write ``forward`` and ``backward``, call ``apply``.

    ``backward`` returns one gradient (a Tensor or None) per positional argument of ``apply``.
    A gradient that is broadcastable to the input's shape is summed down to it by the engine.
    """

    name: ClassVar[str] = ""
    array_forward: ClassVar[bool] = False
    #: The op follows NumPy type promotion across inputs of different float dtypes, so the gradient
    #: of a lower-precision input is cast back to its dtype (only built-in binary ops say so).
    promotes_dtypes: ClassVar[bool] = False
    #: Outputs of view ops may share memory with their first input, and so share its version.
    view_op: ClassVar[bool] = False
    #: Whether backward is itself made of differentiable ops (read by the checker and registry).
    twice_differentiable: ClassVar[bool] = True
    _auto_name: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.twice_differentiable and "backward" in cls.__dict__:
            # A first-order-only rule: a double backward through it must raise, not answer wrongly.
            cls.backward = staticmethod(  # type: ignore[method-assign]
                once_differentiable(cls.__dict__["backward"].__func__))
        if not cls.__dict__.get("name"):
            # Default op name: the class name in snake_case (LogSoftmax -> log_softmax).
            cls.name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", cls.__name__.lstrip("_")).lower()
            cls._auto_name = True  # register() may still give it the op's public name

    @staticmethod
    def forward(ctx: Context, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define forward(ctx, *args)")

    @staticmethod
    def backward(ctx: Context, *grads: Any) -> Any:
        raise NotImplementedError("a Function subclass must define backward(ctx, *grads)")

    @staticmethod
    def setup_context(ctx: Context, inputs: tuple[Any, ...], output: Any) -> None:
        """Override to use PyTorch's newer style: ``forward(*args)`` without ctx, and this saves
        what backward needs (``inputs`` are the arguments of apply, ``output`` what forward
        returned)."""
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run the op on ``args`` (Tensors and plain values) and record it when needed.

        1. read the inputs: their arrays, and which of them need a gradient;
        2. run forward (on the arrays, or on detached Tensors);
        3. when nothing needs a gradient, wrap the outputs and return;
        4. else record a Node (where each input's gradient goes), hang the outputs off it, and
           resolve what forward saved into SavedEntry records.
        """
        # This is the hot path of every op (a few microseconds matter): one pass over the inputs,
        # forward called directly for array ops, and one output wrapped without a loop.
        ctx = Context()
        ctx._op = cls.name
        recording = _grad_state.enabled
        if not recording and cls.array_forward and not cls.view_op and not anomaly["enabled"]:
            # Nothing is recorded (inference, or a backward rule without create_graph): the arrays
            # go to forward and its outputs come back wrapped; no edges, no node, nothing saved.
            # (_read_inputs and the code below would give the same, with more steps.)
            ctx.needs_input_grad = (False,) * len(args)
            datas = []
            for a in args:
                datas.append(a._data if isinstance(a, Tensor) else a)
            raw = cls.forward(ctx, *datas, **kwargs)
            if type(raw) is np.ndarray:
                return _make(raw, False, None, 0, None)
            _, arrays, multi = _as_arrays(raw)
            if multi:
                return tuple([Tensor._make(a, False, None, 0, None) for a in arrays])
            return Tensor._make(arrays[0], False, None, 0, None)
        datas, edges = _read_inputs(ctx, args, recording)
        if cls.array_forward and not anomaly["enabled"]:
            # (without keyword arguments, no **kwargs in the call: it would copy the empty dict)
            raw = cls.forward(ctx, *datas, **kwargs) if kwargs else cls.forward(ctx, *datas)
            if type(raw) is np.ndarray:
                outs = arrays = (raw,)
                multi = False
            else:
                outs, arrays, multi = _as_arrays(raw)
        else:
            outs, arrays, multi = cls._run_forward(ctx, args, datas, kwargs)
        vbox = None
        if cls.view_op and isinstance(args[0], Tensor) and np.may_share_memory(arrays[0], args[0]._data):
            vbox = args[0]._vbox  # a view shares its input's memory, so its version counter too
        if edges is None:  # nothing to record
            if multi:
                return tuple([Tensor._make(a, False, None, 0, vbox) for a in arrays])
            out = Tensor._make(arrays[0], False, None, 0, vbox)
            if vbox is not None:
                _link_view(out, args, kwargs, cls)
            return out

        if multi:
            node = Node(cls, ctx, edges[0], edges[1], kwargs, tuple([(a.shape, a.dtype) for a in arrays]))
            results = _outputs_of(node, arrays, vbox)
        else:  # one output, without the loops
            out_array = arrays[0]
            # _out_meta_of(out_array), inline: the previous op's tuple while shape and dtype repeat
            out_meta = _last_out_meta
            dtype = out_array.dtype
            if out_meta[0][1] is not dtype or out_meta[0][0] != out_array.shape:
                out_meta = _out_meta_of(out_array)
            node = Node(cls, ctx, edges[0], edges[1], kwargs, out_meta)
            results = (_make(out_array, True, node, 0, vbox) if dtype.kind in "fc"
                       else Tensor._wrap(out_array),)
        if vbox is not None:
            _link_view(results[0], args, kwargs, cls)
        if ctx._marked:  # mark_non_differentiable or mark_dirty was called
            results = _apply_marks(ctx, args, outs, results)
        if ctx._to_save:
            saved: list[Any] = []  # the entries' four fields one after another (see SavedEntry)
            for item in ctx._to_save:  # (a loop: a comprehension costs a function call in Python 3.11)
                # The two commonest entries, an input's array and a Python scalar operand, are
                # resolved here without the call (_resolve_one would give the same record).
                entry: _Entry | None = None
                if type(item) is np.ndarray:
                    for a, data in zip(args, datas):
                        if data is item and isinstance(a, Tensor):
                            box = a._vbox
                            entry = ("input", a, box, box[0])
                            break
                elif type(item) is float or type(item) is int:
                    entry = ("value", item, None, 0)
                elif item is None:
                    entry = _NO_ENTRY
                if entry is None:
                    entry = _resolve_one(item, args, datas, outs, arrays, results)
                    if entry[0] == "output":  # rebuilt on access with this node as its grad_fn
                        ctx._node = weakref.ref(node)
                saved += entry
            ctx._saved = tuple(saved)
            ctx._to_save = ()
        return results if multi else results[0]

    @classmethod
    def _run_forward(cls, ctx: Context, args: tuple[Any, ...], datas: Sequence[Any],
                     kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], tuple[Any, ...], bool]:
        """Forward's outputs as given, as arrays, and whether there are several (a tuple)."""
        if not cls.array_forward:
            return cls._tensor_forward(ctx, args, kwargs)
        if anomaly["enabled"]:  # anomaly mode also checks that forward left its inputs alone
            copies = [d.copy() if isinstance(a, Tensor) else None for a, d in zip(args, datas)]
            raw = cls.forward(ctx, *datas, **kwargs)
            _check_inputs_unchanged(cls, args, None, copies)
        else:
            raw = cls.forward(ctx, *datas, **kwargs)
        return _as_arrays(raw)

    @classmethod
    def _tensor_forward(cls, ctx: Context, args: tuple[Any, ...],
                        kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], tuple[Any, ...], bool]:
        """PyTorch-style forward: detached Tensors in, Tensors out, grad mode off meanwhile."""
        prev = is_grad_enabled()
        # An in-place change of an input bumps its version (detach() shares it): always checked.
        versions = [a._vbox[0] if isinstance(a, Tensor) else None for a in args]
        copies = [a._data.copy() if isinstance(a, Tensor) else None for a in args] \
            if anomaly["enabled"] else None
        detached = [a.detach() if isinstance(a, Tensor) else a for a in args]
        _set(False)
        try:
            if cls.setup_context is not Function.setup_context:
                # The newer style: forward(*args) without ctx, then setup_context(ctx, inputs, output).
                raw = cls.forward(*detached, **kwargs)  # type: ignore[arg-type]
                cls.setup_context(ctx, tuple(detached), raw)
            else:
                raw = cls.forward(ctx, *detached, **kwargs)
        finally:
            _set(prev)
        dirty = {id(d) for d in ctx._dirty}
        _check_inputs_unchanged(cls, args, [None if id(d) in dirty else v for d, v in zip(detached, versions)],
                                copies)
        multi = type(raw) is tuple
        outs = raw if multi else (raw,)
        for o in outs:
            if not isinstance(o, Tensor):
                raise TypeError(
                    f"{cls.name}.forward must return a Tensor or a tuple of Tensors, got "
                    f"{type(o).__name__}. Wrap arrays with Tensor(...), or set "
                    "array_forward = True to write forward on NumPy arrays.")
        return outs, tuple([o._data for o in outs]), multi


class _DelayedError(Function):
    """Passes a gradient through; differentiating through it raises (see once_differentiable)."""

    name = "delayed_error"
    array_forward = True

    @staticmethod
    def forward(ctx: Context, g: Any, *deps: Any, op: str = "?") -> Any:
        ctx.op = op
        return g

    @staticmethod
    def backward(ctx: Context, *grads: Any) -> Any:
        raise RuntimeError(
            "trying to differentiate twice a function that was marked with @once_differentiable "
            f"(op '{ctx.op}', whose backward is first-order only). Compute the second derivative "
            "another way, or write that backward with differentiable Tensor ops.")


def _as_arrays(raw: Any) -> tuple[tuple[Any, ...], tuple[Any, ...], bool]:
    """An array forward's result: its outputs as given, as arrays, and whether there are several."""
    if type(raw) is np.ndarray:
        return (raw,), (raw,), False
    multi = type(raw) is tuple
    outs = raw if multi else (raw,)
    # NumPy returns 0-d results as scalars: keep every output an ndarray.
    return outs, tuple([o if type(o) is np.ndarray else np.asarray(o) for o in outs]), multi


_Edges = tuple[tuple[Any, ...], tuple[Any, ...]]  # (where each input's gradient goes, graph-drawer metadata)


def _read_inputs(ctx: Context, args: tuple[Any, ...], recording: bool) -> tuple[list[Any], _Edges | None]:
    """The arrays inside the Tensor arguments (other arguments as they are), and when the op is to
    be recorded, its edges; sets ``ctx.needs_input_grad``.

    The edges are, for each positional argument, where its gradient goes (a node for its output
    0, else a ``(node, output index)`` pair, a leaf Tensor, or None: see ``Node.edges``), and for
    those that take none, what the graph drawer shows. None when nothing needs a gradient (or grad
    mode, ``recording``, is off): no node is recorded.
    """
    if not recording:  # inference, or a backward without create_graph
        ctx.needs_input_grad = (False,) * len(args)
        plain = []
        for a in args:
            plain.append(a._data if isinstance(a, Tensor) else a)
        return plain, None
    # One list per column, appended to in order: fewer steps per argument than building a row
    # tuple for each and transposing them (this runs for every recorded op).
    datas: list[Any] = []  # what forward gets: an array per Tensor argument, other arguments as they are
    nxt: list[Any] = []  # where each argument's gradient goes
    meta: list[Any] = []  # for the graph drawer, the arguments that take no gradient (see Node.arg_meta)
    needs: list[bool] = []
    for a in args:
        if isinstance(a, Tensor):
            if a._view is not None and a._view[2] != a._vbox[0]:
                sync_view(a)  # its base changed in place since: take the base's new history
            data = a._data
            if datas and _shares_an_earlier_array(a, args[:len(datas)]):
                # Two Tensors on one array (x * x.detach()): forward gets a view of its own for
                # this one, so that what it saves resolves to the right Tensor (saved arrays
                # are matched by identity) and a detached operand stays a constant.
                data = data.view()
            datas.append(data)
            if a._requires_grad:
                fn = a._grad_fn
                # (an output 0 as its node alone: see Node.edges)
                nxt.append(a if fn is None else fn if a._out_idx == 0 else (fn, a._out_idx))
                meta.append(None)
                needs.append(True)
            else:
                nxt.append(None)
                meta.append(ConstMeta(("const", data.shape, data.dtype)))
                needs.append(False)
        else:
            datas.append(a)
            nxt.append(None)
            meta.append(a)  # (a value as it is: see Node.arg_meta)
            needs.append(False)
    ctx.needs_input_grad = needs_t = tuple(needs)
    if True not in needs_t:
        return datas, None
    return datas, (tuple(nxt), tuple(meta))


def _shares_an_earlier_array(a: Tensor, earlier_args: tuple[Any, ...]) -> bool:
    """Whether another Tensor among ``earlier_args`` holds the very same array as ``a``."""
    data = a._data
    for earlier in earlier_args:
        if isinstance(earlier, Tensor) and earlier._data is data and earlier is not a:
            return True
    return False


_OutMeta = tuple[tuple[tuple[int, ...], np.dtype], ...]

# The out_meta of the last one-output op recorded, reused while the next ones give the same shape and
# dtype (a chain of elementwise ops, the layers of one batch): their nodes then share one tuple
# instead of each keeping three new ones that the cyclic GC traverses for as long as the graph
# lives. Tuples are immutable, so sharing one is safe; reading or replacing the global is atomic.
_last_out_meta: _OutMeta = (((), np.dtype(np.float64)),)


def _out_meta_of(array: np.ndarray) -> _OutMeta:
    """``((array.shape, array.dtype),)``, the out_meta of a one-output node."""
    global _last_out_meta
    last = _last_out_meta
    shape, dtype = array.shape, array.dtype
    if last[0][1] is dtype and last[0][0] == shape:
        return last
    last = _last_out_meta = ((shape, dtype),)
    return last


def _outputs_of(node: Node, arrays: tuple[Any, ...], vbox: list[int] | None) -> tuple[Tensor, ...]:
    """The output Tensors of a recorded op; integer outputs (max's indices) take no gradient and
    hang off no node."""
    return tuple([Tensor._make(a, True, node, i, vbox) if a.dtype.kind in "fc" else Tensor._wrap(a)
                  for i, a in enumerate(arrays)])


def _apply_marks(ctx: Context, args: tuple[Any, ...], outs: tuple[Any, ...],
                 results: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """What ``mark_non_differentiable`` and ``mark_dirty`` said, applied to the recorded outputs."""
    from .inplace import take_history

    final = list(results)
    for i, o in enumerate(outs):
        if any(o is n for n in ctx._non_differentiable):
            final[i] = Tensor._wrap(results[i]._data)
            continue
        if not any(o is d for d in ctx._dirty):
            continue
        # An input changed in place and returned: that input tensor itself takes this op as its
        # history (and is what the caller gets back), as in PyTorch.
        for a in args:
            if isinstance(a, Tensor) and a._data is o._data:
                if a._grad_fn is None and a._requires_grad and a._view is None:
                    raise RuntimeError(f"{ctx._op}: a leaf Variable that requires grad is being used in an "
                                       "in-place operation (an input marked dirty). Pass a copy (x.clone()).")
                take_history(a, results[i])
                final[i] = a
                break
        else:
            raise RuntimeError(f"{ctx._op}: an output marked dirty with ctx.mark_dirty must be one of the "
                               "inputs, changed in place and returned as it is")
    return tuple(final)


def _link_view(out: Tensor, args: tuple[Any, ...], kwargs: dict[str, Any], cls: type[Function]) -> None:
    """Remember how the view ``out`` derives from its base (the first tensor that owns its memory),
    so that an in-place change through it can rebase the base (see inplace.py)."""
    src = args[0]
    step = (cls, args[1:], kwargs)
    if src._view is not None:
        base, chain = src._view[0], src._view[1] + (step,)
    else:
        base, chain = src, (step,)
    out._view = (base, chain, out._vbox[0], is_grad_enabled())


def _check_inputs_unchanged(cls: type[Function], args: tuple[Any, ...], versions: list[Any] | None,
                            copies: list[Any] | None) -> None:
    """Raise when forward changed an input: by its version counter, or against a copy."""
    for i, a in enumerate(args):
        if not isinstance(a, Tensor):
            continue
        # (a None version: an input forward declared changed with ctx.mark_dirty)
        changed = versions is not None and versions[i] is not None and a._vbox[0] != versions[i]
        if not changed and copies is not None:
            before = copies[i]
            changed = a._data.shape != before.shape or not np.array_equal(a._data, before, equal_nan=True)
        if changed:
            fix = ("write the result into a new array (y = x * 2, not x *= 2 or np.multiply(x, 2, "
                   "out=x)), or copy the input first with x = x.copy()" if cls.array_forward else
                   "build a new tensor (y = x * 2, not x *= 2 or x.mul_(2)), or change a copy "
                   "made with x = x.clone()")
            raise RuntimeError(f"{cls.name}.forward changed its input {i} (shape {a.shape}) in "
                               f"place; forward must leave its inputs as they are: {fix}")


def _resolve_one(item: Any, args: tuple[Any, ...], datas: Sequence[Any], raw: tuple[Any, ...],
                 arrays: tuple[Any, ...], results: tuple[Tensor, ...]) -> _Entry:
    """What ``save_for_backward`` was given, as the fields of a :class:`SavedEntry` (a plain tuple),
    resolved while the op's inputs and outputs are at hand."""
    if item is None:
        return _NO_ENTRY
    if type(item) is float or type(item) is int:  # a Python scalar operand: kept as it is
        return ("value", item, None, 0)
    # Most often an input: kept as its Tensor, so a double backward can differentiate through it.
    # (A Tensor forward saves the detached input it was given: same array, so the same input.)
    # (``datas`` are what forward was given: an argument's array, or a view of its own, above.)
    for a, data in zip(args, datas):
        if isinstance(a, Tensor) and (data is item or a is item
                                      or (type(item) is Tensor and item._data is a._data)):
            return ("input", a, a._vbox, a._vbox[0])
    # An output of this op is kept as its array, not its Tensor (which points at this node).
    # (NumPy returns 0-d results as scalars, which apply wrapped: match the raw object too.)
    for i in range(len(arrays)):
        if item is arrays[i] or item is results[i] or item is raw[i]:
            box = results[i]._vbox
            return ("output", (arrays[i], i), box, box[0])
    if isinstance(item, Tensor):
        return ("input", item, item._vbox, item._vbox[0])
    # Plain Python values (a scalar operand) come back as they are; arrays as constants.
    return ("constant" if isinstance(item, np.ndarray) else "value", item, None, 0)

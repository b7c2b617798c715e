"""``Tensor``: a NumPy array plus what autograd needs (requires_grad, grad, the node that made it).

Differentiable methods and operators (``+``, ``@``, ``conv2d`` ...) are not written here: each op
registers itself in :mod:`tinygrad_conv.ops.registry`, which attaches it to this class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .dtypes import get_default_dtype

if TYPE_CHECKING:
    from .autograd.tape import Node


def _as_array(data: Any, dtype: Any) -> np.ndarray:
    """NumPy dtypes are kept; Python floats (and lists of them) get the default dtype (float32
    unless ``set_default_dtype`` changed it), as in PyTorch."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (np.ndarray, np.generic)):
        arr = np.asarray(data, dtype=dtype)
    else:
        try:
            arr = np.asarray(data, dtype=dtype)
        except (TypeError, ValueError):
            # Lists holding Tensors (torch.tensor([t0, t1]) works), or ragged lists: say which.
            arr = np.asarray(_unwrap_nested(data), dtype=dtype) if _is_regular(data) else _ragged(data)
        if dtype is None and arr.dtype == np.float64:
            default = get_default_dtype()
            if default != np.float64:
                arr = arr.astype(default)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"Tensor: unsupported data type {arr.dtype} (from {type(data).__name__}); "
                        "use numbers, nested lists or a numeric NumPy array")
    return arr


def _unwrap_nested(data: Any) -> Any:
    if isinstance(data, Tensor):
        return data.data
    if isinstance(data, (list, tuple)):
        return [_unwrap_nested(x) for x in data]
    return data


def _shape_of(data: Any) -> tuple[int, ...] | None:
    """The shape nested lists (and Tensors inside them) describe, or None when they are ragged."""
    if isinstance(data, Tensor):
        return data.shape
    if not isinstance(data, (list, tuple)):
        return np.shape(data)
    shapes = {_shape_of(x) for x in data}
    if len(shapes) > 1:
        return None
    inner = shapes.pop() if shapes else ()
    return None if inner is None else (len(data), *inner)


def _is_regular(data: Any) -> bool:
    return _shape_of(data) is not None


def _ragged(data: Any) -> np.ndarray:
    lengths = [len(x) if isinstance(x, (list, tuple, Tensor, np.ndarray)) else "a number" for x in data]
    raise ValueError(f"Tensor: the nested lists are ragged: the items of one list must all be numbers or all "
                     f"have one shape, got lengths {lengths} (PyTorch: 'expected sequence of length ...')")


class RemovableHandle:
    """What ``register_hook`` returns; ``remove()`` unregisters the hook."""

    def __init__(self, hooks: list[Any], fn: Any) -> None:
        self._hooks, self._fn = hooks, fn

    def remove(self) -> None:
        if self._fn in self._hooks:
            self._hooks.remove(self._fn)


class Tensor:
    """An n-dimensional array that can record the ops applied to it and differentiate them.

    >>> import tinygrad_conv as tc
    >>> x = tc.Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    tensor([[2., 4.],
            [6., 8.]])
    """

    __slots__ = ("data", "_requires_grad", "grad", "_grad_fn", "_out_idx", "_vbox", "_hooks",
                 "name", "_view", "__weakref__")
    # NumPy defers to our reflected operators (ndarray * Tensor -> Tensor.__rmul__).
    __array_ufunc__ = None

    data: np.ndarray
    grad: Tensor | None

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data = _as_array(data, dtype)
        self._requires_grad = False
        self.grad = None
        self._grad_fn: Node | None = None
        self._out_idx = 0
        self._vbox = [0]
        self._hooks: list[Callable[[Tensor], Any]] | None = None
        self.name: str | None = None
        # For a view: (base, the view ops from the base, the version last synced, whether it follows
        # the base's history); see autograd/inplace.py.
        self._view: tuple[Tensor, tuple[Any, ...], int, bool] | None = None
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, data: np.ndarray) -> Tensor:
        """An array as a Tensor outside the graph (no grad, no history, a version of its own);
        no conversion, no checks: for results the library made itself."""
        t = object.__new__(cls)
        t.data, t._requires_grad, t.grad, t._grad_fn, t._out_idx = data, False, None, None, 0
        t._vbox, t._hooks, t.name, t._view = [0], None, None, None
        return t

    @classmethod
    def _make(cls, data: np.ndarray, requires_grad: bool, grad_fn: Node | None, out_idx: int,
              vbox: list[int] | None) -> Tensor:
        """Fast internal constructor for op outputs: no conversion, no checks."""
        t = object.__new__(cls)
        t.data = data
        t._requires_grad = requires_grad
        t.grad = None
        t._grad_fn = grad_fn
        t._out_idx = out_idx
        t._vbox = vbox if vbox is not None else [0]
        t._hooks = None
        t.name = None
        t._view = None
        return t

    # ----------------------------------------------------------------- array attributes
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def dim(self) -> int:
        return self.data.ndim

    def size(self, dim: int | None = None) -> Any:
        """The shape (as ``torch.Tensor.size``), or one dimension of it."""
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self) -> int:
        return int(self.data.size)

    def numpy(self) -> np.ndarray:
        """The array itself (shared, not copied). Refused while the tensor requires grad."""
        if self._requires_grad:
            raise RuntimeError("Can't call numpy() on a Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        return self.data

    def item(self) -> Any:
        if self.data.size != 1:
            raise ValueError(f"item(): only a one-element tensor can be converted to a Python "
                             f"scalar, this one has shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(f"Boolean value of a tensor with {self.data.size} elements is "
                               "ambiguous; use .any() or .all()")
        return bool(self.data)

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = []
        if self.data.dtype not in (np.float32, np.int64, np.bool_):
            extra.append(f"dtype={self.data.dtype}")
        if self._grad_fn is not None:
            extra.append(f"grad_fn=<{self._grad_fn.name}>")
        elif self._requires_grad:
            extra.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extra) + ")"

    # ----------------------------------------------------------------- autograd attributes
    @property
    def requires_grad(self) -> bool:
        self._sync()
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Mark a leaf as needing a gradient (float tensors only)."""
        if requires_grad and self.data.dtype.kind not in "fc":
            raise RuntimeError(f"only floating point tensors can require gradients; this one is "
                               f"{self.data.dtype}. Convert first, e.g. x.float().requires_grad_()")
        if not requires_grad and self._grad_fn is not None:
            raise RuntimeError("requires_grad can only be turned off on a leaf; use .detach() to get "
                               "a tensor outside the graph")
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        """True when no recorded op made this tensor (it was made by the user)."""
        self._sync()
        return self._grad_fn is None

    @property
    def grad_fn(self) -> Node | None:
        """The tape node that produced this tensor (op name, inputs, params), or None for leaves."""
        self._sync()
        return self._grad_fn

    def _sync(self) -> None:
        """A view whose base changed in place since it last looked takes the base's new history."""
        if self._view is not None and self._view[2] != self._vbox[0]:
            from .autograd.inplace import sync_view

            sync_view(self)

    @property
    def _base(self) -> Tensor | None:
        """The tensor whose memory this view shares (None when this tensor is not a view)."""
        return None if self._view is None else self._view[0]

    def _is_view(self) -> bool:
        return self._view is not None

    def detach(self) -> Tensor:
        """The same data outside the graph (shared memory and version counter, as in PyTorch)."""
        return Tensor._make(self.data, False, None, 0, self._vbox)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward (leaves always keep it)."""
        node = self._grad_fn
        if node is None:
            return
        if node.retained is None:
            node.retained = {}
        import weakref

        node.retained[self._out_idx] = weakref.ref(self)

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned Tensor replaces it."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        node = self._grad_fn
        if node is None:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        else:
            if node.out_hooks is None:
                node.out_hooks = {}
            hooks = node.out_hooks.setdefault(self._out_idx, [])
        hooks.append(hook)
        return RemovableHandle(hooks, hook)

    @property
    def _version(self) -> int:
        """Bumped by every in-place change; backward compares it with what was saved."""
        return self._vbox[0]

    def backward(self, gradient: Tensor | None = None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs: Tensor | Sequence[Tensor] | None = None) -> None:
        """Accumulate d(self)/d(leaf) into each leaf's ``.grad`` (only ``inputs``' when given),
        walking the tape in reverse."""
        from .autograd.engine import backward

        backward([self], [gradient], retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)

    # ----------------------------------------------------------------- comparisons (no gradient)
    def _cmp(self, other: Any, fn: Callable[[Any, Any], Any]) -> Tensor:
        o = other.data if isinstance(other, Tensor) else other
        return Tensor._wrap(np.asarray(fn(self.data, o)))

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._cmp(other, np.equal)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._cmp(other, np.not_equal)

    def __lt__(self, other: Any) -> Tensor:
        return self._cmp(other, np.less)

    def __le__(self, other: Any) -> Tensor:
        return self._cmp(other, np.less_equal)

    def __gt__(self, other: Any) -> Tensor:
        return self._cmp(other, np.greater)

    def __ge__(self, other: Any) -> Tensor:
        return self._cmp(other, np.greater_equal)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        idx = np.argmax(self.data, axis=dim, keepdims=keepdim if dim is not None else False)
        return Tensor._wrap(np.asarray(idx, dtype=np.int64))

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        idx = np.argmin(self.data, axis=dim, keepdims=keepdim if dim is not None else False)
        return Tensor._wrap(np.asarray(idx, dtype=np.int64))

    def any(self) -> bool:
        return bool(self.data.any())

    def all(self) -> bool:
        return bool(self.data.all())

    # ----------------------------------------------------------------- in-place changes
    # Every in-place method goes through autograd.inplace.modify_in_place: compute the new value
    # out of place, write it into this tensor's memory, and (when recorded) take over its history.
    def _inplace(self, what: str, compute: Callable[[Tensor], Any], others: tuple[Any, ...] = (),
                 casting: str = "same_kind", direct: Callable[[np.ndarray], None] | None = None) -> Tensor:
        from .autograd.inplace import modify_in_place

        return modify_in_place(self, what, compute, others, casting, direct)

    def _arith_(self, what: str, other: Any, op: Callable[[Tensor, Any], Tensor], ufunc: Any) -> Tensor:
        """``self op= other`` for the four arithmetic operators."""
        raw = other.data if isinstance(other, Tensor) else other

        def direct(a: np.ndarray) -> None:
            try:
                ufunc(a, raw, out=a, casting="same_kind")
            except TypeError:  # NumPy's casting error: say it as PyTorch does
                raise RuntimeError(f"{what}: result type {np.result_type(a, raw)} can't be cast to the "
                                   f"desired output type {a.dtype}") from None
            except ValueError:
                raise RuntimeError(f"{what}: output with shape {list(a.shape)} doesn't match the "
                                   f"broadcast shape {list(np.broadcast_shapes(a.shape, np.shape(raw)))}"
                                   ) from None

        return self._inplace(what, lambda old: op(old, other), (other,), direct=direct)

    def __iadd__(self, other: Any) -> Tensor:
        return self._arith_("+=", other, lambda a, b: a + b, np.add)

    def __isub__(self, other: Any) -> Tensor:
        return self._arith_("-=", other, lambda a, b: a - b, np.subtract)

    def __imul__(self, other: Any) -> Tensor:
        return self._arith_("*=", other, lambda a, b: a * b, np.multiply)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._arith_("/=", other, lambda a, b: a / b, np.divide)

    def add_(self, other: Any, alpha: float = 1) -> Tensor:
        """In-place ``self += alpha * other``, as ``torch.Tensor.add_``."""
        return self._arith_("add_", other if alpha == 1 else other * alpha, lambda a, b: a + b, np.add)

    def sub_(self, other: Any, alpha: float = 1) -> Tensor:
        """In-place ``self -= alpha * other``, as ``torch.Tensor.sub_``."""
        return self._arith_("sub_", other if alpha == 1 else other * alpha, lambda a, b: a - b, np.subtract)

    def mul_(self, other: Any) -> Tensor:
        return self._arith_("mul_", other, lambda a, b: a * b, np.multiply)

    def div_(self, other: Any) -> Tensor:
        return self._arith_("div_", other, lambda a, b: a / b, np.divide)

    def copy_(self, src: Any, non_blocking: bool = False) -> Tensor:
        """Overwrite the values with ``src`` (broadcast and cast to this tensor's dtype and shape).

        Recorded, the gradient goes to ``src``; the old values get none (as ``torch.Tensor.copy_``).
        """
        from .ops.elementwise import where

        def compute(old: Tensor) -> Tensor:
            # where(False, old, src): the value of src, and a zero gradient for the old value
            # (old * 0 + src would turn an inf or NaN in the old value into NaN).
            keep_old = Tensor._wrap(np.zeros(old.shape, dtype=bool))
            return where(keep_old, old, src)

        def direct(a: np.ndarray) -> None:
            np.copyto(a, src.data if isinstance(src, Tensor) else src, casting="unsafe")

        return self._inplace("copy_", compute, (src,), casting="unsafe", direct=direct)

    def zero_(self) -> Tensor:
        """Fill with zeros, in place."""
        return self.fill_(0)

    def fill_(self, value: Any) -> Tensor:
        """Fill with ``value`` (a number or a one-element tensor), in place."""
        if isinstance(value, Tensor) and value.ndim != 0:
            raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with "
                               f"{value.ndim} dimensions.")
        return self.copy_(value)

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        """In-place ``clamp``."""
        return self._inplace("clamp_", lambda old: old.clamp(min, max), (min, max))

    def relu_(self) -> Tensor:
        """In-place ``relu``."""
        return self._inplace("relu_", lambda old: old.relu())

    def __setitem__(self, key: Any, value: Any) -> None:
        from .ops.shape import _index_key, index_put

        def direct(a: np.ndarray) -> None:
            a[_index_key(key)] = value.data if isinstance(value, Tensor) else value

        self._inplace("__setitem__", lambda old: index_put(old, key, value), (value,), casting="unsafe",
                      direct=direct)

    def draw(self, **kwargs: Any) -> Any:
        """The graph that produced this tensor, as a graphviz.Digraph (Jupyter shows it inline).

        Keyword arguments go to :func:`tinygrad_conv.viz.make_dot`.
        """
        from .viz import draw

        return draw(self, **kwargs)

    # ----------------------------------------------------------------- conversions
    # (last in the class: a method named 'float' would shadow the type in later annotations)
    def float(self) -> Tensor:
        return self.to(np.float32)

    def double(self) -> Tensor:
        return self.to(np.float64)

    def long(self) -> Tensor:
        return Tensor(self.data.astype(np.int64))

    def to(self, dtype: Any) -> Tensor:
        """Cast to another dtype (differentiable between float dtypes)."""
        from .ops.elementwise import cast

        return cast(self, dtype)

    def clone(self) -> Tensor:
        from .ops.elementwise import clone

        return clone(self)

    # Differentiable methods and operators are attached by the op registry; these declarations
    # only tell the type checker they exist.
    if TYPE_CHECKING:
        def __getattr__(self, name: str) -> Any: ...
        def __add__(self, other: Any) -> Tensor: ...
        def __radd__(self, other: Any) -> Tensor: ...
        def __sub__(self, other: Any) -> Tensor: ...
        def __rsub__(self, other: Any) -> Tensor: ...
        def __mul__(self, other: Any) -> Tensor: ...
        def __rmul__(self, other: Any) -> Tensor: ...
        def __truediv__(self, other: Any) -> Tensor: ...
        def __rtruediv__(self, other: Any) -> Tensor: ...
        def __pow__(self, other: Any) -> Tensor: ...
        def __rpow__(self, other: Any) -> Tensor: ...
        def __matmul__(self, other: Any) -> Tensor: ...
        def __rmatmul__(self, other: Any) -> Tensor: ...
        def __neg__(self) -> Tensor: ...
        def __getitem__(self, key: Any) -> Tensor: ...


"""``Tensor``: a NumPy array plus what autograd needs (requires_grad, grad, the node that made it).

Differentiable methods and operators (``+``, ``@``, ``conv2d`` ...) are not written here: each op
registers itself in :mod:`tinygrad_conv.ops.registry`, which attaches it to this class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .dtypes import get_default_dtype
from .random import generator_or_default

if TYPE_CHECKING:
    from .autograd.tape import Node


def _as_array(data: Any, dtype: Any) -> np.ndarray:
    """NumPy dtypes are kept; Python floats (and lists of them) get the default dtype (float32
    unless ``set_default_dtype`` changed it), as in PyTorch."""
    if isinstance(data, Tensor):
        data = data._data
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
        return data._data
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


# PyTorch's legacy type names (``torch.FloatTensor`` ...), by dtype.
_TYPE_NAMES = {np.dtype(np.float32): "FloatTensor", np.dtype(np.float64): "DoubleTensor",
               np.dtype(np.float16): "HalfTensor", np.dtype(np.int64): "LongTensor", np.dtype(np.int32): "IntTensor",
               np.dtype(np.int16): "ShortTensor", np.dtype(np.int8): "CharTensor", np.dtype(np.uint8): "ByteTensor",
               np.dtype(np.bool_): "BoolTensor"}

_TO_SIGNATURES = ("to(dtype, non_blocking=False, copy=False), to(device=None, dtype=None, non_blocking=False, "
                  "copy=False) or to(other, non_blocking=False, copy=False), with the keyword memory_format=None")


def _is_device_like(x: Any) -> bool:
    from .device import device

    return isinstance(x, (str, device)) or type(x).__name__ == "device"


def _to_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any, bool, bool]:
    """(dtype, device, non_blocking, copy) from ``Tensor.to``'s three overloads, as PyTorch parses them."""
    unknown = set(kwargs) - {"dtype", "device", "non_blocking", "copy", "memory_format"}
    if unknown:
        raise TypeError(f"to() got an unexpected keyword argument '{sorted(unknown)[0]}'; expected {_TO_SIGNATURES}")
    if kwargs.get("memory_format") is not None:
        raise TypeError("to(): memory_format is not supported: tinygrad_conv tensors have one layout (NumPy's); "
                        "pass memory_format=None")
    rest = list(args)
    dtype, device = kwargs.get("dtype"), kwargs.get("device")
    if rest and isinstance(rest[0], Tensor):
        if "dtype" in kwargs or "device" in kwargs:
            raise TypeError(f"to() received an invalid combination of arguments (a tensor and dtype=/device=); "
                            f"expected {_TO_SIGNATURES}")
        other = rest.pop(0)
        dtype, device = other.dtype, other.device
    elif rest and (_is_device_like(rest[0]) or rest[0] is None):
        if "device" in kwargs:
            raise TypeError(f"to() got multiple values for argument 'device'; expected {_TO_SIGNATURES}")
        device = rest.pop(0)
        if rest and not isinstance(rest[0], (bool, np.bool_)):
            if "dtype" in kwargs:
                raise TypeError(f"to() got multiple values for argument 'dtype'; expected {_TO_SIGNATURES}")
            dtype = rest.pop(0)
    elif rest and not isinstance(rest[0], (bool, np.bool_)):
        if "dtype" in kwargs or "device" in kwargs:
            raise TypeError(f"to() received an invalid combination of arguments (a dtype and dtype=/device=); "
                            f"expected {_TO_SIGNATURES}")
        dtype = rest.pop(0)
    flags = {"non_blocking": kwargs.get("non_blocking", False), "copy": kwargs.get("copy", False)}
    for name, value in zip(("non_blocking", "copy"), rest):
        if name in kwargs:
            raise TypeError(f"to() got multiple values for argument '{name}'")
        flags[name] = value
    if len(rest) > 2:
        raise TypeError(f"to() takes at most 4 positional arguments; expected {_TO_SIGNATURES}")
    for name, value in flags.items():
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"to(): argument '{name}' must be bool, not {type(value).__name__}")
    return dtype, device, bool(flags["non_blocking"]), bool(flags["copy"])


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

    __slots__ = ("_data", "_requires_grad", "grad", "_grad_fn", "_out_idx", "_vbox", "_hooks",
                 "name", "_view", "__weakref__")
    # NumPy defers to our reflected operators (ndarray * Tensor -> Tensor.__rmul__).
    __array_ufunc__ = None

    _data: np.ndarray
    grad: Tensor | None

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self._data = _as_array(data, dtype)
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
        t._data, t._requires_grad, t.grad, t._grad_fn, t._out_idx = data, False, None, None, 0
        t._vbox, t._hooks, t.name, t._view = [0], None, None, None
        return t

    @classmethod
    def _make(cls, data: np.ndarray, requires_grad: bool, grad_fn: Node | None, out_idx: int,
              vbox: list[int] | None) -> Tensor:
        """Fast internal constructor for op outputs: no conversion, no checks."""
        t = object.__new__(cls)
        t._data = data
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
    def data(self) -> Tensor:
        """The values as a new Tensor outside the graph that shares this tensor's memory, as
        PyTorch's ``.data``: a change through it is not recorded and does not bump this tensor's
        version counter (so the saved-value checks cannot see it; ``detach()`` shares the counter).
        ``.numpy()`` gives the NumPy array.

        >>> import tinygrad_conv as tc
        >>> w = tc.Tensor([1.0, 2.0], requires_grad=True)
        >>> w.data -= 0.5 * tc.Tensor([2.0, 2.0])   # an update outside the graph, as old code does
        >>> w, w._version
        (tensor([0., 1.], requires_grad=True), 0)
        """
        return Tensor._wrap(self._data)

    @data.setter
    def data(self, value: Any) -> None:
        # x.data = y: x takes y's values (memory shared; any shape or dtype), keeping its identity.
        self._data = value._data if isinstance(value, Tensor) else np.asarray(value)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self._data.ndim

    def size(self, dim: int | None = None) -> Any:
        """The shape (as ``torch.Tensor.size``), or one dimension of it."""
        if dim is None:
            return self._data.shape
        if self._data.ndim == 0 and isinstance(dim, (int, np.integer)):
            raise IndexError(f"size: Dimension specified as {dim} but tensor has no dimensions")
        n = max(self._data.ndim, 1)
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not -n <= dim < n:
            raise IndexError(f"size: Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got "
                             f"{dim!r})")
        return self._data.shape[dim]

    def numel(self) -> int:
        return int(self._data.size)

    def numpy(self) -> np.ndarray:
        """The array itself (shared, not copied). Refused while the tensor requires grad."""
        if self._requires_grad:
            raise RuntimeError("Can't call numpy() on a Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        return self._data

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise RuntimeError(f"item(): a Tensor with {self._data.size} elements cannot be converted to Scalar "
                               f"(shape {self.shape}); only one-element tensors can")
        return self._data.item()

    def tolist(self) -> Any:
        return self._data.tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self._data if dtype is None else self._data.astype(dtype)

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous (this one has "
                               f"{self._data.size} elements); use .any() or .all()")
        return bool(self._data)

    def _scalar(self, what: str) -> Any:
        if self._data.size != 1:
            raise ValueError(f"{what}: only one element tensors can be converted to Python scalars (this one has "
                             f"shape {self.shape})")
        return self._data.reshape(()).item()

    def __float__(self) -> float:
        return float(self._scalar("float()"))

    def __int__(self) -> int:
        return int(self._scalar("int()"))

    def __index__(self) -> int:
        """A one-element integer (or bool) tensor as a list index or slice bound, as in PyTorch.

        >>> import tinygrad_conv as tc
        >>> ["a", "b", "c"][tc.tensor(1)], list(range(tc.tensor([2])))
        ('b', [0, 1])
        """
        if self._data.size != 1 or self._data.dtype.kind not in "biu":
            raise TypeError(f"only integer tensors of a single element can be converted to an index (this one is "
                            f"{self._data.dtype} with shape {self.shape})")
        return int(self._data.reshape(()).item())

    def __format__(self, format_spec: str) -> str:
        """A 0-d tensor formats as its number (``f"{loss:.3f}"``); others as their ``str`` when the spec is
        empty (a spec on them is refused, as PyTorch refuses it).

        >>> import tinygrad_conv as tc
        >>> f"{tc.tensor(0.123456):.3f}"
        '0.123'
        """
        if self._data.ndim == 0:
            return format(self._data.item(), format_spec)
        return object.__format__(self, format_spec)

    # ----------------------------------------------------------------- device (the CPU only)
    @property
    def device(self) -> Any:
        """Where the data lives: always ``device(type='cpu')`` (NumPy arrays)."""
        from .device import CPU

        return CPU

    @property
    def is_cuda(self) -> bool:
        """False: tensors live on the CPU."""
        return False

    @property
    def is_cpu(self) -> bool:
        """True: tensors live on the CPU."""
        return True

    __hash__ = object.__hash__

    def __abs__(self) -> Tensor:
        """``abs(t)``, as PyTorch's tensors allow."""
        return self.abs()

    def __repr__(self) -> str:
        body = np.array2string(self._data, separator=", ", prefix="tensor(")
        extra = []
        if self._data.dtype not in (np.float32, np.int64, np.bool_):
            extra.append(f"dtype={self._data.dtype}")
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
        if requires_grad and self._data.dtype.kind not in "fc":
            raise RuntimeError(f"only floating point tensors can require gradients; this one is "
                               f"{self._data.dtype}. Convert first, e.g. x.float().requires_grad_()")
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
        return Tensor._make(self._data, False, None, 0, self._vbox)

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
    def _cmp(self, other: Any, fn: Callable[[Any, Any], Any], name: str = "eq") -> Tensor:
        o = other._data if isinstance(other, Tensor) else other
        try:
            return Tensor._wrap(np.asarray(fn(self._data, o)))
        except ValueError:  # NumPy's broadcast error: say it as PyTorch does
            theirs = np.shape(o)
            raise RuntimeError(f"{name}: The size of tensor a {list(self.shape)} must match the size of tensor b "
                               f"{list(theirs)} (they do not broadcast: each dim, from the last, must match or "
                               "be 1)") from None

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._cmp(other, np.equal, "eq")

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._cmp(other, np.not_equal, "ne")

    def __lt__(self, other: Any) -> Tensor:
        return self._cmp(other, np.less, "lt")

    def __le__(self, other: Any) -> Tensor:
        return self._cmp(other, np.less_equal, "le")

    def __gt__(self, other: Any) -> Tensor:
        return self._cmp(other, np.greater, "gt")

    def __ge__(self, other: Any) -> Tensor:
        return self._cmp(other, np.greater_equal, "ge")

    def eq(self, other: Any) -> Tensor:
        """``self == other`` elementwise, as a bool tensor (``torch.Tensor.eq``); ``ne``, ``lt``, ``le``,
        ``gt`` and ``ge`` likewise.

        >>> import tinygrad_conv as tc
        >>> x = tc.tensor([1, 2, 3])
        >>> x.eq(2).tolist(), x.ge(tc.tensor([3, 2, 1])).tolist()
        ([False, True, False], [False, True, True])
        """
        return self._cmp(other, np.equal, "eq")

    def ne(self, other: Any) -> Tensor:
        """``self != other`` elementwise, as a bool tensor."""
        return self._cmp(other, np.not_equal, "ne")

    def lt(self, other: Any) -> Tensor:
        """``self < other`` elementwise, as a bool tensor."""
        return self._cmp(other, np.less, "lt")

    def le(self, other: Any) -> Tensor:
        """``self <= other`` elementwise, as a bool tensor."""
        return self._cmp(other, np.less_equal, "le")

    def gt(self, other: Any) -> Tensor:
        """``self > other`` elementwise, as a bool tensor."""
        return self._cmp(other, np.greater, "gt")

    def ge(self, other: Any) -> Tensor:
        """``self >= other`` elementwise, as a bool tensor."""
        return self._cmp(other, np.greater_equal, "ge")

    def _arg_extreme(self, name: str, fn: Callable[..., Any], dim: int | None, keepdim: bool) -> Tensor:
        """argmax/argmin with PyTorch's rules: over the flattened tensor when ``dim`` is None (keepdim
        then gives every dim size 1), the first winner on ties."""
        a = self._data
        if dim is None:
            if a.size == 0:
                raise IndexError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0.")
            idx = np.asarray(fn(a))
            return Tensor._wrap(idx.reshape((1,) * a.ndim).astype(np.int64) if keepdim else idx.astype(np.int64))
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"{name}(): argument 'dim' must be int, not {type(dim).__name__}")
        n = max(a.ndim, 1)
        if not -n <= dim < n:
            raise IndexError(f"{name}: Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got "
                             f"{dim})")
        if a.ndim == 0:
            return Tensor._wrap(np.zeros((), dtype=np.int64))
        if a.shape[dim] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {dim} to have non-zero size.")
        idx = fn(a, axis=int(dim), keepdims=keepdim)
        return Tensor._wrap(np.asarray(idx, dtype=np.int64))

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """The index of the largest element (of the flattened tensor when ``dim`` is None), as
        ``torch.argmax``.

        >>> import tinygrad_conv as tc
        >>> tc.tensor([[1, 5], [7, 2]]).argmax(dim=1, keepdim=True).tolist()
        [[1], [0]]
        """
        return self._arg_extreme("argmax", np.argmax, dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """The index of the smallest element, as ``torch.argmin``."""
        return self._arg_extreme("argmin", np.argmin, dim, keepdim)

    def any(self) -> bool:
        return bool(self._data.any())

    def all(self) -> bool:
        return bool(self._data.all())

    # ----------------------------------------------------------------- in-place changes
    # Every in-place method goes through autograd.inplace.modify_in_place: compute the new value
    # out of place, write it into this tensor's memory, and (when recorded) take over its history.
    def _inplace(self, what: str, compute: Callable[[Tensor], Any], others: tuple[Any, ...] = (),
                 casting: str = "same_kind", direct: Callable[[np.ndarray], None] | None = None) -> Tensor:
        from .autograd.inplace import modify_in_place

        return modify_in_place(self, what, compute, others, casting, direct)

    def _arith_(self, what: str, other: Any, op: Callable[[Tensor, Any], Tensor], ufunc: Any) -> Tensor:
        """``self op= other`` for the four arithmetic operators."""
        raw = other._data if isinstance(other, Tensor) else other

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
            np.copyto(a, src._data if isinstance(src, Tensor) else src, casting="unsafe")

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

    def _fill_random_(self, what: str, values: np.ndarray) -> Tensor:
        """Overwrite with freshly drawn ``values``: on the tape the old values get a zero gradient (as
        PyTorch's NormalBackward), through the in-place path (so a leaf that requires grad is refused
        outside no_grad and a non-leaf is rebased)."""
        from .ops.elementwise import where

        def compute(old: Tensor) -> Tensor:
            keep_old = Tensor._wrap(np.zeros(old.shape, dtype=bool))
            return where(keep_old, old, Tensor._wrap(values))

        def direct(a: np.ndarray) -> None:
            np.copyto(a, values, casting="unsafe")

        return self._inplace(what, compute, casting="unsafe", direct=direct)

    def _random_source(self, what: str, generator: Any) -> np.random.Generator:
        if self._data.dtype.kind != "f":
            raise NotImplementedError(f"{what}: not implemented for {self._data.dtype} tensors (it draws floating "
                                      "point numbers); convert first, e.g. x = x.float()")
        return generator_or_default(generator, what)

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Tensor:
        """Fill with draws from the normal distribution N(mean, std**2), in place, as
        ``torch.Tensor.normal_``; ``generator`` (a ``numpy.random.Generator``) or else the default one,
        which ``tinygrad_conv.manual_seed`` seeds.

        >>> import tinygrad_conv as tc
        >>> _ = tc.manual_seed(0); a = tc.empty(3).normal_(2.0, 0.5)
        >>> _ = tc.manual_seed(0); a.tolist() == tc.empty(3).normal_(2.0, 0.5).tolist()
        True
        """
        rng = self._random_source("normal_", generator)
        if std < 0:
            raise RuntimeError(f"normal_: normal expects std >= 0.0, but found std {std}")
        values = rng.normal(mean, std, self.shape) if self._data.size else np.zeros(self.shape)
        return self._fill_random_("normal_", np.asarray(values, dtype=self._data.dtype))

    def uniform_(self, from_: float = 0.0, to: float = 1.0, *, generator: Any = None, **kwargs: Any) -> Tensor:
        """Fill with draws from the uniform distribution on [from, to), in place, as
        ``torch.Tensor.uniform_`` (``from`` may be passed by name as ``**{"from": ...}``).

        >>> import tinygrad_conv as tc
        >>> x = tc.empty(100).uniform_(-2.0, 3.0)
        >>> bool((x >= -2.0).all() and (x < 3.0).all())
        True
        """
        if "from" in kwargs:
            from_ = kwargs.pop("from")
        if kwargs:
            raise TypeError(f"uniform_() got an unexpected keyword argument '{next(iter(kwargs))}'")
        rng = self._random_source("uniform_", generator)
        if from_ > to:
            raise RuntimeError(f"uniform_: uniform_ expects to return a [from, to) range, but found from={from_} > "
                               f"to={to}")
        values = rng.uniform(from_, to, self.shape) if self._data.size else np.zeros(self.shape)
        return self._fill_random_("uniform_", np.asarray(values, dtype=self._data.dtype))

    def scatter_(self, dim: Any, index: Tensor, src: Any = None, *, value: Any = None,
                 reduce: str | None = None) -> Tensor:
        """In-place ``scatter``: write ``src`` (or the number ``value``) at ``index`` along ``dim``, as
        ``torch.Tensor.scatter_`` (the one-hot idiom ``zeros(n, k).scatter_(1, labels[:, None], 1.0)``).

        >>> import tinygrad_conv as tc
        >>> tc.zeros(2, 3).scatter_(1, tc.tensor([[2], [0]]), 1.0).tolist()
        [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
        """
        # (old.scatter: the registered op, attached to Tensor as a method)
        others = (src,) if isinstance(src, Tensor) else ()
        return self._inplace("scatter_", lambda old: old.scatter(dim, index, src, value=value, reduce=reduce),
                             others)

    def scatter_add_(self, dim: Any, index: Tensor, src: Tensor) -> Tensor:
        """In-place ``scatter_add``: add ``src`` at ``index`` along ``dim`` (repeats add up), as
        ``torch.Tensor.scatter_add_``.

        >>> import tinygrad_conv as tc
        >>> tc.zeros(3).scatter_add_(0, tc.tensor([0, 0, 2]), tc.ones(3)).tolist()
        [2.0, 0.0, 1.0]
        """
        return self._inplace("scatter_add_", lambda old: old.scatter_add(dim, index, src), (src,))

    # ----------------------------------------------------------------- shapes of other tensors
    def expand_as(self, other: Tensor) -> Tensor:
        """``self.expand(other.size())``, as ``torch.Tensor.expand_as`` (``view_as`` and ``reshape_as``
        likewise take another tensor's shape).

        >>> import tinygrad_conv as tc
        >>> tc.ones(3, 1).expand_as(tc.zeros(2, 3, 4)).shape, tc.arange(6).view_as(tc.zeros(2, 3)).shape
        ((2, 3, 4), (2, 3))
        """
        return self.expand(other.shape)

    def view_as(self, other: Tensor) -> Tensor:
        """``self.view(other.size())``, as ``torch.Tensor.view_as``."""
        return self.view(other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        """``self.reshape(other.size())``, as ``torch.Tensor.reshape_as``."""
        return self.reshape(other.shape)

    def __setitem__(self, key: Any, value: Any) -> None:
        from .ops.shape import _index_key, index_put

        def direct(a: np.ndarray) -> None:
            a[_index_key(key)] = value._data if isinstance(value, Tensor) else value

        self._inplace("__setitem__", lambda old: index_put(old, key, value), (value,), casting="unsafe",
                      direct=direct)

    def draw(self, **kwargs: Any) -> Any:
        """The graph that produced this tensor, as a graphviz.Digraph (Jupyter shows it inline).

        Keyword arguments go to :func:`tinygrad_conv.viz.make_dot`.
        """
        from .viz import draw

        return draw(self, **kwargs)

    # ----------------------------------------------------------------- conversions
    # (last in the class: a method named 'float' would shadow the type in later annotations, hence
    # the builtins.* annotations below)
    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """The tensor converted to another dtype and/or device, as ``torch.Tensor.to``:
        ``to(dtype)``, ``to(device, dtype)``, ``to(other_tensor)`` (its dtype and device), with
        ``non_blocking``, ``copy`` and the keywords ``dtype=``/``device=``. The device must be the CPU;
        ``self`` comes back unchanged when nothing changes and ``copy`` is False. Differentiable
        between float dtypes; converting to an integer dtype leaves the graph, as in PyTorch.

        >>> import tinygrad_conv as tc
        >>> x = tc.ones(2)
        >>> x.to("cpu") is x, x.to(tc.float64).dtype, x.to("cpu", tc.int64, copy=True).tolist()
        (True, dtype('float64'), [1, 1])
        """
        from .device import as_device
        from .dtypes import as_dtype
        from .ops.elementwise import cast, clone

        dtype, device, non_blocking, copy = _to_arguments(args, kwargs)
        if device is not None:
            as_device(device)  # raises for anything but the CPU
        dt = None if dtype is None else as_dtype(dtype, "to")
        out = self
        if dt is not None and dt != self._data.dtype:
            if dt.kind in "fc":
                out = cast(self, dt)
            else:  # an integer or bool result cannot require grad: it leaves the graph
                out = Tensor._wrap(self._data.astype(dt))
        elif copy:
            out = clone(self)
        return out

    def type(self, dtype: Any = None, non_blocking: bool = False, **kwargs: Any) -> Any:
        """With no argument, the type name (``'tinygrad_conv.FloatTensor'``, as PyTorch's
        ``'torch.FloatTensor'``); else the tensor converted to ``dtype`` (a dtype, or a type name such as
        ``'torch.DoubleTensor'``), as ``torch.Tensor.type``.

        >>> import tinygrad_conv as tc
        >>> tc.zeros(1).type(), tc.zeros(1).type(tc.int64).type(), tc.zeros(1).type("torch.DoubleTensor").dtype
        ('tinygrad_conv.FloatTensor', 'tinygrad_conv.LongTensor', dtype('float64'))
        """
        if dtype is None:
            return "tinygrad_conv." + _TYPE_NAMES[self._data.dtype]
        if isinstance(dtype, str):
            name = dtype.rsplit(".", 1)[-1]
            matches = [dt for dt, n in _TYPE_NAMES.items() if n == name]
            if not matches or dtype.split(".")[0] not in ("torch", "tinygrad_conv") or "." not in dtype:
                raise ValueError(f"type(): invalid type: {dtype!r} (expected e.g. 'torch.FloatTensor' or "
                                 "'tinygrad_conv.LongTensor')")
            dtype = matches[0]
        return self.to(dtype, non_blocking=non_blocking, **kwargs)

    def cpu(self, memory_format: Any = None) -> Tensor:
        """The tensor itself: it is already on the CPU (as ``torch.Tensor.cpu`` there)."""
        return self

    def cuda(self, device: Any = None, non_blocking: bool = False, memory_format: Any = None) -> Tensor:
        """Refused: tinygrad_conv has no CUDA device (``tinygrad_conv.cuda.is_available()`` is False)."""
        from .device import as_device

        as_device("cuda" if device is None else device if isinstance(device, str) else f"cuda:{device}")
        raise AssertionError("unreachable: as_device refuses every non-CPU device")  # pragma: no cover

    def float(self, memory_format: Any = None) -> Tensor:
        """``self.to(float32)``; ``double``, ``half``, ``long``, ``int``, ``short``, ``char``, ``byte`` and
        ``bool`` likewise (the integer and bool ones leave the graph).

        >>> import tinygrad_conv as tc
        >>> x = tc.tensor([1.7, -0.2])
        >>> x.double().dtype, x.long().tolist(), x.bool().tolist()
        (dtype('float64'), [1, 0], [True, True])
        """
        return self.to(np.float32)

    def double(self, memory_format: Any = None) -> Tensor:
        """``self.to(float64)``."""
        return self.to(np.float64)

    def half(self, memory_format: Any = None) -> Tensor:
        """``self.to(float16)``."""
        return self.to(np.float16)

    def long(self, memory_format: Any = None) -> Tensor:
        """``self.to(int64)`` (leaves the graph)."""
        return self.to(np.int64)

    def int(self, memory_format: Any = None) -> Tensor:
        """``self.to(int32)`` (leaves the graph)."""
        return self.to(np.int32)

    def short(self, memory_format: Any = None) -> Tensor:
        """``self.to(int16)`` (leaves the graph)."""
        return self.to(np.int16)

    def char(self, memory_format: Any = None) -> Tensor:
        """``self.to(int8)`` (leaves the graph)."""
        return self.to(np.int8)

    def byte(self, memory_format: Any = None) -> Tensor:
        """``self.to(uint8)`` (leaves the graph)."""
        return self.to(np.uint8)

    def bool(self, memory_format: Any = None) -> Tensor:
        """``self.to(bool)`` (leaves the graph)."""
        return self.to(np.bool_)

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


"""``default_collate`` and ``default_convert``, as ``torch.utils.data``: samples to batches.

>>> from tinygrad_conv.utils.data import default_collate
>>> xb, yb = default_collate([(1.0, 0), (2.0, 1)])
>>> xb.dtype, yb.dtype, yb.tolist()
(dtype('float64'), dtype('int64'), [0, 1])
"""

from __future__ import annotations

import collections.abc
import copy
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...autograd.grad_mode import is_grad_enabled
from ...tensor import Tensor

# NumPy dtypes that are not numbers (strings, bytes, objects) cannot become Tensors.
_np_str_obj_array_pattern = re.compile(r"[SaUO]")

default_collate_err_msg_format = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or "
                                  "lists; found {}")


def _wrap(arr: np.ndarray) -> Tensor:
    """A Tensor around ``arr`` with its dtype kept (float64 stays float64, as torch.as_tensor)."""
    return Tensor(arr, dtype=arr.dtype)


def default_convert(data: Any) -> Any:
    """NumPy arrays and scalars inside ``data`` become Tensors; everything else is kept (tuples
    become lists, as in PyTorch). What the loader does to samples without automatic batching.

    >>> import numpy as np
    >>> from tinygrad_conv.utils.data import default_convert
    >>> default_convert([np.array([0, 1]), 2])
    [tensor([0, 1]), 2]
    """
    elem_type = type(data)
    if isinstance(data, Tensor):
        return data
    if elem_type.__module__ == "numpy" and elem_type.__name__ not in ("str_", "string_", "bytes_"):
        if isinstance(data, np.ndarray) and _np_str_obj_array_pattern.search(data.dtype.str) is not None:
            return data
        return _wrap(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        try:
            if isinstance(data, collections.abc.MutableMapping):
                clone = copy.copy(data)
                clone.update({key: default_convert(data[key]) for key in data})
                return clone
            return elem_type({key: default_convert(data[key]) for key in data})
        except TypeError:
            return {key: default_convert(data[key]) for key in data}
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # a namedtuple keeps its type
        return elem_type(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            if isinstance(data, collections.abc.MutableSequence):
                clone_seq = copy.copy(data)
                for i, d in enumerate(data):
                    clone_seq[i] = default_convert(d)
                return clone_seq
            return elem_type([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data


CollateMap = dict[Any, Callable[..., Any]]


def collate(batch: Sequence[Any], *, collate_fn_map: CollateMap | None = None) -> Any:
    """Collate ``batch`` (a list of samples) by the type of its first sample, recursing into
    mappings, namedtuples and sequences; ``collate_fn_map`` maps element types to functions
    ``fn(batch, *, collate_fn_map)`` (looked up by exact type, then by ``isinstance`` in order)."""
    if len(batch) == 0:
        raise IndexError("collate: the batch is empty (list index out of range); a batch needs at least one sample")
    elem = batch[0]
    elem_type = type(elem)
    if collate_fn_map is not None:
        if elem_type in collate_fn_map:
            return collate_fn_map[elem_type](batch, collate_fn_map=collate_fn_map)
        for collate_type in collate_fn_map:
            if isinstance(elem, collate_type):
                return collate_fn_map[collate_type](batch, collate_fn_map=collate_fn_map)
    if isinstance(elem, collections.abc.Mapping):
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                clone = copy.copy(elem)
                clone.update({key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map) for key in elem})
                return clone
            return elem_type({key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map) for key in elem})
        except TypeError:
            return {key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(collate(samples, collate_fn_map=collate_fn_map) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        elem_size = len(elem)
        if not all(len(e) == elem_size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size (sizes "
                               f"{sorted({len(e) for e in batch})})")
        transposed = list(zip(*batch))
        if isinstance(elem, tuple):  # tuples become lists, as in PyTorch
            return [collate(samples, collate_fn_map=collate_fn_map) for samples in transposed]
        try:
            if isinstance(elem, collections.abc.MutableSequence):
                clone_seq = copy.copy(elem)
                for i, samples in enumerate(transposed):
                    clone_seq[i] = collate(samples, collate_fn_map=collate_fn_map)
                return clone_seq
            return elem_type([collate(samples, collate_fn_map=collate_fn_map) for samples in transposed])
        except TypeError:
            return [collate(samples, collate_fn_map=collate_fn_map) for samples in transposed]
    raise TypeError(default_collate_err_msg_format.format(elem_type))


def collate_tensor_fn(batch: list[Tensor], *, collate_fn_map: CollateMap | None = None) -> Tensor:
    """Stack Tensors along a new first dimension (recorded, as torch.stack, when one requires grad)."""
    shapes = [t.shape for t in batch]
    for i, s in enumerate(shapes):
        if s != shapes[0]:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(shapes[0])} at entry 0 "
                               f"and {list(s)} at entry {i}")
    if is_grad_enabled() and any(t.requires_grad for t in batch):
        from ...ops.shape import stack

        return stack(list(batch), 0)
    # No graph to record: one NumPy stack instead of an unsqueeze per sample.
    return _wrap(np.stack([t.detach().numpy() for t in batch]))


def collate_numpy_array_fn(batch: list[np.ndarray], *, collate_fn_map: CollateMap | None = None) -> Any:
    elem = batch[0]
    if _np_str_obj_array_pattern.search(elem.dtype.str) is not None:
        raise TypeError(default_collate_err_msg_format.format(elem.dtype))
    shapes = [b.shape for b in batch]
    for i, s in enumerate(shapes):
        if s != shapes[0]:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got {list(shapes[0])} at entry 0 "
                               f"and {list(s)} at entry {i}")
    return _wrap(np.stack(batch))


def collate_numpy_scalar_fn(batch: list[Any], *, collate_fn_map: CollateMap | None = None) -> Tensor:
    return _wrap(np.asarray(batch))


def collate_float_fn(batch: list[float], *, collate_fn_map: CollateMap | None = None) -> Tensor:
    # Python floats are doubles: PyTorch collates them to float64.
    return _wrap(np.asarray(batch, dtype=np.float64))


def collate_int_fn(batch: list[int], *, collate_fn_map: CollateMap | None = None) -> Tensor:
    # Python ints become int64; a batch of bools stays bool (bool is an int subclass), as PyTorch.
    arr = np.asarray(batch)
    if arr.dtype.kind == "i":
        arr = arr.astype(np.int64)
    return _wrap(arr)


def collate_str_fn(batch: list[Any], *, collate_fn_map: CollateMap | None = None) -> Any:
    return batch


default_collate_fn_map: CollateMap = {
    Tensor: collate_tensor_fn,
    np.ndarray: collate_numpy_array_fn,
    (np.bool_, np.number): collate_numpy_scalar_fn,
    float: collate_float_fn,
    int: collate_int_fn,
    str: collate_str_fn,
    bytes: collate_str_fn,
}


def default_collate(batch: list[Any]) -> Any:
    """Put a list of samples into a batch, as ``torch.utils.data.default_collate``: Tensors,
    NumPy arrays and NumPy scalars are stacked (dtype kept), Python floats become a float64
    Tensor and ints an int64 one; strings stay a list; mappings, namedtuples and sequences are
    collated field by field (a tuple sample gives a list of batches).

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv.utils.data import default_collate
    >>> batch = default_collate([{"x": tc.ones(2), "name": "a"}, {"x": tc.zeros(2), "name": "b"}])
    >>> batch["x"].shape, batch["name"]
    ((2, 2), ['a', 'b'])
    """
    return collate(batch, collate_fn_map=default_collate_fn_map)

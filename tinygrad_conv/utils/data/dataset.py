"""Data sets, as ``torch.utils.data.dataset``: map-style and iterable ones, and ways to combine them.

>>> import tinygrad_conv as tc
>>> from tinygrad_conv.utils.data import TensorDataset, random_split
>>> ds = TensorDataset(tc.Tensor([float(i) for i in range(10)]))
>>> _ = tc.manual_seed(0)
>>> [len(part) for part in random_split(ds, [0.7, 0.3])]
[7, 3]
"""

from __future__ import annotations

import bisect
import itertools
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from ._random import check_generator, resolve

T_co = TypeVar("T_co", covariant=True)


class SizeMismatchError(ValueError, AssertionError):
    """Tensors or data sets of different lengths: PyTorch raises AssertionError here, so this is
    both (code written for PyTorch that catches AssertionError keeps working)."""


class Dataset(Generic[T_co]):
    """Base class of map-style data sets: define ``__getitem__`` (and usually ``__len__``).
    ``a + b`` concatenates two data sets.

    >>> from tinygrad_conv.utils.data import Dataset
    >>> class Squares(Dataset):
    ...     def __len__(self): return 4
    ...     def __getitem__(self, i): return i * i
    >>> both = Squares() + Squares()
    >>> len(both), both[5]
    (8, 1)
    """

    def __getitem__(self, index: Any) -> T_co:
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other: Dataset[Any]) -> ConcatDataset[Any]:
        return ConcatDataset([self, other])


class IterableDataset(Dataset[T_co]):
    """Base class of data sets read as a stream: define ``__iter__``. With ``num_workers > 0``
    every worker iterates its own copy; split the work with ``get_worker_info()``.

    >>> from tinygrad_conv.utils.data import IterableDataset
    >>> class Count(IterableDataset):
    ...     def __iter__(self): return iter(range(3))
    >>> list(Count() + Count())
    [0, 1, 2, 0, 1, 2]
    """

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError("Subclasses of IterableDataset should implement __iter__.")

    def __add__(self, other: Dataset[Any]) -> ChainDataset:  # type: ignore[override]
        return ChainDataset([self, other])


class TensorDataset(Dataset[tuple[Any, ...]]):
    """Rows of tensors that share their first dimension: ``ds[i]`` is ``(t[i] for t in tensors)``.

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv.utils.data import TensorDataset
    >>> ds = TensorDataset(tc.ones(5, 3), tc.zeros(5))
    >>> len(ds), ds[2][0].shape
    (5, (3,))
    """

    def __init__(self, *tensors: Any) -> None:
        sizes = []
        for i, t in enumerate(tensors):
            shape = getattr(t, "shape", None)
            if shape is None or len(shape) == 0:
                raise ValueError(f"TensorDataset: argument {i} must be a tensor with a first (sample) dimension, "
                                 f"got {type(t).__name__} with shape {shape}")
            sizes.append(shape[0])
        if any(s != sizes[0] for s in sizes):
            raise SizeMismatchError(f"Size mismatch between tensors: TensorDataset needs the same first dimension "
                                    f"in every tensor, got {[tuple(t.shape) for t in tensors]}")
        self.tensors = tuple(tensors)

    def __getitem__(self, index: Any) -> tuple[Any, ...]:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return int(self.tensors[0].shape[0]) if self.tensors else 0


class StackDataset(Dataset[Any]):
    """Samples of several data sets of the same length side by side: as a tuple
    (``StackDataset(a, b)``) or a dict (``StackDataset(x=a, y=b)``).

    >>> from tinygrad_conv.utils.data import StackDataset
    >>> StackDataset(x=[1, 2], y=["a", "b"])[1]
    {'x': 2, 'y': 'b'}
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args:
            if kwargs:
                raise ValueError("Supported either ``tuple``- (via ``args``) or``dict``- (via ``kwargs``) like "
                                 "input/output, but both types are given.")
            self._length = len(args[0])
            if any(self._length != len(dataset) for dataset in args):
                raise ValueError("Size mismatch between datasets")
            self.datasets: Any = args
        elif kwargs:
            tmp = list(kwargs.values())
            self._length = len(tmp[0])
            if any(self._length != len(dataset) for dataset in tmp):
                raise ValueError("Size mismatch between datasets")
            self.datasets = kwargs
        else:
            raise ValueError("At least one dataset should be passed")

    def __getitem__(self, index: Any) -> Any:
        if isinstance(self.datasets, dict):
            return {k: dataset[index] for k, dataset in self.datasets.items()}
        return tuple(dataset[index] for dataset in self.datasets)

    def __len__(self) -> int:
        return self._length


class ConcatDataset(Dataset[T_co]):
    """Several map-style data sets one after another.

    >>> from tinygrad_conv.utils.data import ConcatDataset
    >>> ds = ConcatDataset([[1, 2], [3]])
    >>> len(ds), ds[2], ds.cumulative_sizes
    (3, 3, [2, 3])
    """

    @staticmethod
    def cumsum(sequence: Sequence[Any]) -> list[int]:
        r, s = [], 0
        for e in sequence:
            s += len(e)
            r.append(s)
        return r

    def __init__(self, datasets: Iterable[Any]) -> None:
        self.datasets = list(datasets)
        if len(self.datasets) == 0:
            raise SizeMismatchError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise SizeMismatchError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = self.cumsum(self.datasets)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int) -> T_co:
        if idx < 0:
            if -idx > len(self):
                raise ValueError(f"absolute value of index should not exceed dataset length: index {idx}, "
                                 f"length {len(self)}")
            idx = len(self) + idx
        dataset_idx = bisect.bisect_right(self.cumulative_sizes, idx)
        sample_idx = idx if dataset_idx == 0 else idx - self.cumulative_sizes[dataset_idx - 1]
        if dataset_idx >= len(self.datasets):
            raise IndexError(f"ConcatDataset index {idx} is out of range for length {len(self)}")
        return self.datasets[dataset_idx][sample_idx]  # type: ignore[no-any-return]


class ChainDataset(IterableDataset[Any]):
    """Several iterable data sets read one after another (lazily).

    >>> from tinygrad_conv.utils.data import ChainDataset
    >>> list(ChainDataset([range(2), range(3)]))
    [0, 1, 0, 1, 2]
    """

    def __init__(self, datasets: Iterable[Any]) -> None:
        self.datasets = datasets

    def __iter__(self) -> Iterator[Any]:
        for d in self.datasets:
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)  # type: ignore[arg-type]


class Subset(Dataset[T_co]):
    """The samples of ``dataset`` at ``indices``, in that order.

    >>> from tinygrad_conv.utils.data import Subset
    >>> s = Subset([10, 11, 12, 13], [3, 0])
    >>> len(s), s[0], s[1]
    (2, 13, 10)
    """

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices: list[int]) -> list[Any]:
        # Batched reads when the parent data set has them (the loader calls this).
        if callable(getattr(self.dataset, "__getitems__", None)):
            return self.dataset.__getitems__([self.indices[idx] for idx in indices])  # type: ignore[no-any-return]
        return [self.dataset[self.indices[idx]] for idx in indices]

    def __len__(self) -> int:
        return len(self.indices)


def random_split(dataset: Any, lengths: Sequence[int | float],
                 generator: np.random.Generator | None = None) -> list[Subset[Any]]:
    """Split ``dataset`` into non-overlapping random subsets of the given lengths, or of the given
    fractions (summing to 1; the items left over by rounding down go one each to the first
    splits). The permutation comes from ``generator``, else the default generator, so
    ``tc.manual_seed`` makes it repeatable.

    >>> import numpy as np
    >>> from tinygrad_conv.utils.data import random_split
    >>> a, b = random_split(range(10), [3, 7], generator=np.random.default_rng(42))
    >>> len(a), len(b), sorted(list(a) + list(b)) == list(range(10))
    (3, 7, True)
    """
    check_generator(generator, "random_split")
    n = len(dataset)
    total = sum(lengths)
    if math.isclose(total, 1) and total <= 1:
        subset_lengths: list[int] = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            subset_lengths.append(math.floor(n * frac))
        remainder = n - sum(subset_lengths)
        for i in range(remainder):  # one more item each, round robin, until none is left
            subset_lengths[i % len(subset_lengths)] += 1
        lengths = list(subset_lengths)
        for i, length in enumerate(lengths):
            if length == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.",
                              stacklevel=2)
    if sum(lengths) != n:
        raise ValueError(f"Sum of input lengths does not equal the length of the input dataset! "
                         f"(lengths {list(lengths)} sum to {sum(lengths)}, the dataset has {n} items)")
    for i, length in enumerate(lengths):
        if isinstance(length, float) and not float(length).is_integer():
            raise ValueError(f"random_split: length at index {i} is {length}; give whole numbers, or fractions "
                             "that sum to 1")
        if length < 0:
            raise ValueError(f"random_split: length at index {i} is negative ({length})")
    indices = resolve(generator).permutation(n).tolist()
    int_lengths = [int(length) for length in lengths]
    return [Subset(dataset, indices[offset - length:offset])
            for offset, length in zip(itertools.accumulate(int_lengths), int_lengths)]

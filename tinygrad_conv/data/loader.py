"""PyTorch-style ``TensorDataset`` and ``DataLoader`` over NumPy arrays.

The loader yields tuples of ``tinygrad_conv.Tensor`` batches. ``Tensor`` is imported
lazily, when the first batch is built, so this module imports on its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np


class Dataset(Protocol):
    """Anything with a length and integer indexing; items are tuples of array-likes."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Any: ...


def _as_array(value: Any) -> np.ndarray:
    """An ndarray for ``value``: ndarrays as they are, Tensors by their array, else asarray."""
    if isinstance(value, np.ndarray):
        return value
    data = getattr(value, "_data", None)
    if isinstance(data, np.ndarray):  # a tinygrad_conv Tensor (ndarray's own .data is a memoryview)
        return data
    return np.asarray(value)


class TensorDataset:
    """A data set made of arrays (or Tensors) sharing their first dimension.

    ``dataset[i]`` returns a tuple with the ``i``-th row of every array (NumPy items);
    an index array or slice returns a tuple of batched arrays.

    >>> import numpy as np
    >>> from tinygrad_conv.data import TensorDataset
    >>> ds = TensorDataset(np.zeros((5, 3), np.float32), np.arange(5))
    >>> len(ds), ds[2][0].shape, int(ds[2][1])
    (5, (3,), 2)
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one array")
        arrays = tuple(_as_array(t) for t in tensors)
        shapes = [a.shape for a in arrays]
        if any(a.ndim == 0 for a in arrays):
            raise ValueError(f"TensorDataset arrays need a first (sample) dimension; got shapes {shapes}")
        n = arrays[0].shape[0]
        if any(a.shape[0] != n for a in arrays):
            raise ValueError(
                f"TensorDataset arrays must all have the same first dimension; got shapes {shapes}"
            )
        self.arrays: tuple[np.ndarray, ...] = arrays

    def __len__(self) -> int:
        return int(self.arrays[0].shape[0])

    def __getitem__(self, index: Any) -> tuple[Any, ...]:
        return tuple(a[index] for a in self.arrays)

    def __repr__(self) -> str:
        fields = ", ".join(f"{a.dtype}{list(a.shape)}" for a in self.arrays)
        return f"TensorDataset({fields})"


class DataLoader:
    """Iterate over a data set in batches of ``tinygrad_conv.Tensor``, PyTorch style.

    Each iteration (epoch) yields tuples with one batched Tensor per field of the
    data set (always a tuple, also for a single field). With ``shuffle=True`` every
    epoch uses a new permutation: epoch ``k`` uses ``np.random.default_rng([seed, k])``,
    so two loaders with the same ``seed`` yield the same batches epoch by epoch, while
    epochs differ from each other. Pass ``generator`` (a ``np.random.Generator``)
    instead of ``seed`` to draw the permutations from it in turn; with neither, a
    seed is drawn once per loader from the default generator (``tc.manual_seed``).
    ``len(loader)`` is the number of batches: ``ceil(N / batch_size)``, or
    ``N // batch_size`` with ``drop_last=True``.

    A ``TensorDataset`` is batched by indexing its arrays with the whole batch's
    index array at once; other data sets are indexed item by item and stacked.

    >>> import numpy as np
    >>> from tinygrad_conv.data import DataLoader, TensorDataset
    >>> ds = TensorDataset(np.arange(10, dtype=np.float32).reshape(5, 2), np.arange(5))
    >>> loader = DataLoader(ds, batch_size=2, shuffle=True, seed=0)
    >>> len(loader)
    3
    >>> [tuple(x.data.shape) for x, y in loader]
    [(2, 2), (2, 2), (1, 2)]
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        generator: np.random.Generator | None = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if seed is not None and generator is not None:
            raise ValueError("give DataLoader a seed or a generator, not both")
        if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError(f"generator must be a numpy.random.Generator, got {type(generator).__name__}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.generator = generator
        if seed is None and generator is None:
            # From the library's default generator, so that tc.manual_seed makes shuffling repeat.
            from ..random import default_generator

            seed = int(default_generator().integers(0, 2**63))
        self.seed = None if seed is None else int(seed)
        self.epoch = 0  # the epoch the next iteration will use

    def __len__(self) -> int:
        n = len(self.dataset)
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration use epoch ``epoch``'s permutation (seeded loaders)."""
        if epoch < 0:
            raise ValueError(f"epoch must be non-negative, got {epoch}")
        self.epoch = int(epoch)

    def _permutation(self, epoch: int) -> np.ndarray:
        n = len(self.dataset)
        if self.generator is not None:
            return self.generator.permutation(n)
        assert self.seed is not None
        return np.random.default_rng([self.seed, epoch]).permutation(n)

    def _batch_indices(self, order: np.ndarray | None, n: int) -> Iterator[np.ndarray | slice]:
        stop_at = (n // self.batch_size) * self.batch_size if self.drop_last else n
        for start in range(0, stop_at, self.batch_size):
            stop = min(start + self.batch_size, n)
            yield slice(start, stop) if order is None else order[start:stop]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        # Work out the epoch's order now, not at the first next(), so the epoch
        # counter advances exactly once per iter() call.
        epoch = self.epoch
        self.epoch += 1
        n = len(self.dataset)
        order = self._permutation(epoch) if self.shuffle else None
        return self._generate(self._batch_indices(order, n))

    def _generate(self, batches: Iterator[np.ndarray | slice]) -> Iterator[tuple[Any, ...]]:
        from ..tensor import Tensor

        dataset = self.dataset
        if isinstance(dataset, TensorDataset):
            arrays = dataset.arrays
            for index in batches:
                if isinstance(index, slice):
                    fields = [a[index].copy() for a in arrays]  # copy: batches never alias the data set
                else:
                    fields = [np.take(a, index, axis=0) for a in arrays]
                yield tuple(Tensor(f) for f in fields)
        else:
            for index in batches:
                rows = range(index.start, index.stop) if isinstance(index, slice) else index.tolist()
                yield tuple(Tensor(f) for f in _collate([dataset[i] for i in rows]))

    def __repr__(self) -> str:
        return (
            f"DataLoader({type(self.dataset).__name__}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}, batches={len(self)})"
        )


def _collate(items: Sequence[Any]) -> list[np.ndarray]:
    """Stack a list of items (tuples of fields, or single values) into per-field batches."""
    if isinstance(items[0], tuple | list):
        width = len(items[0])
        if any(len(item) != width for item in items):
            raise ValueError("data set items have different numbers of fields")
        return [np.stack([_as_array(item[j]) for item in items]) for j in range(width)]
    return [np.stack([_as_array(item) for item in items])]

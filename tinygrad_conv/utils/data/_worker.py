"""What runs inside a DataLoader worker process, and what the main process needs to talk to it."""

from __future__ import annotations

import os
import queue
import random
import sys
import traceback
from typing import Any

import numpy as np

# How often (seconds) a waiting worker checks that its parent is still alive, and a waiting main
# process that its workers are.
MP_STATUS_CHECK_INTERVAL = 5.0


class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker: ``id``, ``num_workers``, ``seed`` (the
    seed of this worker's default generator) and ``dataset`` (this worker's copy)."""

    id: int
    num_workers: int
    seed: int
    dataset: Any
    __initialized = False

    def __init__(self, **kwargs: Any) -> None:
        for k, v in kwargs.items():
            setattr(self, k, v)
        self.__keys = tuple(kwargs.keys())
        self.__initialized = True

    def __setattr__(self, key: str, val: Any) -> None:
        if self.__initialized:
            raise RuntimeError(f"Cannot assign attributes to {self.__class__.__name__} objects")
        super().__setattr__(key, val)

    def __repr__(self) -> str:
        items = [f"{k}={getattr(self, k)}" for k in self.__keys]
        return f"{self.__class__.__name__}({', '.join(items)})"


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """In a DataLoader worker process, this worker's ``WorkerInfo``; in the main process, None.
    An ``IterableDataset`` uses it to give each worker its own share of the data.

    >>> from tinygrad_conv.utils.data import get_worker_info
    >>> get_worker_info() is None
    True
    """
    return _worker_info


class _IterableDatasetStopIteration:
    """A worker's answer once its copy of an IterableDataset is exhausted."""

    def __init__(self, worker_id: int) -> None:
        self.worker_id = worker_id


class _ResumeIteration:
    """Sent to persistent workers at the start of each new epoch."""


class ExceptionWrapper:
    """An exception caught in a worker, with its traceback as text, to re-raise in the main
    process with the same type (as PyTorch's)."""

    def __init__(self, exc_info: Any = None, where: str = "in background") -> None:
        if exc_info is None:
            exc_info = sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self) -> None:
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = _KeyErrorMessage(msg)
        try:
            exception = self.exc_type(msg)
        except Exception:  # an exception type whose constructor takes other arguments
            raise RuntimeError(msg) from None
        raise exception


class _KeyErrorMessage(str):
    # KeyError's str() is the repr of its argument; this keeps the traceback readable.
    def __repr__(self) -> str:
        return self


def _seed_worker(base_seed: int, worker_id: int) -> int:
    """Seed this worker's generators (the library's default one, Python's, NumPy's legacy one) from
    the loader's base seed, so workers differ from each other and from epoch to epoch."""
    from ... import random as tc_random
    from ...kernels.parallel import set_num_threads

    seed = base_seed + worker_id
    random.seed(seed)
    tc_random.manual_seed(seed)
    np.random.seed([worker_id, seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF])
    # One thread per worker (as PyTorch): the workers already use the cores in parallel.
    set_num_threads(1)
    return seed


def worker_loop(dataset_kind: int, dataset: Any, index_queue: Any, data_queue: Any, done_event: Any,
                auto_collation: bool, collate_fn: Any, drop_last: bool, base_seed: int, init_fn: Any,
                worker_id: int, num_workers: int) -> None:
    """Fetch the batches the main process asks for, until it sends None."""
    from .dataloader import _create_fetcher

    global _worker_info
    try:
        seed = _seed_worker(base_seed, worker_id)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
        init_exception = None
        fetcher = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = _create_fetcher(dataset_kind, dataset, auto_collation, collate_fn, drop_last)
        except Exception:
            init_exception = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
        iteration_end = False
        parent = os.getppid()
        while True:
            try:
                r = index_queue.get(timeout=MP_STATUS_CHECK_INTERVAL)
            except queue.Empty:
                if os.getppid() != parent:  # the main process is gone: stop
                    break
                continue
            if isinstance(r, _ResumeIteration):
                data_queue.put((r, None))
                iteration_end = False
                if init_exception is None:
                    # A new epoch: an IterableDataset starts over.
                    fetcher = _create_fetcher(dataset_kind, dataset, auto_collation, collate_fn, drop_last)
                continue
            if r is None:  # the main process is shutting this worker down
                break
            if done_event.is_set() or iteration_end:
                continue  # nothing more to give this epoch; wait for a resume or None
            idx, index = r
            data: Any
            if init_exception is not None:
                data, init_exception = init_exception, None
            else:
                try:
                    assert fetcher is not None
                    data = fetcher.fetch(index)
                except Exception as e:
                    if isinstance(e, StopIteration) and dataset_kind == 1:
                        data = _IterableDatasetStopIteration(worker_id)
                        iteration_end = True
                    else:
                        data = ExceptionWrapper(where=f"in DataLoader worker process {worker_id}")
            data_queue.put((idx, data))
            del data, idx, index, r
    except KeyboardInterrupt:
        pass
    if done_event.is_set():
        data_queue.cancel_join_thread()
        data_queue.close()

"""``torch.utils.data`` for tinygrad_conv: data sets, samplers, ``default_collate`` and ``DataLoader``.

A program written for PyTorch runs with ``from tinygrad_conv.utils.data import ...`` in place of
``from torch.utils.data import ...``. (The bundled data sets stay in ``tinygrad_conv.data``.)

>>> import tinygrad_conv as tc
>>> from tinygrad_conv.utils.data import DataLoader, TensorDataset
>>> _ = tc.manual_seed(0)
>>> loader = DataLoader(TensorDataset(tc.ones(6, 2), tc.zeros(6)), batch_size=4, shuffle=True)
>>> [(tuple(x.shape), tuple(y.shape)) for x, y in loader]
[((4, 2), (4,)), ((2, 2), (2,))]
"""

from ._collate import default_collate, default_convert
from ._worker import WorkerInfo, get_worker_info
from .dataloader import DataLoader
from .dataset import (
                      ChainDataset,
                      ConcatDataset,
                      Dataset,
                      IterableDataset,
                      StackDataset,
                      Subset,
                      TensorDataset,
                      random_split,
)
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler, WeightedRandomSampler

__all__ = ["BatchSampler", "ChainDataset", "ConcatDataset", "DataLoader", "Dataset", "IterableDataset",
           "RandomSampler", "Sampler", "SequentialSampler", "StackDataset", "Subset", "SubsetRandomSampler",
           "TensorDataset", "WeightedRandomSampler", "WorkerInfo", "default_collate", "default_convert",
           "get_worker_info", "random_split"]

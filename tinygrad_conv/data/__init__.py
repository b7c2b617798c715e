"""Data sets and loading: the bundled digits, MNIST-format IDX files, datasets and loaders.

>>> from tinygrad_conv.data import DataLoader, TensorDataset, load_digits
>>> x, y = load_digits("train")
>>> loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, seed=0)
>>> xb, yb = next(iter(loader))
>>> xb.data.shape, yb.data.shape
((64, 1, 8, 8), (64,))
"""

from .digits import load_digits
from .idx import read_idx, write_idx
from .loader import DataLoader, TensorDataset
from .mnist import load_mnist

__all__ = ["load_digits", "read_idx", "write_idx", "load_mnist", "TensorDataset", "DataLoader"]

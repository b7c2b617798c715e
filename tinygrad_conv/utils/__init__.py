"""``torch.utils`` for tinygrad_conv: ``utils.data`` (data sets and loaders) and ``utils.hooks``.

>>> import tinygrad_conv as tc
>>> tc.utils.data.default_collate([1, 2]).tolist()
[1, 2]
"""

from . import data, hooks

__all__ = ["data", "hooks"]

"""``tinygrad_conv.nn.functional``: :mod:`tinygrad_conv.functional` under the path PyTorch programs
import (``import torch.nn.functional as F`` becomes ``import tinygrad_conv.nn.functional as F``).

>>> import tinygrad_conv.nn.functional as F
>>> import tinygrad_conv.functional
>>> F.relu is tinygrad_conv.functional.relu
True
"""

from __future__ import annotations

from typing import Any

from .. import functional as _functional


def __getattr__(name: str) -> Any:
    return getattr(_functional, name)


def __dir__() -> list[str]:
    return dir(_functional)

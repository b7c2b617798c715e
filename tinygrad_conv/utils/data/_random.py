"""Where the data utilities draw their randomness: a given generator, else the library's default."""

from __future__ import annotations

from typing import Any

import numpy as np

from ... import random as _random


def check_generator(generator: Any, where: str) -> None:
    """Refuse anything but None or a ``numpy.random.Generator`` (the library's generator type)."""
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise TypeError(f"{where}: generator must be a numpy.random.Generator (as tinygrad_conv.manual_seed "
                        f"returns) or None, got {type(generator).__name__}")


def resolve(generator: np.random.Generator | None) -> np.random.Generator:
    """``generator``, or the default one (which ``tc.manual_seed`` re-seeds)."""
    return generator if generator is not None else _random.default_generator()


def draw_seed(generator: np.random.Generator | None) -> int:
    """A fresh 63-bit seed from ``generator`` (or the default generator), as PyTorch draws one
    int64 for each sampler epoch and each loader iteration."""
    return int(resolve(generator).integers(0, 2**63 - 1))

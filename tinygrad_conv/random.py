"""The library's one default random generator (weight initialisation, dropout), as in PyTorch.

>>> import tinygrad_conv as tc
>>> _ = tc.manual_seed(0); a = tc.nn.init.default_generator().random()
>>> _ = tc.manual_seed(0); a == tc.random.default_generator().random()
True
"""

from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Re-seed the default generator (so the same seed gives the same weights and dropout masks);
    returns it, as ``torch.manual_seed`` does."""
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative integer, got {seed!r}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def default_generator() -> np.random.Generator:
    """The generator used when a function is given none."""
    return _generator


def generator_or_default(generator: object, op: str) -> np.random.Generator:
    """The ``generator=`` argument of a random function, checked, or else the default generator.

    >>> generator_or_default(None, "randn") is default_generator()
    True
    """
    if generator is None:
        return default_generator()
    if not isinstance(generator, np.random.Generator):
        raise TypeError(f"{op}: generator must be a numpy.random.Generator (np.random.default_rng(seed)), "
                        f"got {type(generator).__name__}")
    return generator

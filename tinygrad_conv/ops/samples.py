"""Helpers that build the sample inputs ops declare for the checker (as PyTorch's OpInfo does)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .registry import Sample


def randn(rng: np.random.Generator, dtype: Any, *shape: int) -> np.ndarray:
    return np.asarray(rng.standard_normal(shape), dtype=dtype)


def positive(rng: np.random.Generator, dtype: Any, *shape: int) -> np.ndarray:
    """Values in [0.5, 2): a domain for log, sqrt and division."""
    return np.asarray(rng.uniform(0.5, 2.0, shape), dtype=dtype)


def away_from_zero(rng: np.random.Generator, dtype: Any, *shape: int) -> np.ndarray:
    """Random signs and magnitudes in [0.2, 2): keeps gradcheck off kinks at 0."""
    mag = rng.uniform(0.2, 2.0, shape)
    sign = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    return np.asarray(mag * sign, dtype=dtype)


def distinct(rng: np.random.Generator, dtype: Any, *shape: int) -> np.ndarray:
    """A shuffled grid of well-separated values: no ties, so max/min have one clear winner."""
    n = int(np.prod(shape)) if shape else 1
    vals = (rng.permutation(n) - n / 2) * 0.25 + rng.uniform(-0.05, 0.05, n)
    return vals.reshape(shape).astype(dtype)


def unary(make: Callable[..., np.ndarray] = randn) -> Callable[[np.random.Generator, Any], Iterable[Sample]]:
    """Samples for an elementwise op of one tensor: a matrix, a 0-d tensor and a 3-d one."""

    def samples(rng: np.random.Generator, dtype: Any) -> Iterable[Sample]:
        yield Sample((make(rng, dtype, 3, 4),), name="matrix")
        yield Sample((make(rng, dtype),), name="scalar")
        yield Sample((make(rng, dtype, 2, 3, 2),), name="3d")

    return samples


def binary(make_a: Callable[..., np.ndarray] = randn, make_b: Callable[..., np.ndarray] | None = None,
           scalar: float | None = 1.5) -> Callable[[np.random.Generator, Any], Iterable[Sample]]:
    """Samples for a broadcasting binary op: equal shapes, broadcasting both ways, a Python scalar."""
    mb = make_b or make_a

    def samples(rng: np.random.Generator, dtype: Any) -> Iterable[Sample]:
        yield Sample((make_a(rng, dtype, 3, 4), mb(rng, dtype, 3, 4)), name="same shape")
        yield Sample((make_a(rng, dtype, 3, 1), mb(rng, dtype, 4)), name="broadcast both")
        yield Sample((make_a(rng, dtype, 2, 3, 4), mb(rng, dtype, 1, 4)), name="broadcast b")
        if scalar is not None:
            yield Sample((make_a(rng, dtype, 3, 4), scalar), name="python scalar")

    return samples


def t(x: Any) -> Any:
    """Identity, for reference lambdas that read better with a name."""
    return x

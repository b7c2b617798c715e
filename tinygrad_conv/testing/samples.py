"""``sample_inputs``: declare an op's sample inputs by shapes, parameter sets and input domain.

The checker runs an op on the samples it declares (``register(..., samples=...)``). A samples
function takes ``(rng, dtype)`` and yields :class:`~tinygrad_conv.ops.Sample` objects; for the
common case this module writes that function from a short description.

>>> from tinygrad_conv.testing import sample_inputs
>>> import numpy as np
>>> make = sample_inputs([(3, 4), (3, 4)], [(3, 1), (4,)], params=[{}, {"beta": 4.0}])
>>> [(s.name, [a.shape for a in s.args]) for s in make(np.random.default_rng(0), np.float64)][:2]
[('(3, 4), (3, 4)', [(3, 4), (3, 4)]), ('(3, 4), (3, 4); beta=4.0', [(3, 4), (3, 4)])]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ..ops import samples as _make
from ..ops.registry import Sample

#: A domain: a name from DOMAINS, or ``f(rng, shape) -> array``.
Domain = str | Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]


def _unit(rng: np.random.Generator, dtype: Any, *shape: int) -> np.ndarray:
    return np.asarray(rng.uniform(-0.9, 0.9, shape), dtype=dtype)


DOMAINS: dict[str, Callable[..., np.ndarray]] = {
    "real": _make.randn,              # standard normal
    "positive": _make.positive,       # [0.5, 2): log, sqrt, division
    "nonzero": _make.away_from_zero,  # |x| in [0.2, 2): keeps gradcheck off a kink at 0
    "distinct": _make.distinct,       # well-separated values, no ties: max, sort, pooling
    "unit": _unit,                    # (-0.9, 0.9): atanh, acos...
}


def _is_shape(x: Any) -> bool:
    return isinstance(x, tuple) and all(isinstance(s, (int, np.integer)) for s in x)


def _shapes_of(case: Any) -> list[tuple[int, ...]]:
    """A case is one shape (one input) or a list of shapes (one per input)."""
    if _is_shape(case):
        return [tuple(int(s) for s in case)]
    if isinstance(case, (list, tuple)) and all(_is_shape(s) for s in case):
        return [tuple(int(d) for d in s) for s in case]
    raise TypeError(f"sample_inputs: a case must be a shape like (3, 4) or a list of shapes like "
                    f"[(3, 4), (4,)], got {case!r}")


def sample_inputs(*cases: tuple[int, ...] | Sequence[tuple[int, ...]],
                  params: Sequence[dict[str, Any]] = ({},),
                  domain: Domain | Sequence[Domain] = "real") -> Callable[[np.random.Generator, Any],
                                                                        Iterator[Sample]]:
    """A samples function for ``register(samples=...)``: every shape case with every param set.

    Each case is the input shapes of one call: ``[(3, 4), (4,)]`` for two inputs, or a bare shape
    ``(3, 4)`` for a single input. ``params`` are keyword arguments; ``domain`` is where the
    input values are drawn ('real', 'positive', 'nonzero', 'distinct', 'unit', or a function
    ``f(rng, shape) -> array``), one for all inputs or one per input.
    """
    if not cases:
        raise ValueError("sample_inputs: give at least one case of input shapes, e.g. "
                         "sample_inputs((3, 4)) or sample_inputs([(3, 4), (4,)])")
    shape_cases = [_shapes_of(case) for case in cases]
    domains_given: list[Any] = list(domain) if isinstance(domain, (list, tuple)) else [domain]
    for d in domains_given:
        if isinstance(d, str) and d not in DOMAINS:
            raise ValueError(f"sample_inputs: unknown domain {d!r}; use one of {sorted(DOMAINS)} or "
                             "a function f(rng, shape) -> array")

    def draw(d: Domain, rng: np.random.Generator, dtype: Any, shape: tuple[int, ...]) -> np.ndarray:
        if isinstance(d, str):
            return DOMAINS[d](rng, dtype, *shape)
        return np.asarray(d(rng, shape), dtype=dtype)

    def samples(rng: np.random.Generator, dtype: Any) -> Iterator[Sample]:
        for shapes in shape_cases:
            domains = domains_given if isinstance(domain, (list, tuple)) else domains_given * len(shapes)
            if len(domains) != len(shapes):
                raise ValueError(f"sample_inputs: {len(domains)} domains for {len(shapes)} inputs")
            for kw in params:
                args = tuple(draw(d, rng, dtype, s) for d, s in zip(domains, shapes))
                name = ", ".join(str(s) for s in shapes)
                if kw:
                    name += "; " + ", ".join(f"{k}={v!r}" for k, v in kw.items())
                yield Sample(args, dict(kw), name=name)

    return samples

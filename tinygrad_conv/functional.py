"""``torch.nn.functional``-style entry points over the registered ops.

Built-in ops are imported by name below (so editors and type checkers see them); an op a user
registers later with ``functional=True`` is found through the registry by ``__getattr__``.

>>> import tinygrad_conv as tc
>>> import tinygrad_conv.functional as F
>>> F.softmax(tc.Tensor([0.0, 0.0]), dim=0).tolist()
[0.5, 0.5]
"""

from __future__ import annotations

from typing import Any

from .ops.elementwise import pow as pow
from .ops.registry import functional_ops

__all__: list[str] = []  # filled below from the names imported above


__all__ = sorted(name for name in dir() if not name.startswith("_") and name not in ("Any", "annotations",
                                                                                     "functional_ops"))


def __getattr__(name: str) -> Any:
    ops = functional_ops()
    if name in ops:
        return ops[name]
    raise AttributeError(f"module 'tinygrad_conv.functional' has no attribute '{name}' "
                         f"(registered ops: {', '.join(sorted(ops))})")


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(functional_ops()))

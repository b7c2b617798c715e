"""Registered ops by family. Importing this package registers every built-in op."""

from . import elementwise, matmul, reduce, shape  # noqa: F401  (registration happens on import)
from .registry import OpInfo, Sample, register, registry

__all__ = ["OpInfo", "Sample", "register", "registry"]

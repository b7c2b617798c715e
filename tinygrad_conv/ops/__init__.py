"""Registered ops by family. Importing this package registers every built-in op."""

from . import (  # noqa: F401  (registration happens on import)
    activation,
    adaptive_pool,
    conv,
    elementwise,
    embedding,
    indexing,
    linalg,
    loss,
    matmul,
    normalization,
    pool,
    reduce,
    resample,
    shape,
    trig,
)
from .registry import OpInfo, Sample, make_op_info, register, registry, unregister

__all__ = ["OpInfo", "Sample", "make_op_info", "register", "registry", "unregister"]

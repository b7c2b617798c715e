"""``torch.backends.cudnn``: absent here. Programs set ``benchmark`` and ``deterministic``; the
attributes exist so that runs unchanged, and have no effect. The CPU conv kernels choose their
algorithm by ``tinygrad_conv.kernels.conv.ALGORITHM``: by default each shape's variants are timed
on its first call (and once more a second later) and the fastest kept for the process (as
``benchmark = True`` does on a GPU), so two processes may differ by rounding; set it to one variant
(``"im2col"``) for runs that repeat bit for bit, as ``tinygrad-conv train`` fixes its own."""

from __future__ import annotations

__all__ = ["benchmark", "deterministic", "enabled", "is_available", "version"]

enabled: bool = True
benchmark: bool = False
deterministic: bool = False


def is_available() -> bool:
    """False: no cuDNN."""
    return False


def version() -> None:
    """None: no cuDNN version."""
    return None

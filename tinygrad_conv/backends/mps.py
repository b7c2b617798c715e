"""``torch.backends.mps``: Apple's Metal back end, absent here (tinygrad_conv runs on the CPU)."""

from __future__ import annotations

__all__ = ["is_available", "is_built"]


def is_available() -> bool:
    """False: no MPS device."""
    return False


def is_built() -> bool:
    """False: tinygrad_conv has no MPS back end."""
    return False

"""``torch.backends.cudnn``: absent here. Programs set ``benchmark`` and ``deterministic``; the
attributes exist so that runs unchanged, and have no effect (CPU results are deterministic)."""

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

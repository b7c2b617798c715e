"""``torch.accelerator`` on a machine without one: tinygrad_conv runs on the CPU only.

>>> import tinygrad_conv as tc
>>> tc.accelerator.is_available(), tc.accelerator.current_accelerator(), tc.accelerator.device_count()
(False, None, 0)
"""

from __future__ import annotations

from typing import Any

__all__ = ["current_accelerator", "device_count", "is_available"]


def is_available() -> bool:
    """False: tinygrad_conv has no accelerator (CUDA, MPS ...)."""
    return False


def current_accelerator(check_available: bool = False) -> Any:
    """None: the accelerator in use, as ``torch.accelerator.current_accelerator`` where there is none."""
    return None


def device_count() -> int:
    """0: the number of accelerator devices."""
    return 0

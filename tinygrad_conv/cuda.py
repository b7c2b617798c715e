"""``torch.cuda`` as it answers on a machine without CUDA: tinygrad_conv runs on the CPU only.

Programs ask ``is_available()`` to pick a device, so these answer (False, 0) instead of failing;
seeding calls are accepted and do nothing, as ``torch.cuda.manual_seed`` does without a GPU.

>>> import tinygrad_conv as tc
>>> tc.cuda.is_available(), tc.cuda.device_count()
(False, 0)
"""

from __future__ import annotations

__all__ = ["device_count", "is_available", "manual_seed", "manual_seed_all"]


def is_available() -> bool:
    """False: there is no CUDA device (tinygrad_conv computes on the CPU with NumPy)."""
    return False


def device_count() -> int:
    """0: the number of CUDA devices."""
    return 0


def manual_seed(seed: int) -> None:
    """Accepted and ignored, as ``torch.cuda.manual_seed`` without a GPU (seed the CPU generator with
    ``tinygrad_conv.manual_seed``)."""


def manual_seed_all(seed: int) -> None:
    """Accepted and ignored, as ``torch.cuda.manual_seed_all`` without a GPU."""

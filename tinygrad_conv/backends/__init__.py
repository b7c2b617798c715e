"""``torch.backends`` on the CPU: the accelerator back ends answer that they are not there, and
cuDNN's switches (``benchmark``, ``deterministic``) may be set, with no effect, so programs that set
them run unchanged.

>>> import tinygrad_conv as tc
>>> tc.backends.mps.is_available(), tc.backends.cudnn.is_available()
(False, False)
"""

from . import cudnn, mps

__all__ = ["cudnn", "mps"]

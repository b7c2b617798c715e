"""Devices, as ``torch.device``: tinygrad_conv computes with NumPy on the CPU, the one device there is.

``device("cpu")``, ``device("cpu:0")``, ``device("cpu", 0)`` and another device object (ours or
PyTorch's) are accepted wherever PyTorch takes a device (factories, ``Tensor.to``, ``Module.to``);
asking for an accelerator ("cuda", "mps" ...) raises a RuntimeError that says only the CPU is
available, so a program learns it at the line that asked.

>>> import tinygrad_conv as tc
>>> tc.device("cpu"), str(tc.device("cpu:0")), tc.zeros(2).device == tc.device("cpu")
(device(type='cpu'), 'cpu:0', True)
"""

from __future__ import annotations

import builtins
import re
from typing import Any

__all__ = ["device", "as_device", "check_device", "CPU"]

# The device types PyTorch's parser knows; any other string is a malformed device string.
_KNOWN_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve", "fpga", "maia",
                "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia", "privateuseone")
_DEVICE_STRING = re.compile(r"^([a-zA-Z_]+)(?::(\d+))?$")


def _unavailable(kind: str, asked: Any) -> RuntimeError:
    return RuntimeError(f"device {asked!r} is not available: tinygrad_conv only supports the CPU (it computes with "
                        f"NumPy; there is no {kind} device). Use 'cpu' (or leave device= out), e.g. "
                        "device = tinygrad_conv.device('cuda' if tinygrad_conv.cuda.is_available() else 'cpu')")


class device:  # noqa: N801  (lower-case, as torch.device)
    """A device: ``device("cpu")``, ``device("cpu:0")``, ``device("cpu", 0)`` or ``device(other)``.

    ``type`` is ``'cpu'`` and ``index`` the number given (None when none was); two devices are equal
    when both match, as in PyTorch. Any other device type raises a RuntimeError.

    >>> import tinygrad_conv as tc
    >>> d = tc.device("cpu", 0)
    >>> d.type, d.index, repr(d), d == tc.device("cpu")
    ('cpu', 0, "device(type='cpu', index=0)", False)
    """

    __slots__ = ("_type", "_index")

    def __init__(self, type: Any, index: int | None = None) -> None:
        kind, idx = _parse(type, index)
        self._type, self._index = kind, idx

    @property
    def type(self) -> str:
        return self._type

    @property
    def index(self) -> int | None:
        return self._index

    def __str__(self) -> str:
        return self._type if self._index is None else f"{self._type}:{self._index}"

    def __repr__(self) -> str:
        extra = "" if self._index is None else f", index={self._index}"
        return f"device(type='{self._type}'{extra})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, device):
            return (self._type, self._index) == (other._type, other._index)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self._type, self._index))

    def __reduce__(self) -> Any:
        return (device, (self._type, self._index))


def _parse(spec: Any, index: Any) -> tuple[str, int | None]:
    """(type, index) from what ``device(...)`` was given, with PyTorch's errors for malformed input."""
    if isinstance(spec, device):
        if index is not None:
            raise TypeError("device(): an index may only follow a device type string, not a device")
        return spec.type, spec.index
    if isinstance(spec, (builtins.int,)) and not isinstance(spec, builtins.bool):
        # PyTorch reads a bare number as an index on the current accelerator.
        raise _unavailable("accelerator", spec)
    kind = getattr(spec, "type", None)
    if kind is not None and not isinstance(spec, str) and hasattr(spec, "index"):  # e.g. a torch.device
        return _parse(str(kind) if spec.index is None else f"{kind}:{spec.index}", index)
    if not isinstance(spec, str):
        raise TypeError(f"device(): argument 'type' must be str or device, not {builtins.type(spec).__name__}")
    m = _DEVICE_STRING.match(spec.strip())
    if m is None:
        raise RuntimeError(f"Invalid device string: {spec!r}")
    kind, number = m.group(1), m.group(2)
    if kind not in _KNOWN_TYPES:
        raise RuntimeError(f"Expected one of {', '.join(_KNOWN_TYPES)} device type at start of device string: "
                           f"{spec}")
    if kind != "cpu":
        raise _unavailable(kind, spec)
    if number is not None and index is not None:
        raise RuntimeError(f"type (string) must not include an index because index was passed explicitly: {spec}")
    if index is not None:
        if isinstance(index, builtins.bool) or not isinstance(index, builtins.int):
            raise TypeError(f"device(): argument 'index' must be int, not {builtins.type(index).__name__}")
        if index < 0:
            raise RuntimeError(f"Device index must not be negative, got {index}")
        return kind, index
    return kind, None if number is None else builtins.int(number)


#: The device every tensor lives on.
CPU = device("cpu")


def as_device(spec: Any) -> device:
    """``spec`` (a string, our device or PyTorch's) as a device, raising for anything but the CPU."""
    return spec if isinstance(spec, device) else device(spec)


def check_device(spec: Any, op: str) -> None:
    """Accept None or any spelling of the CPU for ``op``'s ``device=`` argument; refuse the rest,
    naming ``op``."""
    if spec is None:
        return
    try:
        as_device(spec)
    except (RuntimeError, TypeError) as exc:
        raise builtins.type(exc)(f"{op}: {exc}") from None

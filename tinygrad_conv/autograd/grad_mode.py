"""Grad mode: whether ops record on the tape. The mode is per thread, as in PyTorch."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_state = threading.local()


def is_grad_enabled() -> bool:
    """True when ops record on the tape in this thread (the default)."""
    return getattr(_state, "enabled", True)


def _set(mode: bool) -> None:
    _state.enabled = mode


class _GradModeContext:
    """Base of the grad-mode switches: a context manager that also decorates functions."""

    _mode: bool

    def __enter__(self) -> None:
        self._prev = is_grad_enabled()
        _set(self._mode)

    def __exit__(self, *exc: object) -> None:
        _set(self._prev)

    def __call__(self, fn: F) -> F:
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = is_grad_enabled()
            _set(mode)
            try:
                return fn(*args, **kwargs)
            finally:
                _set(prev)

        return wrapper  # type: ignore[return-value]


class no_grad(_GradModeContext):
    """Turn recording off, for inference and in-place parameter updates.

    >>> import tinygrad_conv as tc
    >>> x = tc.Tensor([1.0], requires_grad=True)
    >>> with tc.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    _mode = False


class enable_grad(_GradModeContext):
    """Turn recording back on inside a ``no_grad`` block."""

    _mode = True


class set_grad_enabled(_GradModeContext):
    """Set grad mode to ``mode``; takes effect at once and is undone on leaving the ``with`` block.

    >>> import tinygrad_conv as tc
    >>> with tc.set_grad_enabled(False):
    ...     tc.is_grad_enabled()
    False
    """

    def __init__(self, mode: bool) -> None:
        self._mode = bool(mode)
        self._prev = is_grad_enabled()
        _set(self._mode)  # like PyTorch, the call itself switches the mode

    def __enter__(self) -> None:
        pass  # already switched in __init__

    def __exit__(self, *exc: object) -> None:
        _set(self._prev)

    def __call__(self, fn: F) -> F:
        _set(self._prev)  # used as a decorator: undo the switch made by __init__
        return super().__call__(fn)

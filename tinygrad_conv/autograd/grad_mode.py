"""Grad mode: whether ops record on the tape. The mode is per thread, as in PyTorch."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class _State(threading.local):
    # A class attribute is the default each new thread sees, and reading it is a plain attribute
    # lookup: getattr(local, name, default) on a missing name raises and catches an AttributeError
    # inside, several times slower, and every op reads the mode.
    enabled = True
    inference = False


_state = _State()


def is_grad_enabled() -> bool:
    """True when ops record on the tape in this thread (the default)."""
    return _state.enabled


def _set(mode: bool) -> None:
    _state.enabled = mode


class _GradModeContext:
    """Base of the grad-mode switches: a context manager that also decorates functions.

    As in PyTorch, a decorated generator function keeps the mode only while it runs: the mode is
    set each time the generator resumes and restored each time it yields.
    """

    _mode: bool

    def __enter__(self) -> None:
        self._prev = is_grad_enabled()
        _set(self._mode)

    def __exit__(self, *exc: object) -> None:
        _set(self._prev)

    def __call__(self, fn: F) -> F:
        mode = self._mode
        if inspect.isgeneratorfunction(fn):
            return _wrap_generator(fn, mode)  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = is_grad_enabled()
            _set(mode)
            try:
                return fn(*args, **kwargs)
            finally:
                _set(prev)

        return wrapper  # type: ignore[return-value]


def _wrap_generator(fn: Callable[..., Any], mode: bool) -> Callable[..., Any]:
    @functools.wraps(fn)
    def generator(*args: Any, **kwargs: Any) -> Any:
        def step(action: Callable[..., Any], *arg: Any) -> Any:
            prev = is_grad_enabled()
            _set(mode)
            try:
                return action(*arg)
            finally:
                _set(prev)

        gen = fn(*args, **kwargs)
        try:
            response = step(gen.send, None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    step(gen.close)
                    raise
                except BaseException as exc:  # thrown in by the caller: pass it on, in the mode
                    response = step(gen.throw, exc)
                else:
                    response = step(gen.send, request)
        except StopIteration as stop:
            return stop.value

    return generator


class _NoParamContext(_GradModeContext):
    """A switch that takes no argument may also decorate bare: ``@no_grad`` as ``@no_grad()``."""

    def __new__(cls, orig_func: Callable[..., Any] | None = None) -> Any:
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)


class no_grad(_NoParamContext):
    """Turn recording off, for inference and in-place parameter updates.

    >>> import tinygrad_conv as tc
    >>> x = tc.Tensor([1.0], requires_grad=True)
    >>> with tc.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """

    _mode = False


class enable_grad(_NoParamContext):
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


class inference_mode(_GradModeContext):
    """``torch.inference_mode``: here the same as ``no_grad(mode)`` (see docs/porting.md: tensors made
    inside are ordinary tensors that do not require grad; PyTorch also marks them as inference tensors).

    >>> import tinygrad_conv as tc
    >>> @tc.inference_mode
    ... def predict(x):
    ...     return x * 2
    >>> predict(tc.Tensor([1.0], requires_grad=True)).requires_grad
    False
    """

    def __new__(cls, mode: Any = True) -> Any:
        if callable(mode):  # bare decorator: @inference_mode
            switch = super().__new__(cls)
            switch.__init__(True)  # type: ignore[misc]
            return switch(mode)
        return super().__new__(cls)

    def __init__(self, mode: Any = True) -> None:
        self._inference = bool(mode)
        self._mode = False

    def __enter__(self) -> None:
        self._prev = is_grad_enabled()
        self._prev_inference = is_inference_mode_enabled()
        if self._inference:  # inference_mode(False) leaves grad mode as it is
            _set(False)
        _state.inference = self._inference

    def __exit__(self, *exc: object) -> None:
        _set(self._prev)
        _state.inference = self._prev_inference

    def __call__(self, fn: F) -> F:
        return super().__call__(fn) if self._inference else fn


def is_inference_mode_enabled() -> bool:
    """True inside an ``inference_mode()`` block."""
    return _state.inference

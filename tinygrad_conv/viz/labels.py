"""Text for the drawings: shapes, parameter values, byte counts, and HTML-like Graphviz labels.

Labels are Graphviz HTML-like labels (``<...>``) so the op name can be bold and the shape line
small; every piece of user text goes through :func:`esc` first, because ``<``, ``>`` and ``&``
would otherwise break the DOT file.
"""

from __future__ import annotations

import html
import inspect
from typing import Any

import numpy as np

# Colours and shapes, in one place so the drawings stay consistent (and the docs can describe them).
STYLE_OP = {"shape": "box", "style": "rounded,filled", "fillcolor": "#e8e8e8", "color": "#707070"}
STYLE_OUTPUT = {"shape": "box", "style": "rounded,filled,bold", "fillcolor": "#c5e8a5", "color": "#3c7a12"}
STYLE_PARAM = {"shape": "box", "style": "filled", "fillcolor": "#cfe2f7", "color": "#3b6ea5"}
STYLE_INPUT = {"shape": "box", "style": "filled", "fillcolor": "#fbe7b2", "color": "#a87f12"}
STYLE_CONST = {"shape": "box", "style": "dashed", "color": "#9a9a9a", "fontcolor": "#6a6a6a",
               "fontsize": "9"}
STYLE_MODULE = {"shape": "box3d", "style": "filled", "fillcolor": "#dcd3f0", "color": "#5b4a8a"}
# In the backward graph: ops that backward ran stand out, forward ops it re-used fade.
STYLE_BACKWARD_OP = {"shape": "box", "style": "rounded,filled", "fillcolor": "#fcd9b6", "color": "#b35c00"}
STYLE_FORWARD_REUSED = {"shape": "box", "style": "rounded,dashed,filled", "fillcolor": "#f4f4f4",
                        "color": "#a0a0a0", "fontcolor": "#808080"}
STYLE_CLUSTER = {"style": "rounded", "color": "#8c96a0", "fontcolor": "#4c5660", "labeljust": "l",
                 "fontsize": "10"}

SMALL = 9  # point size of the detail lines (shapes, saved arrays, gradients)
_MAX_VALUE_CHARS = 36


def esc(text: str) -> str:
    """Escape text for a Graphviz HTML-like label."""
    return html.escape(text, quote=False)


def small(text: str, color: str = "#505050") -> str:
    """One detail line: small, grey, already escaped by the caller."""
    return f'<FONT POINT-SIZE="{SMALL}" COLOR="{color}">{text}</FONT>'


def html_label(lines: list[str]) -> str:
    """Join escaped HTML fragments into one label, one table row per line.

    Rows of a borderless table rather than ``<BR/>``: Graphviz spaces ``<BR/>`` lines so tightly
    that underscores touch the next line (seen in the rendered PNGs).
    """
    rows = "".join(f"<TR><TD>{line}</TD></TR>" for line in lines)
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">{rows}</TABLE>>'


def fmt_shape(shape: tuple[int, ...]) -> str:
    """``(1, 6, 28, 28)``; a 0-d shape is ``()``."""
    if len(shape) == 1:
        return f"({shape[0]},)"
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


def fmt_dtype(dtype: Any) -> str:
    try:
        return np.dtype(dtype).name
    except TypeError:
        return str(dtype)


def fmt_bytes(n: int) -> str:
    """Bytes in binary units: 512 B, 3.1 KiB, 2.0 MiB."""
    if n < 1024:
        return f"{n} B"
    for unit in ("KiB", "MiB", "GiB"):
        n_f = n / 1024
        if n_f < 1024 or unit == "GiB":
            return f"{n_f:.1f} {unit}"
        n = int(n_f)
    return f"{n} B"  # not reached


def fmt_value(value: Any, depth: int = 0) -> str:
    """A parameter value as a person would write it, cut short when long."""
    from ..tensor import Tensor

    if isinstance(value, bool) or value is None:
        text = str(value)
    elif isinstance(value, (int, np.integer)):
        text = str(int(value))
    elif isinstance(value, (float, np.floating)):
        text = f"{float(value):.4g}"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, Tensor):
        text = f"tensor{fmt_shape(value.shape)}"
    elif isinstance(value, np.ndarray):
        text = f"array{fmt_shape(value.shape)}"
    elif isinstance(value, slice):
        parts = ["" if p is None else fmt_value(p, depth + 1) for p in (value.start, value.stop, value.step)]
        text = ":".join(parts[:2]) + (f":{parts[2]}" if value.step is not None else "")
    elif value is Ellipsis:
        text = "..."
    elif isinstance(value, (tuple, list)):
        items = [fmt_value(v, depth + 1) for v in value[:6]]
        if len(value) > 6:
            items.append(f"... {len(value)} items")
        inner = ", ".join(items)
        text = f"({inner},)" if isinstance(value, tuple) and len(value) == 1 else (
            f"({inner})" if isinstance(value, tuple) else f"[{inner}]")
    elif isinstance(value, (np.dtype, type)):
        text = getattr(value, "__name__", None) or fmt_dtype(value)
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {fmt_value(v, depth + 1)}" for k, v in list(value.items())[:4]) + "}"
    else:
        text = type(value).__name__
    if depth == 0 and len(text) > _MAX_VALUE_CHARS:
        text = text[:_MAX_VALUE_CHARS - 3] + "..."
    return text


# Window parameters of the conv and pool ops are stored expanded (stride=(2, 2),
# padding=((1, 1), (1, 1))); when every entry is the same number, PyTorch users write just that
# number, and so does the drawing.
WINDOW_PARAMS = frozenset({"stride", "padding", "dilation", "kernel_size", "output_padding"})


def fmt_param(name: str, value: Any) -> str:
    """``name=value`` for a label, window parameters shortened when uniform (stride=2)."""
    if name in WINDOW_PARAMS and isinstance(value, (tuple, list)):
        flat = list(_flatten(value))
        if flat and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in flat) \
                and len(set(int(v) for v in flat)) == 1:
            return f"{name}={int(flat[0])}"
    return f"{name}={fmt_value(value)}"


def _flatten(value: Any) -> Any:
    for v in value:
        if isinstance(v, (tuple, list)):
            yield from _flatten(v)
        else:
            yield v


def wrap_items(items: list[str], width: int = 30) -> list[str]:
    """Pack ``k=v`` items into lines of about ``width`` characters, so wide ops don't stretch."""
    lines: list[str] = []
    current = ""
    for item in items:
        if current and len(current) + 2 + len(item) > width:
            lines.append(current)
            current = item
        else:
            current = f"{current}, {item}" if current else item
    if current:
        lines.append(current)
    return lines


_ARG_NAMES: dict[Any, tuple[str, ...] | None] = {}


def arg_names(fn: Any) -> tuple[str, ...] | None:
    """Names of a Function's positional arguments, read from ``forward(ctx, ...)``; None for *args."""
    if fn in _ARG_NAMES:
        return _ARG_NAMES[fn]
    names: tuple[str, ...] | None
    try:
        params = list(inspect.signature(fn.forward).parameters.values())[1:]  # drop ctx
    except (TypeError, ValueError):
        names = None
    else:
        if any(p.kind == p.VAR_POSITIONAL for p in params):
            names = None
        else:
            names = tuple(p.name for p in params
                          if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    _ARG_NAMES[fn] = names
    return names


_QUIET: dict[Any, dict[str, Any]] = {}


def quiet_defaults(fn: Any) -> dict[str, Any]:
    """Keyword params whose default is None or False ("off"), from ``fn.forward`` and from the
    registered public function that records ``fn``: not worth a label line while they keep that
    default (``keepdim=False``, ``ceil_mode=False``); any other value is shown.
    """
    if fn in _QUIET:
        return _QUIET[fn]
    from ..ops.registry import registry

    signatures = []
    try:
        signatures.append(inspect.signature(fn.forward))
    except (TypeError, ValueError):
        pass
    for info in registry().values():
        if fn in info.node_types:
            signatures.append(info.signature)
    quiet: dict[str, Any] = {}
    for sig in signatures:
        for p in sig.parameters.values():
            if p.default is None or p.default is False:
                quiet.setdefault(p.name, p.default)
    _QUIET[fn] = quiet
    return quiet

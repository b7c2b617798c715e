"""Rendering: the drawing class, ``save`` by file suffix, and a clear error when ``dot`` is missing.

Building a drawing needs only the ``graphviz`` Python package (it writes DOT text). Turning the
DOT text into SVG, PNG or PDF runs the Graphviz ``dot`` program, which is a separate install.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import graphviz

__all__ = ["FORMATS", "GraphvizNotFoundError", "TapeGraph", "save"]

#: File suffixes :func:`save` understands and the Graphviz output format each one means.
FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}

INSTALL_HINT = ("Install Graphviz: on Debian/Ubuntu `sudo apt-get install graphviz`, on macOS "
                "`brew install graphviz`, on Windows the installer from graphviz.org (and add it to "
                "PATH). The DOT text needs no install: use graph.source, or save to a .dot file.")


class GraphvizNotFoundError(graphviz.ExecutableNotFound):
    """The Graphviz ``dot`` program is not on PATH, so a drawing cannot be rendered.

    A subclass of ``graphviz.ExecutableNotFound`` (and so of RuntimeError): code that already
    catches that keeps working.
    """

    def __init__(self, what: str) -> None:
        RuntimeError.__init__(
            self, f"{what}: the Graphviz `dot` program was not found on PATH, and it is needed to "
                  f"render a drawing to an image. {INSTALL_HINT}")


class TapeGraph(graphviz.Digraph):
    """A ``graphviz.Digraph`` whose rendering says how to install Graphviz when ``dot`` is missing.

    Everything else is graphviz's own: ``.source`` is the DOT text, and Jupyter shows it inline
    (through ``pipe``, so a missing ``dot`` gives the same clear error there).
    """

    def pipe(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().pipe(*args, **kwargs)
        except graphviz.ExecutableNotFound as exc:
            if isinstance(exc, GraphvizNotFoundError):
                raise
            raise GraphvizNotFoundError("pipe()") from exc

    def render(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().render(*args, **kwargs)
        except graphviz.ExecutableNotFound as exc:
            if isinstance(exc, GraphvizNotFoundError):
                raise
            raise GraphvizNotFoundError("render()") from exc


def save(graph: graphviz.Digraph, path: str | os.PathLike[str]) -> Path:
    """Write a drawing to ``path``; the suffix picks the format (.svg, .png, .pdf, or .dot / .gv).

    ``.dot`` writes the DOT text and needs no Graphviz program; the others run ``dot`` and raise
    :class:`GraphvizNotFoundError`, saying how to install it, when it is missing.

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv import viz
    >>> x = tc.Tensor([1.0, 2.0], requires_grad=True)
    >>> import tempfile, os
    >>> out = viz.save(viz.make_dot((x * x).sum()), os.path.join(tempfile.mkdtemp(), "g.dot"))
    >>> out.read_text().startswith("digraph")
    True
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"viz.save: cannot tell the format of {str(path)!r} from its suffix "
                         f"{path.suffix!r}; use one of {', '.join(FORMATS)}")
    if path.parent and not path.parent.exists():
        raise FileNotFoundError(f"viz.save: the folder {str(path.parent)!r} does not exist; create "
                                "it first")
    if fmt == "dot":
        path.write_text(graph.source, encoding="utf-8")
        return path
    try:
        data = graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound as exc:
        if isinstance(exc, GraphvizNotFoundError):
            raise GraphvizNotFoundError(f"viz.save({str(path)!r})") from exc.__cause__
        raise GraphvizNotFoundError(f"viz.save({str(path)!r})") from exc
    path.write_bytes(data)
    return path

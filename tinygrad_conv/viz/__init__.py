"""Seeing the tape: drawings of computation graphs, forward and backward, with Graphviz.

>>> import tinygrad_conv as tc
>>> from tinygrad_conv import viz
>>> w = tc.Tensor([1.0, 2.0], requires_grad=True)
>>> graph = viz.make_dot((w * 3).sum(), params={"w": w})
>>> graph.source.splitlines()[0]
'digraph tape {'

``graph`` is a ``graphviz.Digraph``: Jupyter shows it inline, ``viz.save(graph, "g.svg")`` writes
it (format from the suffix: .svg, .png, .pdf, .dot), ``graph.source`` is the DOT text.
"""

from .graph import draw, make_backward_dot, make_dot
from .render import FORMATS, GraphvizNotFoundError, TapeGraph, save

__all__ = ["FORMATS", "GraphvizNotFoundError", "TapeGraph", "draw", "make_backward_dot", "make_dot", "save"]

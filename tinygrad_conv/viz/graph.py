"""Drawing the tape: ``make_dot`` (the forward graph) and ``make_backward_dot`` (what backward ran).

The drawer reads only the structure the tape keeps (op name, params, edges, output shapes, module
scope), which outlives backward's release of saved arrays, so a graph can be drawn at any time.

What a drawing shows, and the node ids it uses (tests and tools can rely on them):

* ``op<seq>``: one rounded box per recorded op: name, parameters, output shape and dtype;
  grey in the forward graph, green for the tensors you asked to draw (the roots).
* ``leaf<k>``: one box per leaf tensor: name, shape, dtype, requires_grad; blue for parameters
  (named by ``params``), yellow for other leaves (inputs).
* ``const<k>``: a small dashed box per constant tensor argument (no gradient flows into it).
* ``mod<k>``: with ``collapse``, a 3-D box standing for a whole module, with its input and output
  shapes; modules are otherwise clusters labelled with their path (``features.0``).
* edges run from each input to the op that used it, one per argument, so ``x * x`` has two.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ..autograd.tape import Node, reachable_nodes
from ..tensor import Tensor
from .labels import (
    STYLE_BACKWARD_OP,
    STYLE_CLUSTER,
    STYLE_CONST,
    STYLE_FORWARD_REUSED,
    STYLE_INPUT,
    STYLE_MODULE,
    STYLE_OP,
    STYLE_OUTPUT,
    STYLE_PARAM,
    arg_names,
    esc,
    fmt_bytes,
    fmt_dtype,
    fmt_param,
    fmt_shape,
    fmt_value,
    html_label,
    quiet_defaults,
    small,
    wrap_items,
)
from .render import TapeGraph

__all__ = ["draw", "make_backward_dot", "make_dot"]

_RANKDIRS = ("TB", "LR", "BT", "RL")
Collapse = int | Iterable[str] | None


def make_dot(*roots: Any, params: Any = None, show_attrs: bool = True, show_saved: bool = False,
             show_grad: bool = False, collapse: Collapse = None, rankdir: str = "TB") -> TapeGraph:
    """Draw the graph that produced ``roots`` (Tensors) as a ``graphviz.Digraph``.

    ``params`` names tensors: a dict name -> Tensor, or a Module (its ``named_parameters()``).
    ``show_attrs`` lists each op's parameters (stride, padding ...); ``show_saved`` the arrays each
    op keeps for backward and their bytes; ``show_grad`` each leaf's ``.grad`` shape and norm.
    ``collapse`` draws whole modules as single nodes: an int depth (1 collapses ``features``,
    2 collapses ``features.0``) or a set of module paths. ``rankdir`` is Graphviz's direction
    ("TB" top to bottom, "LR" left to right).

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv import viz
    >>> w = tc.Tensor([[1.0, 2.0]], requires_grad=True)
    >>> x = tc.Tensor([[3.0], [4.0]])
    >>> g = viz.make_dot((w @ x).sum(), params={"w": w})
    >>> g.source.count(" -> ")   # w -> matmul, x (a constant) -> matmul, matmul -> sum
    3
    >>> "(1, 2) float32" in g.source and "<B>matmul</B>" in g.source
    True
    """
    return _Drawing(roots, params, show_attrs=show_attrs, show_saved=show_saved, show_grad=show_grad,
                    collapse=collapse, rankdir=rankdir, what="make_dot").build()


def draw(tensor: Tensor, **kwargs: Any) -> TapeGraph:
    """The drawing of the graph behind ``tensor`` (``make_dot(tensor, **kwargs)``); ``tensor.draw()``.

    In Jupyter the returned graph shows itself as an SVG picture.

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv import viz
    >>> x = tc.Tensor([1.0, 2.0], requires_grad=True)
    >>> viz.draw((x * 2).sum()).source.count("<B>")   # mul, sum
    2
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"viz.draw: expected a Tensor, got {type(tensor).__name__}")
    return make_dot(tensor, **kwargs)


def make_backward_dot(loss: Tensor, params: Any = None, inputs: Iterable[Tensor] | None = None,
                      show_attrs: bool = True, show_saved: bool = False, show_grad: bool = False,
                      collapse: Collapse = None, rankdir: str = "TB") -> TapeGraph:
    """Draw the ops that backward runs to compute the gradients of ``loss``.

    Runs ``grad(loss, inputs, create_graph=True)`` (``inputs``: by default every leaf of the graph
    that requires grad), so the backward pass is itself recorded, and draws the graph of the
    gradients: orange ops are the ones backward ran, faded dashed ops are forward ops whose outputs
    the backward rules re-used. The green boxes are the gradients, named ``grad of <name>``. For a
    conv layer this shows the conv_transpose2d that gives the input gradient, the weight-gradient
    op and the sum that gives the bias gradient. The forward graph is kept (not released).

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv import viz
    >>> x = tc.Tensor([1.0, 2.0], requires_grad=True)
    >>> g = viz.make_backward_dot((x * x).sum(), params={"x": x})
    >>> "grad of x" in g.source
    True
    """
    from ..autograd.engine import grad

    what = "make_backward_dot"
    if not isinstance(loss, Tensor):
        raise TypeError(f"{what}: loss must be a Tensor, got {type(loss).__name__}")
    if loss.grad_fn is None:
        raise ValueError(f"{what}: the loss (shape {loss.shape}) has no recorded graph: compute it "
                         "from tensors with requires_grad=True, outside no_grad()")
    forward = _gather([loss])
    released = [n for n in forward if n.released]
    if released:
        raise RuntimeError(
            f"{what}: the forward graph was already used by a backward pass that freed its saved "
            f"arrays (op '{released[0].name}'), so backward cannot run again to be drawn. Call "
            f"{what} before .backward(), or pass retain_graph=True to that backward.")
    names, _ = _param_names(params, what)
    if inputs is None:
        targets = _leaves_in_order(forward, [])
    else:
        targets = list(inputs)
        for k, t in enumerate(targets):
            if not isinstance(t, Tensor) or not t.requires_grad:
                raise ValueError(f"{what}: inputs[{k}] must be a Tensor that requires grad")
    if not targets:
        raise ValueError(f"{what}: the loss depends on no leaf that requires grad")
    grads = grad(loss, targets, create_graph=True, allow_unused=True)
    roots: list[Tensor] = []
    root_names: dict[int, list[str]] = {}
    unnamed = 0
    for t, g in zip(targets, grads):
        if g is None:
            continue
        name = names.get(id(t)) or t.name
        if name is None:
            name = f"input {unnamed}" if unnamed else "input"
            unnamed += 1
        roots.append(g)
        root_names.setdefault(id(g), []).append(f"grad of {name}")
    drawing = _Drawing(roots, params, show_attrs=show_attrs, show_saved=show_saved, show_grad=show_grad,
                       collapse=collapse, rankdir=rankdir, what=what,
                       forward_ids={id(n) for n in forward}, root_names=root_names)
    return drawing.build()


# --------------------------------------------------------------------------- walking the tape
def _gather(roots: list[Tensor]) -> list[Node]:
    """Every node reachable from the roots, in recording order (inputs before outputs)."""
    nodes = reachable_nodes([r.grad_fn for r in roots if r.grad_fn is not None])
    nodes.reverse()
    return nodes


def _leaves_in_order(nodes: list[Node], roots: list[Tensor]) -> list[Tensor]:
    """Leaf tensors in the order the ops first used them, then leaf roots."""
    found: dict[int, Tensor] = {}
    for node in nodes:
        for e in node.next:
            if e is not None and type(e) is not tuple:
                found.setdefault(id(e), e)
    for r in roots:
        if r.grad_fn is None:
            found.setdefault(id(r), r)
    return list(found.values())


def _flatten_roots(roots: tuple[Any, ...], what: str) -> list[Tensor]:
    out: list[Tensor] = []
    for k, r in enumerate(roots):
        items = r if isinstance(r, (list, tuple)) else [r]
        for item in items:
            if not isinstance(item, Tensor):
                raise TypeError(f"{what}: root {k} is a {type(item).__name__}; pass the Tensors to "
                                "draw (or lists/tuples of them), e.g. make_dot(loss)")
            out.append(item)
    if not out:
        raise ValueError(f"{what}: nothing to draw; pass at least one Tensor, e.g. make_dot(loss)")
    return out


def _param_names(params: Any, what: str) -> tuple[dict[int, str], dict[str, str]]:
    """(id(tensor) -> name, module path -> layer type name) from ``params``."""
    if params is None:
        return {}, {}
    modules: dict[str, str] = {}
    if hasattr(params, "named_parameters"):
        items = list(params.named_parameters())
        if hasattr(params, "module_types"):
            modules = {path: kind for path, kind in params.module_types().items() if path}
        elif hasattr(params, "named_modules"):
            modules = {path: type(m).__name__ for path, m in params.named_modules() if path}
    elif isinstance(params, Mapping):
        items = list(params.items())
    else:
        raise TypeError(f"{what}: params must be a dict name -> Tensor or a Module, got "
                        f"{type(params).__name__}")
    names: dict[int, str] = {}
    for name, t in items:
        if not isinstance(t, Tensor):
            raise TypeError(f"{what}: params[{name!r}] is a {type(t).__name__}, not a Tensor")
        names.setdefault(id(t), str(name))
    return names, modules


def _is_parameter(t: Tensor) -> bool:
    """A Module's Parameter (drawn as a parameter even when no ``params`` names it)."""
    from ..nn.module import Parameter

    return isinstance(t, Parameter)


def _module_paths(scopes: Iterable[str]) -> set[str]:
    """Every module path and all its ancestors ('a.b.c' -> a, a.b, a.b.c)."""
    out: set[str] = set()
    for s in scopes:
        if not s:
            continue
        parts = s.split(".")
        for k in range(1, len(parts) + 1):
            out.add(".".join(parts[:k]))
    return out


def _parent(path: str) -> str:
    return path.rsplit(".", 1)[0] if "." in path else ""


# --------------------------------------------------------------------------- building the DOT
def _stack_clusters(placed: dict[str, list[tuple[str, str, dict[str, str]]]],
                    edges: list[tuple[str, str, dict[str, str]]]) -> None:
    """Give edges that enter a module's cluster enough length that the cluster starts below the
    one the edge comes from.

    Without this, a layer's side inputs (its weight, and the transpose of it) sit on the same rank
    as the previous layer's output; Graphviz cannot let cluster boxes overlap, so it shifts every
    layer sideways and a model comes out as a wide diagonal staircase (seen in the LeNet PNG). An
    edge into node v of cluster C gets ``minlen = 1 + h(v)``, where h(v) is the longest chain of C's
    own nodes that ends at v: then all of v's in-cluster ancestors fit between the two clusters.
    """
    cluster = {node_id: path for path, items in placed.items() for node_id, _, _ in items}
    preds: dict[str, list[str]] = {}
    for src, dst, _ in edges:
        if cluster.get(src) == cluster.get(dst):
            preds.setdefault(dst, []).append(src)
    height: dict[str, int] = {}
    for start in preds:
        if start in height:
            continue
        # Iterative depth-first walk (a deep chain inside one module must not hit the recursion limit).
        stack = [(start, False)]
        while stack:
            v, ready = stack.pop()
            if v in height:
                continue
            ps = preds.get(v, [])
            if ready or all(p in height for p in ps):
                height[v] = 1 + max((height[p] for p in ps), default=-1)
            else:
                stack.append((v, True))
                stack.extend((p, False) for p in ps if p not in height)
    for src, dst, attrs in edges:
        c = cluster.get(dst, "")
        if c and cluster.get(src, "") != c and height.get(dst, 0) > 0:
            attrs["minlen"] = str(height[dst] + 1)


class _Drawing:
    """One drawing being built; all the bookkeeping of make_dot and make_backward_dot."""

    def __init__(self, roots: Any, params: Any, *, show_attrs: bool, show_saved: bool, show_grad: bool,
                 collapse: Collapse, rankdir: str, what: str, forward_ids: set[int] | None = None,
                 root_names: dict[int, list[str]] | None = None) -> None:
        if rankdir not in _RANKDIRS:
            raise ValueError(f"{what}: rankdir must be one of {', '.join(_RANKDIRS)}, got {rankdir!r}")
        self.what = what
        self.roots = _flatten_roots(roots if isinstance(roots, tuple) else (roots,), what)
        self.names, self.module_types = _param_names(params, what)
        self.show_attrs, self.show_saved, self.show_grad = show_attrs, show_saved, show_grad
        self.rankdir = rankdir
        self.forward_ids = forward_ids
        self.nodes = _gather(self.roots)
        self.leaves = _leaves_in_order(self.nodes, self.roots)
        self.scopes = _module_paths(getattr(n, "scope", "") for n in self.nodes)
        self.group_of = self._collapse_groups(collapse)
        self.collapsed = set(self.group_of.values())

        # Names of non-leaf outputs: roots of make_backward_dot, and non-leaf tensors in params.
        self.out_names: dict[tuple[int, int], list[str]] = {}
        root_names = root_names or {}
        self.root_outputs: set[tuple[int, int]] = set()
        self.leaf_root_names: dict[int, list[str]] = {}
        for r in self.roots:
            labels = list(root_names.get(id(r), []))
            if r.grad_fn is None:
                self.leaf_root_names.setdefault(id(r), []).extend(labels)
                continue
            key = (id(r.grad_fn), r._out_idx)
            self.root_outputs.add(key)
            for lab in labels:
                if lab not in self.out_names.setdefault(key, []):
                    self.out_names[key].append(lab)
        if isinstance(params, Mapping):
            for name, t in params.items():
                if isinstance(t, Tensor) and t.grad_fn is not None:
                    self.out_names.setdefault((id(t.grad_fn), t._out_idx), []).append(str(name))

    # ------------------------------------------------------------------ collapse
    def _collapse_groups(self, collapse: Collapse) -> dict[int, str]:
        """id(node) -> module path of the collapsed module it belongs to (absent: drawn as itself)."""
        if collapse is None:
            return {}
        if isinstance(collapse, bool) or not (isinstance(collapse, int) or isinstance(collapse, Iterable)):
            raise TypeError(f"{self.what}: collapse must be an int depth or a set of module paths, "
                            f"got {collapse!r}")
        if isinstance(collapse, str):
            raise TypeError(f"{self.what}: collapse takes a set of module paths, e.g. "
                            f"collapse={{{collapse!r}}}, not a single string")
        if isinstance(collapse, int):
            if collapse < 1:
                raise ValueError(f"{self.what}: collapse depth must be >= 1 (1 collapses top-level "
                                 f"modules), got {collapse}")
            depth = collapse

            def key(scope: str) -> str | None:
                parts = scope.split(".")
                return ".".join(parts[:depth]) if len(parts) >= depth else None
        else:
            wanted = set(collapse)
            unknown = sorted(w for w in wanted if w not in self.scopes)
            if unknown:
                known = ", ".join(sorted(self.scopes)[:30]) or "(none: no op was recorded in a Module)"
                raise ValueError(f"{self.what}: collapse names module path(s) {unknown} that recorded "
                                 f"no op in this graph; module paths here: {known}")

            def key(scope: str) -> str | None:
                parts = scope.split(".")
                for k in range(1, len(parts) + 1):  # outermost first: it contains the inner ones
                    p = ".".join(parts[:k])
                    if p in wanted:
                        return p
                return None

        cache: dict[str, str | None] = {}
        groups: dict[int, str] = {}
        for node in self.nodes:
            scope = getattr(node, "scope", "")
            if not scope:
                continue
            if scope not in cache:
                cache[scope] = key(scope)
            g = cache[scope]
            if g is not None:
                groups[id(node)] = g
        return groups

    def _visible_cluster(self, path: str) -> str:
        """The cluster a node of module ``path`` is drawn in: none for paths no op ran in, and the
        parent of a collapsed module for anything inside it (its own cluster is not drawn)."""
        if path not in self.scopes:
            return ""
        for g in self.collapsed:
            if path == g or path.startswith(g + "."):
                return _parent(g)
        return path

    # ------------------------------------------------------------------ labels
    def _param_lines(self, node: Node) -> list[str]:
        """The op's parameters and plain-value arguments, as escaped label lines."""
        quiet = quiet_defaults(node.fn)
        items = [fmt_param(k, v) for k, v in node.params.items() if not (k in quiet and v is quiet[k])]
        names = arg_names(node.fn)
        for i, meta in enumerate(node.input_meta):
            if meta is not None and meta[0] == "value" and meta[1] is not None:
                arg = names[i] if names is not None and i < len(names) else f"arg{i}"
                items.append(f"{arg}={fmt_value(meta[1])}")
        return [esc(line) for line in wrap_items(items)]

    def _op_label(self, node: Node) -> str:
        lines = [f"<B>{esc(node.name)}</B>"]
        if self.show_attrs:
            lines += self._param_lines(node)
        multi = len(node.out_meta) > 1
        for i, (shape, dtype) in enumerate(node.out_meta):
            text = f"{fmt_shape(shape)} {fmt_dtype(dtype)}"
            if multi:
                text = f"[{i}] {text}"
            lines.append(small(esc(text)))
            for name in self.out_names.get((id(node), i), []):
                lines.append(f"<B>{esc(name)}</B>")
        if self.show_saved:
            lines += self._saved_lines(node)
        return html_label(lines)

    def _saved_lines(self, node: Node) -> list[str]:
        """What the op keeps for backward: each saved array's role, shape and bytes, and the total."""
        if node.released:
            return [small("saved: freed by backward", "#8a3b12")]
        ctx = node.ctx
        names = arg_names(node.fn)
        rows: list[tuple[str, tuple[int, ...], Any, int]] = []
        for entry in ctx.saved_entries():
            if entry.kind == "input":
                t = entry.value
                rows.append((self._saved_role(node, t, names), t.shape, t.dtype, t._data.nbytes))
            elif entry.kind == "output":
                arr, idx = entry.value
                role = "output" if len(node.out_meta) == 1 else f"output {idx}"
                rows.append((role, arr.shape, arr.dtype, arr.nbytes))
            elif entry.kind == "constant":
                rows.append(("array", entry.value.shape, entry.value.dtype, entry.value.nbytes))
        for attr, value in vars(ctx).items():
            if attr.startswith("_") or attr == "needs_input_grad":
                continue
            arr = value._data if isinstance(value, Tensor) else value
            if isinstance(arr, np.ndarray):
                rows.append((f"ctx.{attr}", arr.shape, arr.dtype, arr.nbytes))
        if not rows:
            return [small("saved: nothing")]
        out = [small(esc(f"saved {role}: {fmt_shape(s)} {fmt_dtype(d)}, {fmt_bytes(b)}"), "#8a3b12")
               for role, s, d, b in rows]
        if len(rows) > 1:
            out.append(small(esc(f"saved total {fmt_bytes(sum(r[3] for r in rows))}"), "#8a3b12"))
        return out

    def _saved_role(self, node: Node, t: Tensor, names: tuple[str, ...] | None) -> str:
        """Which argument a saved tensor is (e.g. 'weight'): by identity, by its node, or for a
        constant argument (which the tape keeps no reference to) by its shape and dtype."""
        def arg(i: int) -> str:
            return names[i] if names is not None and i < len(names) else f"arg{i}"

        for i, e in enumerate(node.next):
            hit = (e is t) if type(e) is not tuple else (t.grad_fn is e[0] and t._out_idx == e[1])
            if hit:
                return arg(i)
        for i, meta in enumerate(node.input_meta):
            if meta is not None and meta[0] == "const" and meta[1] == t.shape and meta[2] == t.dtype:
                return arg(i)
        return "tensor"

    def _leaf_label(self, t: Tensor) -> tuple[str, dict[str, str]]:
        name = self.names.get(id(t)) or t.name
        lines = []
        if name:
            lines.append(f"<B>{esc(name)}</B>")
        lines.append(small(esc(f"{fmt_shape(t.shape)} {fmt_dtype(t.dtype)}")))
        lines.append(small(f"requires_grad={t.requires_grad}"))
        for extra in self.leaf_root_names.get(id(t), []):
            lines.append(f"<B>{esc(extra)}</B>")
        if self.show_grad:
            g = t.grad
            if g is None:
                lines.append(small("grad: None", "#8a3b12"))
            else:
                norm = float(np.linalg.norm(np.asarray(g._data, dtype=np.float64).ravel()))
                lines.append(small(esc(f"grad {fmt_shape(g.shape)}, norm {norm:.4g}"), "#8a3b12"))
        if id(t) in self.leaf_root_names:
            style = STYLE_OUTPUT
        elif id(t) in self.names or _is_parameter(t):
            style = STYLE_PARAM
        else:
            style = STYLE_INPUT
        return html_label(lines), style

    def _op_style(self, node: Node, is_root: bool) -> dict[str, str]:
        if is_root:
            return STYLE_OUTPUT
        if self.forward_ids is None:
            return STYLE_OP
        return STYLE_FORWARD_REUSED if id(node) in self.forward_ids else STYLE_BACKWARD_OP

    # ------------------------------------------------------------------ assembly
    def build(self) -> TapeGraph:
        graph = TapeGraph(
            name="tape",
            # ordering=in keeps each op's inputs left to right in argument order (conv2d: input,
            # weight, bias), which makes non-commutative ops readable.
            graph_attr={"rankdir": self.rankdir, "fontname": "Helvetica", "nodesep": "0.25",
                        "ranksep": "0.3", "newrank": "true", "ordering": "in"},
            node_attr={"fontname": "Helvetica", "fontsize": "11", "margin": "0.1,0.04", "height": "0.3"},
            edge_attr={"arrowsize": "0.6", "color": "#606060"},
        )
        # Statements per cluster path ('' = top level); clusters are assembled at the end.
        placed: dict[str, list[tuple[str, str, dict[str, str]]]] = {}
        edges: list[tuple[str, str, dict[str, str]]] = []

        def put(path: str, node_id: str, label: str, style: dict[str, str]) -> None:
            placed.setdefault(path, []).append((node_id, label, style))

        group_ids: dict[str, str] = {}
        group_members: dict[str, list[Node]] = {}
        for node in self.nodes:
            g = self.group_of.get(id(node))
            if g is not None:
                if g not in group_ids:
                    group_ids[g] = f"mod{len(group_ids)}"
                group_members.setdefault(g, []).append(node)

        def node_id(node: Node) -> str:
            g = self.group_of.get(id(node))
            return group_ids[g] if g is not None else f"op{node.seq}"

        # Leaves: a parameter used only inside one collapsed module is drawn as part of it.
        leaf_ids: dict[int, str] = {}
        consumers: dict[int, set[str]] = {}
        for node in self.nodes:
            for e in node.next:
                if e is not None and type(e) is not tuple:
                    consumers.setdefault(id(e), set()).add(node_id(node))
        absorbed: dict[str, list[Tensor]] = {}
        group_of_id = {v: k for k, v in group_ids.items()}
        for t in self.leaves:
            name = self.names.get(id(t))
            users = consumers.get(id(t), set())
            if self.group_of and name is not None and len(users) == 1:
                (user,) = users
                g = group_of_id.get(user)
                if g is not None and name.startswith(g + "."):
                    absorbed.setdefault(g, []).append(t)
                    continue
            leaf_ids[id(t)] = f"leaf{len(leaf_ids)}"
            label, style = self._leaf_label(t)
            path = _parent(name) if name else ""
            put(self._visible_cluster(path), leaf_ids[id(t)], label, style)

        def source(e: Any) -> tuple[str, int, int] | None:
            """(dot id, output index, number of outputs) of an edge's source; None if absorbed."""
            if type(e) is tuple:
                floats = sum(1 for _, dt in e[0].out_meta if np.dtype(dt).kind in "fc")
                return node_id(e[0]), e[1], floats
            lid = leaf_ids.get(id(e))
            return (lid, 0, 1) if lid is not None else None

        # Ops drawn as themselves.
        n_const = 0
        for node in self.nodes:
            if id(node) in self.group_of:
                continue
            nid = f"op{node.seq}"
            is_root = any((id(node), i) in self.root_outputs for i in range(len(node.out_meta)))
            scope = getattr(node, "scope", "")
            put(scope, nid, self._op_label(node), self._op_style(node, is_root))
            faded = self.forward_ids is not None and id(node) in self.forward_ids
            for i, e in enumerate(node.next):
                if e is None:
                    meta = node.input_meta[i] if i < len(node.input_meta) else None
                    if meta is not None and meta[0] == "const":
                        cid = f"const{n_const}"
                        n_const += 1
                        put(scope, cid, html_label([esc(f"const {fmt_shape(meta[1])} {fmt_dtype(meta[2])}")]),
                            STYLE_CONST)
                        edges.append((cid, nid, {"style": "dashed", "color": "#9a9a9a"}))
                    continue
                src = source(e)
                if src is None:
                    continue
                attrs: dict[str, str] = {}
                if src[2] > 1:  # only ops with several differentiable outputs need to say which
                    attrs["taillabel"] = f"[{src[1]}]"
                    attrs["fontsize"] = "8"
                if faded or (type(e) is tuple and self.forward_ids is not None
                             and id(e[0]) in self.forward_ids):
                    attrs["color"] = "#b0b0b0"
                edges.append((src[0], nid, attrs))

        # Collapsed modules: one node each, edges crossing their border drawn once.
        seen_edges: set[tuple[str, str]] = set()
        outputs_of: dict[str, dict[tuple[int, int], tuple[int, ...]]] = {g: {} for g in group_ids}
        for node in self.nodes:
            dst = node_id(node)
            dst_group = self.group_of.get(id(node))
            for e in node.next:
                if type(e) is tuple:
                    g = self.group_of.get(id(e[0]))
                    if g is not None and g != dst_group:
                        outputs_of[g][(id(e[0]), e[1])] = e[0].out_meta[e[1]][0]
                if dst_group is None:
                    continue  # edges into plain ops were drawn above
                if e is None:
                    continue
                src = source(e)
                if src is None or src[0] == dst or (src[0], dst) in seen_edges:
                    continue
                seen_edges.add((src[0], dst))
                edges.append((src[0], dst, {}))
        for g, members in group_members.items():
            for node in members:
                for i in range(len(node.out_meta)):
                    if (id(node), i) in self.root_outputs:
                        outputs_of[g][(id(node), i)] = node.out_meta[i][0]
            label = self._group_label(g, members, outputs_of[g], absorbed.get(g, []))
            is_root = any((id(n), i) in self.root_outputs for n in members for i in range(len(n.out_meta)))
            if is_root:
                style = {**STYLE_OUTPUT, "shape": "box3d", "style": "filled,bold"}
            elif self.forward_ids is not None and all(id(n) in self.forward_ids for n in members):
                style = {**STYLE_FORWARD_REUSED, "shape": "box3d", "style": "dashed,filled"}
            else:
                style = STYLE_MODULE
            put(_parent(g), group_ids[g], label, style)

        self._assemble(graph, placed)
        _stack_clusters(placed, edges)
        for src_id, dst_id, attrs in edges:
            graph.edge(src_id, dst_id, **attrs)
        if self.forward_ids is not None:
            self._legend(graph)
        return graph

    def _group_label(self, g: str, members: list[Node], outputs: dict[tuple[int, int], tuple[int, ...]],
                     params: list[Tensor]) -> str:
        title = f"<B>{esc(g)}</B>"
        if g in self.module_types:
            title += " " + esc(self.module_types[g])
        ops: list[str] = []
        for n in members:
            if n.name not in ops:
                ops.append(n.name)
        op_text = ", ".join(ops[:4]) + (", ..." if len(ops) > 4 else "")
        lines = [title, small(esc(f"{op_text} ({len(members)} op{'s' if len(members) != 1 else ''})"))]
        if self.show_attrs and len(members) == 1:
            # A one-op layer (conv, pool) is defined by its parameters: keep them visible.
            lines += [small(line) for line in self._param_lines(members[0])]
        member_ids = {id(n) for n in members}
        ins: list[tuple[int, ...]] = []
        seen: set[tuple[int, int]] = set()
        absorbed_ids = {id(t) for t in params}
        for n in members:
            for e in n.next:
                if type(e) is tuple:
                    if id(e[0]) in member_ids or (id(e[0]), e[1]) in seen:
                        continue
                    seen.add((id(e[0]), e[1]))
                    ins.append(e[0].out_meta[e[1]][0])
                elif e is not None and id(e) not in absorbed_ids and (id(e), -1) not in seen:
                    seen.add((id(e), -1))
                    ins.append(e.shape)
            # Constant arguments (often the model's input batch) are drawn as part of the module,
            # but their shapes belong in its "in" line.
            for meta in n.input_meta:
                if meta is not None and meta[0] == "const":
                    ins.append(meta[1])
        if ins:
            lines.append(small(esc("in " + ", ".join(fmt_shape(s) for s in ins))))
        if outputs:
            lines.append(small(esc("out " + ", ".join(fmt_shape(s) for s in outputs.values()))))
        if params:
            count = sum(int(t._data.size) for t in params)
            lines.append(small(esc(f"{len(params)} param{'s' if len(params) != 1 else ''}, "
                                   f"{count:,} values")))
        for key in outputs:
            for name in self.out_names.get(key, []):
                lines.append(f"<B>{esc(name)}</B>")
        return html_label(lines)

    def _assemble(self, graph: TapeGraph, placed: dict[str, list[tuple[str, str, dict[str, str]]]]) -> None:
        """Write nodes into nested clusters, one per module path, innermost attached first."""
        import graphviz

        for node_id, label, style in placed.get("", []):
            graph.node(node_id, label=label, **style)
        # Clusters in the order their modules first appear (features.2 before features.10).
        order: dict[str, int] = {}
        for p in placed:
            for q in sorted(_module_paths([p]), key=lambda q: q.count(".")):
                order.setdefault(q, len(order))
        paths = list(order)
        if not paths:
            return
        subs: dict[str, Any] = {}
        for p in paths:
            label = esc(p)
            if p in self.module_types:
                label += f" <I>{esc(self.module_types[p])}</I>"
            sub = graphviz.Digraph(name=f"cluster_{p}", graph_attr={"label": f"<{label}>", **STYLE_CLUSTER})
            for node_id, nlabel, style in placed.get(p, []):
                sub.node(node_id, label=nlabel, **style)
            subs[p] = sub
        # Innermost first: a subgraph's text is copied into its parent when attached.
        for p in sorted(paths, key=lambda q: (-q.count("."), order[q])):
            parent = _parent(p)
            (subs[parent] if parent else graph).subgraph(subs[p])

    def _legend(self, graph: TapeGraph) -> None:
        """A small key for the backward graph's colours."""
        rows = [(STYLE_BACKWARD_OP, "op run by backward"),
                (STYLE_FORWARD_REUSED, "forward op re-used (dashed)"),
                (STYLE_OUTPUT, "gradient (result)"),
                (STYLE_PARAM, "parameter"),
                (STYLE_INPUT, "input")]
        # Each swatch has its style's border colour: the pale forward grey is invisible without it.
        cells = "".join(f'<TR><TD BGCOLOR="{st["fillcolor"]}" COLOR="{st["color"]}" BORDER="1" WIDTH="14">'
                        f'</TD><TD ALIGN="LEFT">{esc(t)}</TD></TR>' for st, t in rows)
        graph.node("legend", label=f'<<TABLE BORDER="0" CELLSPACING="2" CELLPADDING="2">{cells}</TABLE>>',
                   shape="plaintext", fontsize="9")

"""The backward engine: walk the tape in reverse recording order and run each node's rule.

No recursion: the nodes that hold a gradient wait in a heap and run in decreasing sequence number,
which is a topological order (see tape.py), so each runs once, after all its consumers. Each node's incoming
gradients are summed before its rule runs; leaf gradients are summed over the whole pass, then
hooks run and ``.grad`` accumulates, as in PyTorch.
"""

from __future__ import annotations

from collections.abc import Sequence
from heapq import heappop, heappush
from typing import Any

import numpy as np

from ..tensor import Tensor
from .grad_mode import _set, is_grad_enabled
from .tape import Node, anomaly_checks_nan, reachable_nodes
from .tape import _anomaly_state as anomaly


def _root_grad(root: Tensor, gradient: Any, index: int) -> Tensor:
    if not root._requires_grad:
        raise RuntimeError(
            f"element {index} of tensors does not require grad and does not have a grad_fn: "
            "nothing recorded how it was computed. Create the inputs with requires_grad=True "
            "(and outside no_grad) before computing it.")
    if gradient is None:
        if root._data.size != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for scalar outputs; this output has shape "
                f"{root.shape}. Pass gradient= (a tensor of shape {root.shape}) or reduce it first, "
                "e.g. y.sum().backward()")
        return Tensor._wrap(np.ones_like(root._data))
    if not isinstance(gradient, Tensor):
        gradient = Tensor(np.asarray(gradient, dtype=root.dtype))
    if gradient.shape != root.shape:
        raise RuntimeError(f"Mismatch in shape: grad_output[{index}] has a shape of {gradient.shape} and "
                           f"output[{index}] has a shape of {root.shape}. Pass backward's `gradient` "
                           "(grad()'s `grad_outputs`) shaped like the output.")
    if gradient.dtype != root.dtype:
        if gradient.dtype.kind not in "biuf":
            raise TypeError(f"backward: the `gradient` argument for output[{index}] has dtype "
                            f"{gradient.dtype}; it must be numeric (it is cast to the output's {root.dtype})")
        gradient = gradient.to(root.dtype)  # as PyTorch: the seed takes the output's dtype
    return gradient


def _fit(grad: Any, node: Node, i: int, target_shape: tuple[int, ...], target_dtype: np.dtype) -> Tensor:
    """Check one gradient a rule returned and sum it down to the input's shape (the one place)."""
    from ..ops.reduce import sum_to_size

    op = node.fn.name
    if not isinstance(grad, Tensor):
        raise TypeError(
            f"backward of '{op}' returned a {type(grad).__name__} as the gradient for input {i}; "
            "it must return Tensors (or None). Wrap arrays as Tensor(array), or better, compute "
            "the gradient with Tensor ops so it can be differentiated again." + _recorded_at(node))
    if grad.shape != target_shape:
        if not _expandable(target_shape, grad.shape):
            raise RuntimeError(
                f"backward of '{op}' returned a gradient of shape {grad.shape} for input {i}, "
                f"expected shape {target_shape} (the shape of that input, or one it broadcasts to)."
                " Return a gradient shaped like the input: sum over the dims the forward broadcast"
                " or reduced, reshape what it reshaped." + _recorded_at(node))
        grad = sum_to_size(grad, target_shape)
    if grad.dtype != target_dtype:
        if node.fn.promotes_dtypes and grad.dtype.kind == "f" and target_dtype.kind == "f":
            grad = grad.to(target_dtype)
        else:
            raise RuntimeError(
                f"backward of '{op}' returned a gradient of dtype {grad.dtype} for input {i}, "
                f"expected {target_dtype} (the dtype of that input). Cast it with .to(dtype)."
                + _recorded_at(node))
    return grad


def _expandable(shape: tuple[int, ...], to: tuple[int, ...]) -> bool:
    if len(shape) > len(to):
        return False
    for s, t in zip(reversed(shape), reversed(to)):
        if s != t and s != 1:
            return False
    return True


def _add(a: Tensor | None, b: Tensor) -> Tensor:
    if a is None:
        return b
    if is_grad_enabled():
        return a + b
    return Tensor._wrap(a._data + b._data)


def _run_hooks(hooks: list[Any], grad: Tensor) -> Tensor:
    for hook in list(hooks):
        out = hook(grad)
        if out is not None:
            grad = out
    return grad


def run_backward(roots: Sequence[Tensor], grads: Sequence[Any], retain_graph: bool | None,
                 create_graph: bool, inputs: Sequence[Tensor] | None = None,
                 allow_unused: bool = False) -> tuple[Tensor | None, ...] | None:
    """Shared by ``Tensor.backward`` (inputs=None: accumulate into leaves) and ``grad``.

    The whole algorithm is the loop below; each step is a method of :class:`_Pass`.
    """
    if retain_graph is None:
        retain_graph = create_graph
    for t in (*roots, *(inputs or ())):
        t._sync()  # a view whose base changed in place takes the base's new history first
    run = _Pass(roots, [_root_grad(r, g, i) for i, (r, g) in enumerate(zip(roots, grads))], inputs)
    prev_mode = is_grad_enabled()
    _set(create_graph)  # with create_graph the rules' ops are recorded too
    ready, pending = run.ready, run.pending
    # grad() with inputs captures gradients and skips the nodes on no path to its inputs: every
    # node then goes through _observe. Otherwise only those with tensor hooks or retain_grad do
    # (read here, in the loop: a per-node call for the commonest case, nothing to see, costs more).
    watching = bool(run.capture) or run.needed is not None
    try:
        while ready:
            node = heappop(ready)[1]  # the latest recorded of the nodes holding a gradient
            outs = pending.pop(node)  # (each node enters the heap once, with its pending slots)
            if watching or node.out_hooks or node.retained:
                seen = run.observe(node, outs)
                if seen is None:  # grad() needs nothing from this node
                    continue
                outs = seen
            run.send(node, run.call_rule(node, outs))
            if not retain_graph:
                node.released = True  # (Node.release, inline: this runs for every node)
                node.ctx.release()
        if inputs is None:
            run.accumulate_into_leaves(create_graph)
    finally:
        _set(prev_mode)
    return None if inputs is None else run.results(inputs, allow_unused)


class _Pass:
    """The state of one backward pass: the gradients still travelling, and what to capture.

    Nodes hash by identity, so they key the dicts directly; tensors (whose == is elementwise) are
    keyed by id().
    """

    def __init__(self, roots: Sequence[Tensor], root_grads: list[Tensor],
                 inputs: Sequence[Tensor] | None) -> None:
        self.pending: dict[Node, list[Any]] = {}  # node -> one summed gradient per output
        self.leaf_sum: dict[int, list[Any]] = {}  # id(leaf) -> [leaf, summed gradient]
        # The nodes that hold a gradient, keyed by decreasing sequence number: the next to run is
        # always the latest recorded of them, and by then every node recorded after it (every
        # consumer of its outputs) has run, since each of those was reached from a root through
        # nodes recorded later still (PyTorch's ready queue does the same on the CPU).
        self.ready: list[tuple[int, Node]] = []
        root_nodes = []
        for r, g in zip(roots, root_grads):
            if r._grad_fn is None:
                self._add_to_leaf(r, g)
            else:
                root_nodes.append(r._grad_fn)
                self._add_to_node(r._grad_fn, r._out_idx, g)
        # For grad(): the (node, output) pairs and leaves whose gradients are the results, and the
        # nodes on a path to one of them (the others need not run).
        self.capture: dict[tuple[Node, int], int] = {}
        self.leaf_targets: dict[int, int] = {}
        self.needed: set[Node] | None = None
        self.captured: list[Tensor | None] = []
        if inputs is not None:
            self._plan(reachable_nodes(root_nodes), inputs)

    def _plan(self, nodes: list[Node], inputs: Sequence[Tensor]) -> None:
        for k, t in enumerate(inputs):
            if t._grad_fn is None:
                self.leaf_targets[id(t)] = k
            else:
                self.capture[(t._grad_fn, t._out_idx)] = k
        needed: set[Node] = set()
        for node in reversed(nodes):  # inputs before outputs
            for e in node.next:  # ((Node, index) pairs: the capture's keys)
                if (type(e) is tuple and (e[0] in needed or e in self.capture)) or \
                        (e is not None and type(e) is not tuple and id(e) in self.leaf_targets):
                    needed.add(node)
                    break
        self.needed = needed
        self.captured = [None] * len(inputs)

    def _add_to_node(self, node: Node, i: int, g: Tensor) -> None:
        slots = self.pending.get(node)
        if slots is None:
            slots = self.pending[node] = [None] * len(node.out_meta)
            heappush(self.ready, (-node.seq, node))
        slots[i] = g if slots[i] is None else _add(slots[i], g)

    def _add_to_leaf(self, leaf: Tensor, g: Tensor) -> None:
        slot = self.leaf_sum.get(id(leaf))
        if slot is None:
            self.leaf_sum[id(leaf)] = [leaf, g]
        else:
            slot[1] = _add(slot[1], g)

    def observe(self, node: Node, outs: list[Any]) -> list[Any] | None:
        """``node``'s summed output gradients after the tensor hooks, retain_grad and grad()'s
        capture have seen them; None if the node is on no path to grad()'s inputs (its rule need
        not run)."""
        if node.out_hooks or node.retained or self.capture:
            self._observe(node, outs)
        if self.needed is not None and node not in self.needed:
            return None
        return outs

    def _observe(self, node: Node, outs: list[Any]) -> None:
        """What sees a node's output gradients before its rule: hooks (which may replace them),
        retain_grad, grad()'s capture."""
        if node.out_hooks:
            for i, hooks in node.out_hooks.items():
                if outs[i] is not None:
                    outs[i] = _run_hooks(hooks, outs[i])
        if node.retained:
            for i, ref in node.retained.items():
                t = ref()
                if t is not None and outs[i] is not None:
                    t.grad = outs[i] if t.grad is None else _add(t.grad, outs[i])
        if self.capture:
            for i, g in enumerate(outs):
                k = self.capture.get((node, i))
                if k is not None:
                    self.captured[k] = g

    def call_rule(self, node: Node, outs: list[Any]) -> tuple[Any, ...]:
        """Run ``node``'s backward rule: one gradient (or None) per positional input."""
        if node.released:
            raise RuntimeError(
                f"Trying to backward through the graph a second time (op '{node.name}'): its "
                "saved arrays were freed after the first backward. Pass retain_graph=True to "
                "the first .backward() or grad() call if you need to backward through it again.")
        # An output nobody used has a zero gradient (unless the Function asked for None).
        # (a plain "None in outs" would compare Tensors elementwise)
        if (outs[0] is None if len(outs) == 1 else any(g is None for g in outs)) and \
                node.ctx._materialize_grads:
            for i, g in enumerate(outs):
                if g is None:
                    shape, dtype = node.out_meta[i]
                    outs[i] = Tensor._wrap(np.zeros(shape, dtype=dtype))
        # The common outcome (a tuple of the right length) is checked inline; anything else goes
        # through _normalise for the explanation. In anomaly mode (node.trace set), _call_rule also
        # says where a failing op was recorded.
        if node.trace is None:
            in_grads = node.fn.backward(node.ctx, *outs)
            if type(in_grads) is not tuple or len(in_grads) != len(node.edges):
                in_grads = _normalise(node, in_grads)
            return in_grads
        return _call_rule(node, outs)

    def send(self, node: Node, in_grads: tuple[Any, ...]) -> None:
        """Add each input gradient to where it goes: the producing node's slot, or the leaf's sum."""
        check_finite = anomaly["enabled"]
        pending = self.pending
        for i, e in enumerate(node.edges):  # (see Node: a Node, a (Node, index) pair, a leaf, None)
            g = in_grads[i]
            if e is None or g is None:
                continue
            if type(e) is not Node:
                self._send_elsewhere(node, i, e, g, check_finite)
                continue
            # To a node's output 0, the commonest edge: inline, as _send_elsewhere would do it
            # (this runs for every edge of every node). The common gradient, a Tensor of exactly
            # the input's shape and dtype, is checked inline; any other goes through _fit, which
            # sums broadcasts or explains.
            shape, dtype = e.out_meta[0]
            data = g._data if type(g) is Tensor else None
            if data is None or data.shape != shape or (data.dtype is not dtype and data.dtype != dtype):
                g = _fit(g, node, i, shape, dtype)
            if check_finite:
                _check_finite(node, i, g)
            slots = pending.get(e)
            if slots is None:
                n = len(e.out_meta)
                pending[e] = [g] if n == 1 else [g] + [None] * (n - 1)
                heappush(self.ready, (-e.seq, e))
            else:
                slots[0] = g if slots[0] is None else _add(slots[0], g)

    def _send_elsewhere(self, node: Node, i: int, e: Any, g: Any, check_finite: bool) -> None:
        """send() for an edge to a ``(Node, output index)`` pair or to a leaf Tensor."""
        if type(e) is tuple:
            shape, dtype = e[0].out_meta[e[1]]
        else:
            shape, dtype = e._data.shape, e._data.dtype
        if type(g) is not Tensor or g._data.shape != shape or g._data.dtype != dtype:
            g = _fit(g, node, i, shape, dtype)
        if check_finite:
            _check_finite(node, i, g)
        if type(e) is tuple:
            self._add_to_node(e[0], e[1], g)
        else:
            self._add_to_leaf(e, g)

    def accumulate_into_leaves(self, create_graph: bool) -> None:
        """``.backward()``'s end: leaf hooks, then ``leaf.grad += gradient``."""
        for leaf, g in self.leaf_sum.values():
            if leaf._hooks:
                g = _run_hooks(leaf._hooks, g)
            if leaf.grad is None:
                leaf.grad = g if create_graph else g.detach()
            else:
                leaf.grad = _add(leaf.grad, g)

    def results(self, inputs: Sequence[Tensor], allow_unused: bool) -> tuple[Tensor | None, ...]:
        """``grad()``'s answer: the gradient of each input, in order."""
        for leaf, g in self.leaf_sum.values():
            k = self.leaf_targets.get(id(leaf))
            if k is not None:
                self.captured[k] = g
        for k, (t, res) in enumerate(zip(inputs, self.captured)):
            if res is None and not allow_unused:
                raise RuntimeError(
                    f"One of the differentiated Tensors (inputs[{k}], shape {t.shape}) appears to not "
                    "have been used in the graph. Set allow_unused=True if this is the desired behavior.")
        return tuple(self.captured)


def _call_rule(node: Node, outs: list[Any]) -> tuple[Any, ...]:
    try:
        in_grads = node.fn.backward(node.ctx, *outs)
    except Exception as exc:
        if node.trace is not None:
            raise RuntimeError(
                f"anomaly: backward of '{node.name}' (node #{node.seq}) failed with "
                f"{type(exc).__name__}: {exc}\nThe op was recorded here:\n" + "".join(node.trace)
            ) from exc
        raise
    return _normalise(node, in_grads)


def _normalise(node: Node, in_grads: Any) -> tuple[Any, ...]:
    """A rule's result as a tuple of one gradient per positional input, or a clear error."""
    if isinstance(in_grads, list):
        in_grads = tuple(in_grads)
    elif not isinstance(in_grads, tuple):
        in_grads = (in_grads,)
    n = len(node.edges)
    if len(in_grads) > n and all(g is None for g in in_grads[n:]):
        in_grads = in_grads[:n]  # trailing Nones beyond the inputs are allowed, as in PyTorch
    if len(in_grads) != n:
        args = ", ".join(_describe_arg(node, i) for i in range(len(node.next)))
        raise RuntimeError(
            f"backward of '{node.name}' returned {len(in_grads)} gradient(s), expected "
            f"{len(node.next)}: one per positional argument of apply ({args}). Return None for "
            "the arguments that take no gradient (e.g. `return grad_x, None`), or pass parameters "
            "as keywords (apply(x, beta=2.0)) so they are not positional inputs."
            + _recorded_at(node))
    return in_grads


def _describe_arg(node: Node, i: int) -> str:
    """One positional argument of a node, for error messages: 'tensor (3, 4)', 'constant', '2.0'."""
    e, meta = node.next[i], node.input_meta[i]
    if e is not None:
        shape = e[0].out_meta[e[1]][0] if type(e) is tuple else e._data.shape
        return f"tensor {shape}"
    if meta[0] == "const":
        return f"constant tensor {meta[1]}"
    text = repr(meta[1])
    return text if len(text) <= 30 else text[:27] + "..."


def _recorded_at(node: Node) -> str:
    """Where the op was recorded, when anomaly mode was on at the time (else nothing)."""
    return "" if node.trace is None else "\nThe op was recorded here:\n" + "".join(node.trace)


def _check_finite(node: Node, i: int, g: Tensor) -> None:
    if not anomaly_checks_nan():
        return
    data = g._data
    bad = "nan" if np.isnan(data).any() else "inf" if np.isinf(data).any() else None
    if bad:
        where = "".join(node.trace) if node.trace else "(recorded before anomaly mode was on)\n"
        raise RuntimeError(
            f"anomaly: backward of '{node.name}' (node #{node.seq}) produced {bad} in the gradient "
            f"for input {i}\nThe op was recorded here:\n{where}")


def _as_list(x: Any) -> list[Any]:
    return [x] if isinstance(x, Tensor) else list(x)


def backward(tensors: Tensor | Sequence[Tensor], grad_tensors: Any = None, retain_graph: bool | None = None,
             create_graph: bool = False, grad_variables: Any = None,
             inputs: Tensor | Sequence[Tensor] | None = None) -> None:
    """Accumulate gradients of ``tensors`` into the leaves' ``.grad``, as ``torch.autograd.backward``.

    With ``inputs``, only those tensors (leaves or not) receive ``.grad``.

    >>> import tinygrad_conv as tc
    >>> a, b = tc.Tensor([1.0], requires_grad=True), tc.Tensor([2.0], requires_grad=True)
    >>> tc.autograd.backward((a * b).sum(), inputs=[a])
    >>> a.grad.tolist(), b.grad
    ([2.0], None)
    """
    if grad_variables is not None:
        if grad_tensors is not None:
            raise RuntimeError("backward: pass grad_tensors or its old name grad_variables, not both")
        grad_tensors = grad_variables
    roots = _as_list(tensors)
    if grad_tensors is None:
        grads: list[Any] = [None] * len(roots)
    else:
        grads = _as_list(grad_tensors)
    if len(grads) != len(roots):
        raise RuntimeError(f"backward: got {len(grads)} gradients for {len(roots)} tensors; pass one "
                           "gradient (or None) per tensor")
    if inputs is None:
        run_backward(roots, grads, retain_graph, create_graph)
        return
    ins = _as_list(inputs)
    if not ins:
        raise RuntimeError("backward: `inputs` argument to backward() cannot be empty.")
    results = run_backward(roots, grads, retain_graph, create_graph, inputs=ins, allow_unused=True)
    assert results is not None
    prev = is_grad_enabled()
    _set(create_graph)
    try:
        for t, g in zip(ins, results):
            if g is None:
                continue
            if t._grad_fn is None and t._hooks:
                g = _run_hooks(t._hooks, g)
            t.grad = (g if create_graph else g.detach()) if t.grad is None else _add(t.grad, g)
    finally:
        _set(prev)


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
         only_inputs: bool = True, allow_unused: bool | None = None, is_grads_batched: bool = False,
         materialize_grads: bool = False) -> tuple[Tensor | None, ...]:
    """Gradients of ``outputs`` with respect to ``inputs``, returned as a tuple; ``.grad`` untouched.

    As ``torch.autograd.grad``: ``materialize_grads=True`` gives zeros (not None) for unused inputs;
    ``is_grads_batched=True`` takes a batch of ``grad_outputs`` along their first dim and returns
    the batch of gradients (computed one after another: there is no vmap here).

    >>> import tinygrad_conv as tc
    >>> x = tc.Tensor([2.0], requires_grad=True)
    >>> (g,) = tc.grad((x ** 3).sum(), x, create_graph=True)
    >>> g.tolist(), tc.grad(g.sum(), x)[0].tolist()
    ([12.0], [12.0])
    """
    if not only_inputs:
        raise RuntimeError("grad: only_inputs=False is no longer supported (as in PyTorch, where it is "
                           "deprecated and ignored); use backward(inputs=...) to accumulate into .grad")
    if materialize_grads and allow_unused is False:
        raise ValueError("Expected allow_unused to be True or not passed when materialize_grads=True, "
                         "but got: allow_unused=False.")
    allow = bool(allow_unused) or materialize_grads
    outs = _as_list(outputs)
    ins = _as_list(inputs)
    if grad_outputs is None:
        gouts: list[Any] = [None] * len(outs)
    else:
        gouts = _as_list(grad_outputs)
    if len(gouts) != len(outs):
        raise RuntimeError(f"grad: grad_outputs has {len(gouts)} entries but there are {len(outs)} outputs")
    for k, t in enumerate(ins):
        if not t.requires_grad:
            raise RuntimeError(f"grad(): One of the differentiated Tensors (inputs[{k}], shape {t.shape}) "
                               "does not require grad")
    if is_grads_batched:
        return _batched_grad(outs, ins, gouts, retain_graph, create_graph, allow, materialize_grads)
    result = run_backward(outs, gouts, retain_graph, create_graph, inputs=ins, allow_unused=allow)
    assert result is not None
    if materialize_grads:
        result = tuple(Tensor(np.zeros_like(t._data)) if g is None else g for t, g in zip(ins, result))
    return result


def _batched_grad(outs: list[Tensor], ins: list[Tensor], gouts: list[Any], retain_graph: bool | None,
                  create_graph: bool, allow: bool, materialize: bool) -> tuple[Tensor | None, ...]:
    """``grad(is_grads_batched=True)``: one backward per entry of the batch, stacked."""
    from ..ops.shape import stack

    if any(g is None for g in gouts):
        raise RuntimeError("grad: is_grads_batched=True needs every grad_outputs entry (a batch along dim 0)")
    sizes = {int(g.shape[0]) for g in gouts}
    if len(sizes) != 1:
        raise RuntimeError(f"grad: is_grads_batched=True needs grad_outputs with one batch size, got {sorted(sizes)}")
    (n,) = sizes
    per_input: list[list[Tensor | None]] = [[] for _ in ins]
    for b in range(n):
        last = b == n - 1
        res = grad(outs, ins, [g[b] for g in gouts], retain_graph=True if not last else retain_graph,
                   create_graph=create_graph, allow_unused=allow, materialize_grads=materialize)
        for k, g in enumerate(res):
            per_input[k].append(g)
    return tuple(None if any(g is None for g in gs) else stack([g for g in gs if g is not None])
                 for gs in per_input)

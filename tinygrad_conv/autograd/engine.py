"""The backward engine: walk the tape in reverse recording order and run each node's rule.

No recursion: the nodes reachable from the roots are gathered with an explicit stack and run in
decreasing sequence number, which is a topological order (see tape.py). Each node's incoming
gradients are summed before its rule runs; leaf gradients are summed over the whole pass, then
hooks run and ``.grad`` accumulates, as in PyTorch.
"""

from __future__ import annotations

from collections.abc import Sequence
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
        if root.data.size != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for scalar outputs; this output has shape "
                f"{root.shape}. Pass gradient= (a tensor of shape {root.shape}) or reduce it first, "
                "e.g. y.sum().backward()")
        return Tensor._make(np.ones_like(root.data), False, None, 0, None)
    if not isinstance(gradient, Tensor):
        gradient = Tensor(np.asarray(gradient, dtype=root.dtype))
    if gradient.shape != root.shape:
        raise RuntimeError(f"Mismatch in shape: gradient has shape {gradient.shape} but the output "
                           f"it is for has shape {root.shape}")
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
    return Tensor._make(a.data + b.data, False, None, 0, None)


def _run_hooks(hooks: list[Any], grad: Tensor) -> Tensor:
    for hook in list(hooks):
        out = hook(grad)
        if out is not None:
            grad = out
    return grad


def run_backward(roots: Sequence[Tensor], grads: Sequence[Any], retain_graph: bool | None,
                 create_graph: bool, inputs: Sequence[Tensor] | None = None,
                 allow_unused: bool = False) -> tuple[Tensor | None, ...] | None:
    """Shared by ``Tensor.backward`` (inputs=None: accumulate into leaves) and ``grad``."""
    if retain_graph is None:
        retain_graph = create_graph
    root_grads = [_root_grad(r, g, i) for i, (r, g) in enumerate(zip(roots, grads))]

    # Nodes hash by identity, so they key the dicts directly; tensors (whose == is elementwise)
    # are keyed by id().
    pending: dict[Node, list[Any]] = {}  # node -> one summed gradient per output
    leaf_sum: dict[int, list[Any]] = {}  # id(leaf) -> [leaf, summed gradient]
    root_nodes = []
    for r, g in zip(roots, root_grads):
        if r._grad_fn is None:
            slot = leaf_sum.setdefault(id(r), [r, None])
            slot[1] = _add(slot[1], g)
        else:
            node = r._grad_fn
            root_nodes.append(node)
            root_slots = pending.setdefault(node, [None] * len(node.out_meta))
            root_slots[r._out_idx] = _add(root_slots[r._out_idx], g)

    nodes = reachable_nodes(root_nodes)

    # For grad(): which (node, output) pairs and leaves to capture, and which nodes must run.
    capture: dict[tuple[Node, int], int] = {}
    leaf_targets: dict[int, int] = {}
    needed: set[Node] | None = None
    if inputs is not None:
        for k, t in enumerate(inputs):
            if t._grad_fn is None:
                leaf_targets[id(t)] = k
            else:
                capture[(t._grad_fn, t._out_idx)] = k
        needed = set()
        for node in reversed(nodes):  # inputs before outputs
            for e in node.next:
                if (type(e) is tuple and (e[0] in needed or e in capture)) or \
                        (e is not None and type(e) is not tuple and id(e) in leaf_targets):
                    needed.add(node)
                    break
    results: list[Tensor | None] = [None] * (len(inputs) if inputs is not None else 0)

    prev_mode = is_grad_enabled()
    _set(create_graph)
    try:
        for node in nodes:
            popped = pending.pop(node, None)
            if popped is None:
                continue
            outs: list[Any] = popped
            if node.out_hooks:
                for i, hooks in node.out_hooks.items():
                    if outs[i] is not None:
                        outs[i] = _run_hooks(hooks, outs[i])
            if node.retained:
                for i, ref in node.retained.items():
                    t = ref()
                    if t is not None and outs[i] is not None:
                        t.grad = outs[i] if t.grad is None else _add(t.grad, outs[i])
            if capture:
                for i, g in enumerate(outs):
                    slot_k = capture.get((node, i))
                    if slot_k is not None:
                        results[slot_k] = g
            if needed is not None and node not in needed:
                continue
            if node.released:
                raise RuntimeError(
                    f"Trying to backward through the graph a second time (op '{node.name}'): its "
                    "saved arrays were freed after the first backward. Pass retain_graph=True to "
                    "the first .backward() or grad() call if you need to backward through it again.")
            # (a plain "None in outs" would compare Tensors elementwise)
            if (outs[0] is None if len(outs) == 1 else any(g is None for g in outs)):
                for i, g in enumerate(outs):
                    if g is None:  # an output nobody used: its gradient is zero
                        shape, dtype = node.out_meta[i]
                        outs[i] = Tensor._make(np.zeros(shape, dtype=dtype), False, None, 0, None)
            # The rule's common outcome (a tuple of the right length) is checked inline; anything
            # else goes through _normalise for the explanation. In anomaly mode (node.trace set),
            # _call_rule also says where a failing op was recorded.
            if node.trace is None:
                in_grads = node.fn.backward(node.ctx, *outs)
                if type(in_grads) is not tuple or len(in_grads) != len(node.next):
                    in_grads = _normalise(node, in_grads)
            else:
                in_grads = _call_rule(node, outs)
            i = -1
            for e, g in zip(node.next, in_grads):
                i += 1
                if e is None or g is None:
                    continue
                # The common case (a Tensor of exactly the input's shape and dtype) is checked
                # inline; anything else goes through _fit, which sums broadcasts or explains.
                if type(e) is tuple:
                    shape, dtype = e[0].out_meta[e[1]]
                else:
                    shape, dtype = e.data.shape, e.data.dtype
                if not (isinstance(g, Tensor) and g.data.shape == shape and g.data.dtype == dtype):
                    g = _fit(g, node, i, shape, dtype)
                if anomaly["enabled"]:
                    _check_finite(node, i, g)
                if type(e) is tuple:
                    key = e[0]
                    slots = pending.get(key)
                    if slots is None:
                        slots = pending[key] = [None] * len(e[0].out_meta)
                    prev = slots[e[1]]
                    slots[e[1]] = g if prev is None else _add(prev, g)
                else:
                    leaf_slot = leaf_sum.get(id(e))
                    if leaf_slot is None:
                        leaf_sum[id(e)] = [e, g]
                    else:
                        leaf_slot[1] = _add(leaf_slot[1], g)
            if not retain_graph:
                node.released = True
                node.ctx.release()

        for leaf, g in leaf_sum.values():
            if inputs is not None:
                leaf_k = leaf_targets.get(id(leaf))
                if leaf_k is not None:
                    results[leaf_k] = g
                continue
            if leaf._hooks:
                g = _run_hooks(leaf._hooks, g)
            if leaf.grad is None:
                leaf.grad = g if create_graph else g.detach()
            else:
                leaf.grad = _add(leaf.grad, g)
    finally:
        _set(prev_mode)

    if inputs is None:
        return None
    for k, (t, res) in enumerate(zip(inputs, results)):
        if res is None and not allow_unused:
            raise RuntimeError(
                f"One of the differentiated Tensors (inputs[{k}], shape {t.shape}) appears to not "
                "have been used in the graph. Set allow_unused=True if this is the desired behavior.")
    return tuple(results)


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
    if len(in_grads) != len(node.next):
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
        shape = e[0].out_meta[e[1]][0] if type(e) is tuple else e.data.shape
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
    data = g.data
    bad = "nan" if np.isnan(data).any() else "inf" if np.isinf(data).any() else None
    if bad:
        where = "".join(node.trace) if node.trace else "(recorded before anomaly mode was on)\n"
        raise RuntimeError(
            f"anomaly: backward of '{node.name}' (node #{node.seq}) produced {bad} in the gradient "
            f"for input {i}\nThe op was recorded here:\n{where}")


def backward(tensors: Sequence[Tensor], grad_tensors: Sequence[Any] | None = None,
             retain_graph: bool | None = None, create_graph: bool = False) -> None:
    """Accumulate gradients of ``tensors`` into the leaves' ``.grad`` (as torch.autograd.backward)."""
    if grad_tensors is None:
        grad_tensors = [None] * len(tensors)
    run_backward(list(tensors), list(grad_tensors), retain_graph, create_graph)


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
         allow_unused: bool = False) -> tuple[Tensor | None, ...]:
    """Gradients of ``outputs`` with respect to ``inputs``, returned as a tuple; ``.grad`` untouched.

    >>> import tinygrad_conv as tc
    >>> x = tc.Tensor([2.0], requires_grad=True)
    >>> (g,) = tc.grad((x ** 3).sum(), x, create_graph=True)
    >>> g.tolist(), tc.grad(g.sum(), x)[0].tolist()
    ([12.0], [12.0])
    """
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        gouts: list[Any] = [None] * len(outs)
    elif isinstance(grad_outputs, Tensor):
        gouts = [grad_outputs]
    else:
        gouts = list(grad_outputs)
    for k, t in enumerate(ins):
        if not t.requires_grad:
            raise RuntimeError(f"grad(): inputs[{k}] does not require grad")
    result = run_backward(outs, gouts, retain_graph, create_graph, inputs=ins,
                          allow_unused=allow_unused)
    assert result is not None
    return result

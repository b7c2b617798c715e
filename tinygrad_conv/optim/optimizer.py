"""``Optimizer``: parameter groups, per-parameter state, zero_grad, and state_dict for checkpoints.

Subclasses write ``_update(group, param, grad, state)`` on NumPy arrays. ``step`` runs it under
``no_grad`` and changes each parameter's array in place, so the Parameter objects a model holds
stay the same (and anything that saved the old values for backward sees the version change).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..autograd.grad_mode import enable_grad, no_grad
from ..tensor import Tensor

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]


def lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """``start.lerp_(end, weight)`` in the form PyTorch's lerp kernel uses (it switches formula at
    weight 0.5 to stay exact at both ends), so moving averages round as PyTorch's do."""
    if weight < 0.5:
        start += weight * (end - start)
    else:
        start[...] = end - (end - start) * (1 - weight)


def check_non_negative(name: str, group: dict[str, Any], *keys: str) -> None:
    """Raise PyTorch's ValueError for a hyper-parameter below 0, naming the optimizer and the value."""
    for key in keys:
        if not group[key] >= 0:
            raise ValueError(f"{name}: invalid {key} {group[key]} (must be >= 0)")


def decayed_grad(group: dict[str, Any], param: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """The gradient an update follows, as PyTorch's: negated when ``maximize``, plus
    ``weight_decay * param`` (L2 decay) when that is not 0. ``grad`` itself is never changed."""
    g = -grad if group["maximize"] else grad
    if group["weight_decay"] != 0:
        g = g + group["weight_decay"] * param
    return g


class Optimizer:
    """Base class: holds ``param_groups`` (dicts with 'params' and hyper-parameters) and ``state``.

    ``state`` maps each parameter to a dict of NumPy arrays and numbers (momentum buffers,
    moment estimates, step counts).
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self._state: dict[int, dict[str, Any]] = {}  # by id(param): Tensor's == is elementwise
        if isinstance(params, Tensor):
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Tensors or of dicts, "
                            "got a single Tensor; pass [tensor] or model.parameters()")
        groups: list[Any] = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list; did the model define "
                             "any parameters (and was model.parameters() already used up)?")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    @property
    def state(self) -> dict[Tensor, dict[str, Any]]:
        """Per-parameter state, keyed by the parameter (as PyTorch's ``optimizer.state``)."""
        return {p: self._state[id(p)] for g in self.param_groups for p in g["params"] if id(p) in self._state}

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyper-parameters (defaults fill the rest)."""
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise TypeError(f"{type(self).__name__}: a parameter group must be a dict with a 'params' key")
        params = param_group["params"]
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{type(self).__name__}: parameters must be in an ordered collection (a list), not "
                            "a set: a set's order changes between runs, and state_dict relies on the order")
        params = [params] if isinstance(params, Tensor) else list(params)
        # model.named_parameters() gives (name, tensor) pairs: PyTorch keeps the names in 'param_names'.
        names = [p[0] for p in params if isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str)]
        if names:
            if len(names) != len(params):
                raise ValueError(f"{type(self).__name__}: all parameters of a group must be given with names "
                                 f"((name, tensor) pairs) or all without; {len(params) - len(names)} of "
                                 f"{len(params)} have no name")
            params = [p[1] for p in params]
        for other in self.param_groups:
            if ("param_names" in other) != bool(names):
                raise ValueError(f"{type(self).__name__}: all parameter groups must be with names or all "
                                 "without; cannot mix named and unnamed groups")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: parameter {i} is a {type(p).__name__}, not a Tensor")
            if not p.requires_grad:
                raise ValueError(f"{type(self).__name__}: parameter {i} (shape {p.shape}) does not require "
                                 "grad, so it would never be updated")
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__}: parameter {i} (shape {p.shape}) is not a leaf: "
                                 "optimise the tensors you created, not results computed from them")
            if id(p) in seen:
                raise ValueError(f"{type(self).__name__}: parameter {i} (shape {p.shape}) appears in more "
                                 "than one group (or twice in one)")
            seen.add(id(p))
            if not p._data.flags.writeable:  # updates are in place
                p._data = p._data.copy()
        group = {k: v for k, v in param_group.items() if k != "params"}
        if names:
            group["param_names"] = names
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self._check_group(group)
        group = {"params": params, **group}  # 'params' first, as PyTorch's groups list it
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Validate a group's hyper-parameters (subclasses add their rules)."""
        name = type(self).__name__
        if group.get("lr", 0.0) < 0:
            raise ValueError(f"{name}: invalid learning rate {group['lr']} (must be >= 0)")
        if group.get("differentiable"):
            # PyTorch's differentiable=True records the update itself on the autograd tape (to
            # differentiate through a training step); here the update runs on arrays under no_grad.
            raise NotImplementedError(f"{name}: differentiable=True (differentiating through the optimizer "
                                      "step) is not supported; the update is applied in place without "
                                      "autograd. Leave differentiable at its default, False")
        if group.get("fused") and group.get("foreach"):
            raise RuntimeError(f"{name}: fused=True and foreach=True cannot be set together (as in PyTorch)")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient (to None by default, as PyTorch)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad = Tensor(np.zeros_like(p.grad._data))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; ``closure`` (optional) recomputes the loss."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._opt_called = True  # read by the LR schedulers: optimizer.step() must come before theirs
        for group in self.param_groups:
            if group.get("capturable"):
                raise RuntimeError(f"{type(self).__name__}.step: capturable=True keeps the step counts on the "
                                   "accelerator for CUDA graphs and needs the parameters on a CUDA/XLA device; "
                                   "tinygrad_conv runs on the CPU, where PyTorch refuses it too. Leave "
                                   "capturable at its default, False")
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    grad = p.grad._data
                    if grad.shape != p._data.shape:
                        raise RuntimeError(f"{type(self).__name__}.step: a gradient of shape {grad.shape} "
                                           f"for a parameter of shape {p._data.shape}")
                    state = self._state.setdefault(id(p), {})
                    self._update(group, p._data, grad, state)
                    p._vbox[0] += 1
        return loss

    def _update(self, group: dict[str, Any], param: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define _update(group, param, grad, state)")

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """{'state': {param index: {name: array or number}}, 'param_groups': [hyper-parameters with
        'params' as indices]}: PyTorch's layout, with copies of the arrays, ready for ``save``."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                st = self._state.get(id(p))
                if st:
                    state[index[id(p)]] = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in st.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (after checking it fits these parameters)."""
        name = type(self).__name__
        if not isinstance(state_dict, dict) or "param_groups" not in state_dict or "state" not in state_dict:
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the saved state has {len(saved_groups)} parameter "
                             f"group(s), this optimizer has {len(self.param_groups)}")
        params_by_index: dict[int, Tensor] = {}
        for k, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict: group {k} has {len(saved['params'])} parameters "
                                 f"in the saved state and {len(group['params'])} here")
            for i, p in zip(saved["params"], group["params"]):
                params_by_index[int(i)] = p
        new_state: dict[int, dict[str, Any]] = {}
        for key, st in state_dict["state"].items():
            p = params_by_index.get(int(key))
            if p is None:
                raise ValueError(f"{name}.load_state_dict: state for parameter {key}, which no group lists")
            restored: dict[str, Any] = {}
            for k, v in st.items():
                if isinstance(v, Tensor):
                    v = v._data
                if isinstance(v, np.ndarray) and v.ndim > 0:
                    if v.shape != p.shape:
                        raise ValueError(f"{name}.load_state_dict: state '{k}' of parameter {key} has shape "
                                         f"{v.shape}, the parameter has shape {p.shape}")
                    v = np.array(v, dtype=p.dtype)
                elif isinstance(v, np.ndarray):
                    v = v.item()
                restored[k] = v
            new_state[id(p)] = restored
        for saved, group in zip(saved_groups, self.param_groups):
            for k, v in saved.items():
                if k != "params":
                    group[k] = tuple(v) if isinstance(group.get(k), tuple) else v
        self._state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        return "\n".join(lines) + "\n)"

"""Module hooks (forward pre/post, full backward and backward pre, the older backward hook) and the
module-walking methods, compared with PyTorch on modules with identical weights: which hooks run,
in which order, with which arguments (values), and what their returned replacements do."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import tinygrad_conv as tc
from tinygrad_conv import nn


def _arr(t: Any) -> Any:
    """A NumPy array (or None) from a tinygrad_conv or PyTorch tensor."""
    if t is None:
        return None
    if hasattr(t, "detach") and hasattr(t.detach(), "numpy"):
        return np.array(t.detach().numpy())
    return np.asarray(t)


def _same(ours: Any, theirs: Any, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Equal structures of tensors / None: the same Nones, the same shapes, close values."""
    if isinstance(ours, (tuple, list)):
        assert isinstance(theirs, (tuple, list)) and len(ours) == len(theirs), (ours, theirs)
        for a, b in zip(ours, theirs):
            _same(a, b, rtol, atol)
        return
    assert (ours is None) == (theirs is None), (ours, theirs)
    if ours is not None:
        a, b = _arr(ours), _arr(theirs)
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def _copy_weights(ours: nn.Module, theirs: Any, torch: Any) -> None:
    """Give the PyTorch module our parameters (same names in both)."""
    with torch.no_grad():
        own = dict(ours.named_parameters())
        for name, p in theirs.named_parameters():
            p.copy_(torch.from_numpy(np.array(own[name].detach().numpy())))


def _pair(torch: Any, make: str, *args: Any, seed: int = 0) -> tuple[nn.Module, Any]:
    tc.manual_seed(seed)
    ours = getattr(nn, make)(*args)
    theirs = getattr(torch.nn, make)(*args).double()
    ours.double()
    _copy_weights(ours, theirs, torch)
    return ours, theirs


def _inputs(torch: Any, shape: tuple[int, ...], seed: int = 1, requires_grad: bool = True) -> tuple[Any, Any]:
    x = np.random.default_rng(seed).standard_normal(shape)
    return (tc.Tensor(x.copy(), requires_grad=requires_grad),
            torch.tensor(x.copy(), requires_grad=requires_grad))


def _upstream(torch: Any, shape: tuple[int, ...], seed: int = 2) -> tuple[Any, Any]:
    g = np.random.default_rng(seed).standard_normal(shape)
    return tc.Tensor(g.copy()), torch.tensor(g.copy())


# ------------------------------------------------------------------ forward hooks
def _forward_log_model(lib: Any, log: list[Any]) -> Any:
    """Sequential(Linear, ReLU, Linear) with pre and post hooks on every layer (some prepended,
    one with kwargs), each logging what it saw; returns the model and its handles."""
    model = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.ReLU(), lib.nn.Linear(4, 2))
    handles = []
    for name, m in model.named_modules():
        tag = name or "root"
        handles.append(m.register_forward_pre_hook(
            lambda mod, args, tag=tag: log.append(("pre", tag, type(mod).__name__, len(args), args[0].shape))))
        handles.append(m.register_forward_hook(
            lambda mod, args, out, tag=tag: log.append(("post", tag, out.shape))))
        handles.append(m.register_forward_pre_hook(
            lambda mod, args, tag=tag: log.append(("pre-first", tag)), prepend=True))
        handles.append(m.register_forward_hook(
            lambda mod, args, kwargs, out, tag=tag: log.append(("post-kw", tag, sorted(kwargs))), with_kwargs=True))
    return model, handles


def test_forward_hook_order_and_arguments_match_torch(torch: Any) -> None:
    logs: dict[str, list[Any]] = {"ours": [], "theirs": []}
    for key, lib, make_x in (("ours", tc, lambda: tc.ones(5, 3)), ("theirs", torch, lambda: torch.ones(5, 3))):
        model, handles = _forward_log_model(lib, logs[key])
        model(make_x())
        logs[key] = [tuple(tuple(v) if isinstance(v, (tuple, list)) or type(v).__name__ == "Size" else v
                           for v in entry) for entry in logs[key]]
        # Removing every handle stops every hook; removing twice is harmless.
        for h in handles:
            h.remove()
            h.remove()
        n = len(logs[key])
        model(make_x())
        assert len(logs[key]) == n
    assert logs["ours"] == logs["theirs"]
    assert logs["ours"][:3] == [("pre-first", "root"), ("pre", "root", "Sequential", 1, (5, 3)), ("pre-first", "0")]


def test_forward_hooks_replace_inputs_and_outputs_as_torch(torch: Any) -> None:
    ours, theirs = _pair(torch, "Linear", 3, 2)
    for m in (ours, theirs):
        # A non-tuple return from a pre-hook is wrapped in a tuple (PyTorch's rule).
        m.register_forward_pre_hook(lambda mod, args: args[0] * 2)
        m.register_forward_hook(lambda mod, args, out: out + args[0].sum())
    x, tx = _inputs(torch, (4, 3))
    y, ty = ours(x), theirs(tx)
    _same(y, ty)
    g, tg = _upstream(torch, y.shape)
    y.backward(g)
    ty.backward(tg)
    _same(x.grad, tx.grad)
    _same(ours.weight.grad, theirs.weight.grad)


def test_forward_pre_hook_with_kwargs(torch: Any) -> None:
    class Scale(nn.Module):
        def forward(self, x: Any, *, factor: float = 1.0) -> Any:
            return x * factor

    class TScale(torch.nn.Module):
        def forward(self, x: Any, *, factor: float = 1.0) -> Any:
            return x * factor

    seen: dict[str, Any] = {}
    for key, m, x in (("ours", Scale(), tc.ones(2)), ("theirs", TScale(), torch.ones(2))):
        m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"factor": kwargs["factor"] + 1}),
                                    with_kwargs=True)
        m.register_forward_hook(lambda mod, args, kwargs, out, key=key: seen.__setitem__(key, dict(kwargs)),
                                with_kwargs=True)
        seen[key + "_out"] = _arr(m(x, factor=2.0))
        m.register_forward_pre_hook(lambda mod, args, kwargs: args, with_kwargs=True)
        with pytest.raises(RuntimeError, match="forward pre-hook must return None or a tuple"):
            m(x, factor=2.0)
    assert seen["ours"] == seen["theirs"] == {"factor": 3.0}
    np.testing.assert_array_equal(seen["ours_out"], seen["theirs_out"])


def test_always_call_hook_runs_when_forward_raises(torch: Any) -> None:
    class Boom(nn.Module):
        def forward(self, x: Any) -> Any:
            raise ValueError("boom")

    class TBoom(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            raise ValueError("boom")

    logs: dict[str, list[Any]] = {"ours": [], "theirs": []}
    for key, m in (("ours", Boom()), ("theirs", TBoom())):
        log = logs[key]
        m.register_forward_hook(lambda mod, args, out, log=log: log.append(("always", out)), always_call=True)
        m.register_forward_hook(lambda mod, args, out, log=log: log.append(("plain", out)))

        def failing(mod: Any, args: Any, out: Any) -> None:
            raise KeyError("in hook")

        m.register_forward_hook(failing, always_call=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(ValueError, match="boom"):
                m(1.0)
        log.append(("warned", any("always_call=True" in str(w.message) for w in caught)))
    assert logs["ours"] == logs["theirs"] == [("always", None), ("warned", True)]


# ------------------------------------------------------------------ full backward hooks
def _record_backward(lib: Any, m: Any, log: list[Any], replace: bool = False) -> list[Any]:
    def pre(mod: Any, grad_output: Any) -> Any:
        log.append(("pre", [_arr(g) for g in grad_output]))
        return None

    def post(mod: Any, grad_input: Any, grad_output: Any) -> Any:
        log.append(("post", [_arr(g) for g in grad_input], [_arr(g) for g in grad_output]))
        if replace:
            return tuple(None if g is None else g * 3 for g in grad_input)
        return None

    return [m.register_full_backward_pre_hook(pre), m.register_full_backward_hook(post)]


@pytest.mark.parametrize("replace", [False, True])
def test_full_backward_hook_values_match_torch(torch: Any, replace: bool) -> None:
    ours, theirs = _pair(torch, "Linear", 3, 4)
    logs: dict[str, list[Any]] = {"ours": [], "theirs": []}
    _record_backward(tc, ours, logs["ours"], replace)
    _record_backward(torch, theirs, logs["theirs"], replace)
    x, tx = _inputs(torch, (5, 3))
    y, ty = ours(x), theirs(tx)
    g, tg = _upstream(torch, y.shape)
    y.backward(g)
    ty.backward(tg)
    assert [e[0] for e in logs["ours"]] == [e[0] for e in logs["theirs"]] == ["pre", "post"]
    for a, b in zip(logs["ours"], logs["theirs"]):
        _same(list(a[1:]), list(b[1:]))
    _same(x.grad, tx.grad)  # tripled when the hook returns replacements
    _same(ours.weight.grad, theirs.weight.grad)


def test_backward_pre_hook_replacement_changes_every_gradient(torch: Any) -> None:
    ours, theirs = _pair(torch, "Linear", 3, 2)
    for m in (ours, theirs):
        m.register_full_backward_pre_hook(lambda mod, go: (go[0] * -2,))
    x, tx = _inputs(torch, (4, 3))
    y, ty = ours(x), theirs(tx)
    g, tg = _upstream(torch, y.shape)
    y.backward(g)
    ty.backward(tg)
    _same(x.grad, tx.grad)
    _same(ours.weight.grad, theirs.weight.grad)
    _same(ours.bias.grad, theirs.bias.grad)


def test_full_backward_hook_with_several_inputs_and_outputs(torch: Any) -> None:
    """grad_input: one entry per positional argument, None for non-tensors and tensors that do not
    require grad; grad_output: None for an output nothing used."""

    def body(lib: Any) -> Any:
        class Two(lib.nn.Module):
            def forward(self, a: Any, b: Any, scale: float, c: Any) -> Any:
                return a * b * scale, (a + c).tanh(), b * 2.0

        return Two()

    logs: dict[str, list[Any]] = {"ours": [], "theirs": []}
    grads: dict[str, Any] = {}
    rng = np.random.default_rng(3)
    a0, b0, c0 = rng.standard_normal((3, 4)), rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    g0, g1 = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    for key, lib in (("ours", tc), ("theirs", torch)):
        m = body(lib)
        _record_backward(lib, m, logs[key])
        make = tc.Tensor if lib is tc else torch.tensor
        a, b, c = make(a0.copy(), requires_grad=True), make(b0.copy()), make(c0.copy(), requires_grad=True)
        p, q, _unused = m(a, b, 0.5, c)
        (p * make(g0)).sum().backward(retain_graph=True)
        (q * make(g1)).sum().backward()
        grads[key] = (_arr(a.grad), _arr(c.grad))
    assert [e[0] for e in logs["ours"]] == [e[0] for e in logs["theirs"]] == ["pre", "post", "pre", "post"]
    for a, b in zip(logs["ours"], logs["theirs"]):
        _same(list(a[1:]), list(b[1:]))
    _same(grads["ours"], grads["theirs"])


def test_full_backward_hooks_fire_in_reverse_order_through_a_model(torch: Any) -> None:
    logs: dict[str, list[Any]] = {"ours": [], "theirs": []}
    for key, lib in (("ours", tc), ("theirs", torch)):
        tc.manual_seed(0)
        torch.manual_seed(0)
        model = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Linear(4, 2))
        for name, m in model.named_modules():
            tag = name or "root"
            m.register_full_backward_pre_hook(lambda mod, go, tag=tag, log=logs[key]: log.append(("pre", tag)))
            m.register_full_backward_hook(lambda mod, gi, go, tag=tag, log=logs[key]: log.append(("post", tag)))
            m.register_full_backward_hook(lambda mod, gi, go, tag=tag, log=logs[key]: log.append(("first", tag)),
                                          prepend=True)
        x = (tc.ones if lib is tc else torch.ones)(2, 3, requires_grad=True)
        model(x).sum().backward()
    assert logs["ours"] == logs["theirs"]
    assert logs["ours"][:2] == [("pre", "root"), ("pre", "2")]


def test_full_backward_hook_when_no_input_requires_grad(torch: Any) -> None:
    logs: dict[str, list[Any]] = {"ours": [], "theirs": []}
    for key, (m, x) in (("ours", (_pair(torch, "Linear", 3, 2)[0], tc.ones(4, 3, dtype=np.float64))),
                        ("theirs", (_pair(torch, "Linear", 3, 2)[1], torch.ones(4, 3, dtype=torch.float64)))):
        _record_backward(None, m, logs[key])
        with pytest.warns(UserWarning, match="no inputs require gradients"):
            m(x).sum().backward()
    assert [e[0] for e in logs["ours"]] == [e[0] for e in logs["theirs"]] == ["pre", "post"]
    for a, b in zip(logs["ours"], logs["theirs"]):
        _same(list(a[1:]), list(b[1:]))
    assert logs["ours"][1][1] == [None]


def test_full_backward_hook_wrong_count_and_removal() -> None:
    lin = nn.Linear(2, 2)
    handle = lin.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    x = tc.ones(1, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match="invalid number of grad_input, got 2, but expected 1"):
        lin(x).sum().backward()
    handle.remove()
    calls = []
    with lin.register_full_backward_hook(lambda m, gi, go: calls.append(1)):
        lin(x).sum().backward()
    lin(x).sum().backward()  # the with block removed it
    assert calls == [1]


def test_full_backward_hook_under_double_backward(torch: Any) -> None:
    ours, theirs = _pair(torch, "Tanh")
    counts = {"ours": 0, "theirs": 0}
    for key, m in (("ours", ours), ("theirs", theirs)):
        m.register_full_backward_hook(lambda mod, gi, go, key=key: counts.__setitem__(key, counts[key] + 1))
    x, tx = _inputs(torch, (3,))
    (gx,) = tc.grad(ours(x).sum(), x, create_graph=True)
    (tgx,) = torch.autograd.grad(theirs(tx).sum(), tx, create_graph=True)
    _same(gx, tgx)
    g, tg = _upstream(torch, (3,))
    (gx * g).sum().backward()
    (tgx * tg).sum().backward()
    _same(x.grad, tx.grad)
    assert counts["ours"] == counts["theirs"]


# ------------------------------------------------------------------ the older backward hook
def test_register_backward_hook_sees_the_last_ops_gradients(torch: Any) -> None:
    """PyTorch's older hook is registered on the op that made the output: for Conv2d that op is the
    convolution, whose inputs are (input, weight, bias)."""
    tc.manual_seed(0)
    ours = nn.Conv2d(2, 3, 3).double()
    theirs = torch.nn.Conv2d(2, 3, 3).double()
    _copy_weights(ours, theirs, torch)
    logs: dict[str, list[Any]] = {"ours": [], "theirs": []}
    for key, m in (("ours", ours), ("theirs", theirs)):
        def hook(mod: Any, gi: Any, go: Any, log: list[Any] = logs[key]) -> Any:
            log.append(([_arr(g) for g in gi], [_arr(g) for g in go]))
            return (gi[0] * 2,) + tuple(gi[1:])

        m.register_backward_hook(hook)
    x, tx = _inputs(torch, (2, 2, 5, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        y, ty = ours(x), theirs(tx)
    g, tg = _upstream(torch, y.shape)
    y.backward(g)
    ty.backward(tg)
    assert len(logs["ours"]) == len(logs["theirs"]) == 1
    _same(list(logs["ours"][0]), list(logs["theirs"][0]))
    _same(x.grad, tx.grad)  # doubled by the hook's replacement
    _same(ours.weight.grad, theirs.weight.grad)


def test_backward_hook_kinds_do_not_mix(torch: Any) -> None:
    for lib in (tc, torch):
        a, b = lib.nn.Linear(2, 2), lib.nn.Linear(2, 2)
        a.register_backward_hook(lambda m, gi, go: None)
        with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks and full backward hooks"):
            a.register_full_backward_hook(lambda m, gi, go: None)
        b.register_full_backward_hook(lambda m, gi, go: None)
        with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks and full backward hooks"):
            b.register_backward_hook(lambda m, gi, go: None)


def test_hooks_leave_module_results_unchanged(torch: Any) -> None:
    """With hooks that return None, outputs and every gradient equal the unhooked PyTorch run."""
    ours, theirs = _pair(torch, "Linear", 4, 3)
    for m in (ours,):
        m.register_forward_pre_hook(lambda mod, args: None)
        m.register_forward_hook(lambda mod, args, out: None)
        m.register_full_backward_pre_hook(lambda mod, go: None)
        m.register_full_backward_hook(lambda mod, gi, go: None)
    x, tx = _inputs(torch, (2, 4))
    y, ty = ours(x), theirs(tx)
    _same(y, ty)
    g, tg = _upstream(torch, y.shape)
    y.backward(g)
    ty.backward(tg)
    _same([x.grad, ours.weight.grad, ours.bias.grad], [tx.grad, theirs.weight.grad, theirs.bias.grad])


# ------------------------------------------------------------------ walking the tree
def test_named_modules_and_buffers_remove_duplicate_as_torch(torch: Any) -> None:
    names = {}
    for key, lib in (("ours", tc), ("theirs", torch)):
        bn = lib.nn.BatchNorm2d(2)
        model = lib.nn.Sequential(bn, lib.nn.ReLU(), bn)
        names[key] = (
            [n for n, _ in model.named_modules()],
            [n for n, _ in model.named_modules(remove_duplicate=False)],
            [n for n, _ in model.named_modules(prefix="net")],
            [n for n, _ in model.named_buffers()],
            [n for n, _ in model.named_buffers(remove_duplicate=False)],
            [n for n, _ in model.named_parameters(remove_duplicate=False)],
            [n for n, _ in model.named_children()],
            len(list(model.buffers())), len(list(model.modules())), len(list(model.children())),
        )
    assert names["ours"] == names["theirs"]


def test_zero_grad_requires_grad_and_apply_as_torch(torch: Any) -> None:
    ours, theirs = _pair(torch, "Linear", 3, 2)
    for m, x in ((ours, tc.ones(1, 3, dtype=np.float64)), (theirs, torch.ones(1, 3, dtype=torch.float64))):
        m(x).sum().backward()
        m.zero_grad(set_to_none=False)
        assert float(_arr(m.weight.grad).sum()) == 0.0
        m.zero_grad()
        assert m.weight.grad is None
        assert m.requires_grad_(False) is m and not m.weight.requires_grad
        visited: list[str] = []
        assert m.apply(lambda mod, v=visited: v.append(type(mod).__name__)) is m
        assert visited == ["Linear"]
    assert ours.extra_repr() == theirs.extra_repr()


def test_in_place_change_of_a_hooked_input_is_caught_as_torch(torch: Any) -> None:
    """The hooks' identity op passes the input's own array on, so (as PyTorch's view) it shares the
    input's version counter: changing the input in place after forward fails backward in both."""
    for lib in (tc, torch):
        lin = lib.nn.Linear(3, 2)
        lin.register_full_backward_hook(lambda m, gi, go: None)
        x = lib.ones(2, 3, requires_grad=True) * 1
        y = lin(x)
        x.mul_(2)
        with pytest.raises(RuntimeError, match="modified by an in-?place operation|has been modified inplace"):
            y.sum().backward()


def test_register_backward_hook_warns_where_torch_does(torch: Any) -> None:
    """The older hook misses part of grad_input when the forward is more than one op: PyTorch warns
    (FutureWarning) by the same tests, and so do we."""

    def pair_lists(lib: Any) -> Any:
        class Listed(lib.nn.Module):
            def forward(self, x: Any) -> Any:
                return [x * 2]

        return Listed()

    def cases(lib: Any) -> list[tuple[Any, Any]]:
        return [(lib.nn.Conv2d(1, 1, 3), lambda: lib.ones(1, 1, 4, 4, requires_grad=True)),
                (lib.nn.Tanh(), lambda: lib.ones(3, requires_grad=True) * 2),
                (lib.nn.Tanh(), lambda: lib.ones(3, requires_grad=True)),
                (pair_lists(lib), lambda: lib.ones(3, requires_grad=True) * 2)]

    verdicts: dict[str, list[Any]] = {"ours": [], "theirs": []}
    for key, lib in (("ours", tc), ("theirs", torch)):
        for module, make in cases(lib):
            module.register_backward_hook(lambda m, gi, go: None)
            x = make()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                module(x)
            verdicts[key].append([str(w.message).split(" is deprecated")[0] for w in caught
                                  if issubclass(w.category, FutureWarning)])
    assert verdicts["ours"] == verdicts["theirs"]
    assert [bool(v) for v in verdicts["ours"]] == [True, False, True, True]


def test_get_submodule_parameter_buffer_as_torch(torch: Any) -> None:
    found: dict[str, list[Any]] = {"ours": [], "theirs": []}
    for key, lib in (("ours", tc), ("theirs", torch)):
        net = lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.Sequential(lib.nn.BatchNorm1d(3)))
        net.register_module("extra", lib.nn.ReLU())
        found[key].append(type(net.get_submodule("1.0")).__name__)
        found[key].append(net.get_submodule("") is net)
        found[key].append(tuple(net.get_parameter("0.weight").shape))
        found[key].append(tuple(net.get_buffer("1.0.running_mean").shape))
        found[key].append(type(net.get_submodule("extra")).__name__)
        for call, target in ((net.get_submodule, "0.nope"), (net.get_submodule, "0.weight"),
                             (net.get_parameter, "1.0.running_mean"), (net.get_buffer, "0.weight"),
                             (net.get_parameter, "0.nope")):
            with pytest.raises(AttributeError) as err:
                call(target)
            found[key].append(str(err.value).split(" (looking up")[0])
    assert found["ours"] == found["theirs"]


def _global_hook_api(lib: Any) -> Any:
    return tc.nn.module if lib is tc else lib.nn.modules.module


def test_global_module_hooks_run_before_each_modules_own_as_torch(torch: Any) -> None:
    logs: dict[str, list[Any]] = {"ours": [], "theirs": []}
    for key, lib in (("ours", tc), ("theirs", torch)):
        api, log = _global_hook_api(lib), logs[key]
        model = lib.nn.Sequential(lib.nn.Linear(3, 2), lib.nn.Tanh())
        model[0].register_forward_hook(lambda m, a, o, log=log: log.append(("own-post", type(m).__name__)))
        model[0].register_full_backward_hook(lambda m, gi, go, log=log: log.append(("own-bw", type(m).__name__)))
        handles = [
            api.register_module_forward_pre_hook(lambda m, a, log=log: log.append(("pre", type(m).__name__))),
            api.register_module_forward_hook(lambda m, a, o, log=log: log.append(("post", type(m).__name__))),
            api.register_module_forward_hook(lambda m, a, k, o, log=log: log.append(("post-kw", sorted(k))),
                                             with_kwargs=True),
            api.register_module_full_backward_pre_hook(
                lambda m, go, log=log: log.append(("bw-pre", type(m).__name__))),
            api.register_module_full_backward_hook(lambda m, gi, go, log=log: log.append(("bw", type(m).__name__))),
        ]
        try:
            with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks and full backward hooks"):
                api.register_module_backward_hook(lambda m, gi, go: None)
            x = (tc.ones if lib is tc else torch.ones)(2, 3, requires_grad=True)
            model(x).sum().backward()
        finally:
            for h in handles:
                h.remove()
        n = len(log)
        model(x).sum().backward()  # only the module's own hooks are left
        log.append(("after removal", len(log) - n))
    assert logs["ours"] == logs["theirs"]

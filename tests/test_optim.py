"""Optimisers and schedules against PyTorch, checkpoints of optimiser state, and a flat memory
profile over many training steps."""

from __future__ import annotations

import gc
import tracemalloc
import weakref
from pathlib import Path

import numpy as np
import pytest

import tinygrad_conv as tc
from tinygrad_conv import io, nn, optim
from tinygrad_conv.ops import loss as L

CONFIGS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 1e-2}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 1e-3}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "maximize": True}),
    ("Adam", {"lr": 1e-2}),
    ("Adam", {"lr": 1e-2, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 1e-2}),
    ("Adam", {"lr": 1e-2, "amsgrad": True}),
    ("AdamW", {"lr": 1e-2}),
    ("AdamW", {"lr": 1e-2, "weight_decay": 0.1, "amsgrad": True}),
    ("Adam", {"lr": 1e-2, "weight_decay": 0.1, "decoupled_weight_decay": True, "foreach": False}),
    ("RMSprop", {}),
    ("RMSprop", {"lr": 1e-3, "alpha": 0.9, "eps": 1e-6, "weight_decay": 1e-2}),
    ("RMSprop", {"lr": 1e-3, "momentum": 0.9}),
    ("RMSprop", {"lr": 1e-3, "centered": True}),
    ("RMSprop", {"lr": 1e-3, "alpha": 0.4, "centered": True, "momentum": 0.5, "weight_decay": 1e-3,
                 "maximize": True, "foreach": False}),
    ("Adagrad", {}),
    ("Adagrad", {"lr": 0.05, "lr_decay": 0.1, "weight_decay": 1e-2, "initial_accumulator_value": 0.3,
                 "eps": 1e-6}),
    ("Adagrad", {"lr": 0.05, "maximize": True, "foreach": False, "fused": None}),
    ("Adadelta", {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.6, "eps": 1e-4, "weight_decay": 1e-2}),
    ("Adadelta", {"maximize": True, "foreach": False}),
]


def _mlp(dtype=np.float32) -> nn.Module:
    nn.init.manual_seed(1)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).to(dtype)


def _torch_mlp(torch, ours: nn.Module):
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    model.load_state_dict({k: torch.tensor(v.detach().numpy()) for k, v in ours.state_dict().items()})
    return model.to(torch.float64 if ours[0].weight.dtype == np.float64 else torch.float32)


def _batches(dtype, steps: int = 8):
    rng = np.random.default_rng(2)
    return [(rng.standard_normal((6, 5)).astype(dtype), rng.integers(0, 3, 6)) for _ in range(steps)]


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_torch_step_by_step(name: str, kwargs: dict, dtype) -> None:
    torch = pytest.importorskip("torch")
    ours = _mlp(dtype)
    theirs = _torch_mlp(torch, ours)
    opt = getattr(optim, name)(ours.parameters(), **kwargs)
    topt = getattr(torch.optim, name)(theirs.parameters(), **kwargs)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for x, y in _batches(dtype):
        loss = L.cross_entropy(ours(tc.Tensor(x)), tc.Tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        tloss = torch.nn.functional.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y))
        topt.zero_grad()
        tloss.backward()
        topt.step()
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=rtol)
    for (k, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=rtol * 10, atol=rtol, err_msg=k)


def test_param_groups_and_skipped_parameters() -> None:
    torch = pytest.importorskip("torch")
    ours = _mlp()
    theirs = _torch_mlp(torch, ours)
    groups = [{"params": list(ours[0].parameters()), "lr": 0.01}, {"params": list(ours[2].parameters())}]
    tgroups = [{"params": list(theirs[0].parameters()), "lr": 0.01}, {"params": list(theirs[2].parameters())}]
    opt = optim.SGD(groups, lr=0.2, momentum=0.9)
    topt = torch.optim.SGD(tgroups, lr=0.2, momentum=0.9)
    x, y = _batches(np.float32, 1)[0]
    for _ in range(3):
        L.cross_entropy(ours(tc.Tensor(x)), tc.Tensor(y)).backward()
        torch.nn.functional.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y)).backward()
        ours[2].bias.grad = None  # a parameter without a gradient is left alone
        theirs[2].bias.grad = None
        opt.step()
        topt.step()
        opt.zero_grad()
        topt.zero_grad()
    for (k, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-5, atol=1e-7, err_msg=k)


@pytest.mark.parametrize("name,kwargs", [("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
                                         ("Adam", {"lr": 1e-2, "amsgrad": True}), ("AdamW", {"lr": 1e-2}),
                                         ("RMSprop", {"lr": 1e-3, "momentum": 0.9, "centered": True}),
                                         ("Adagrad", {"lr": 0.05, "lr_decay": 0.1,
                                                      "initial_accumulator_value": 0.2}),
                                         ("Adadelta", {"rho": 0.8})])
def test_state_dict_resumes_exactly(tmp_path: Path, name: str, kwargs: dict) -> None:
    batches = _batches(np.float32, 6)

    def train(model, opt, part):
        for x, y in part:
            loss = L.cross_entropy(model(tc.Tensor(x)), tc.Tensor(y))
            opt.zero_grad()
            loss.backward()
            opt.step()

    straight = _mlp()
    opt = getattr(optim, name)(straight.parameters(), **kwargs)
    train(straight, opt, batches)

    first = _mlp()
    opt1 = getattr(optim, name)(first.parameters(), **kwargs)
    train(first, opt1, batches[:3])
    io.save({"model": first.state_dict(), "opt": opt1.state_dict()}, tmp_path / "c.npz")
    ckpt = io.load(tmp_path / "c.npz")
    second = _mlp()
    second.load_state_dict(ckpt["model"])
    opt2 = getattr(optim, name)(second.parameters(), **kwargs)
    opt2.load_state_dict(ckpt["opt"])
    train(second, opt2, batches[3:])
    for (k, a), (_, b) in zip(straight.named_parameters(), second.named_parameters()):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy()), k


def test_state_dict_layout_and_mismatch_errors() -> None:
    model = _mlp()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    L.cross_entropy(model(tc.ones(2, 5)), tc.Tensor([0, 1])).backward()
    opt.step()
    sd = opt.state_dict()
    assert sorted(sd["state"]) == [0, 1, 2, 3] and sd["param_groups"][0]["params"] == [0, 1, 2, 3]
    assert sd["state"][0]["step"] == 1 and sd["state"][0]["exp_avg"].shape == (8, 5)
    other = optim.Adam(nn.Linear(5, 8).parameters())
    with pytest.raises(ValueError, match="group 0 has 4 parameters in the saved state and 2 here"):
        other.load_state_dict(sd)
    bad = optim.Adam(nn.Sequential(nn.Linear(5, 8), nn.Linear(8, 4)).parameters())
    with pytest.raises(ValueError, match=r"shape \(8, 5\)"):
        bad.load_state_dict({"state": {2: {"exp_avg": np.zeros((8, 5))}}, "param_groups": sd["param_groups"]})


def test_zero_grad_and_argument_errors() -> None:
    w = tc.Tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert w.grad is not None and not w.grad.detach().numpy().any()
    opt.zero_grad()
    assert w.grad is None
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(w, lr=0.1)
    with pytest.raises(ValueError, match="does not require grad"):
        optim.SGD([tc.Tensor([1.0])], lr=0.1)
    with pytest.raises(ValueError, match="not a leaf"):
        optim.SGD([w * 2], lr=0.1)
    with pytest.raises(ValueError, match="invalid learning rate"):
        optim.Adam([w], lr=-1)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([w], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="more than one group"):
        optim.SGD([{"params": [w]}, {"params": [w]}], lr=0.1)


def test_step_updates_in_place_and_bumps_the_version() -> None:
    w = tc.Tensor([1.0, 2.0], requires_grad=True)
    data, version = w.detach().numpy(), w._version
    opt = optim.Adam([w], lr=0.1)
    (w * w).sum().backward()
    opt.step()
    assert w.detach().numpy() is data and w._version == version + 1 and w.is_leaf and w.requires_grad


def test_closure_is_called_with_grad_enabled() -> None:
    w = tc.Tensor([3.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with tc.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 9.0 and w.item() == 1.5


@pytest.mark.parametrize("kind", ["step", "cosine"])
def test_schedulers_match_torch(kind: str) -> None:
    torch = pytest.importorskip("torch")
    w = tc.Tensor([1.0], requires_grad=True)
    tw = torch.tensor([1.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.5)
    topt = torch.optim.SGD([tw], lr=0.5)
    if kind == "step":
        sched = optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
        tsched = torch.optim.lr_scheduler.StepLR(topt, step_size=3, gamma=0.5)
    else:
        sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=7, eta_min=0.01)
        tsched = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=7, eta_min=0.01)
    for _ in range(20):
        assert sched.get_last_lr()[0] == pytest.approx(tsched.get_last_lr()[0], rel=1e-12, abs=1e-15)
        assert opt.param_groups[0]["lr"] == sched.get_last_lr()[0]
        opt.step()
        topt.step()
        sched.step()
        tsched.step()


def test_scheduler_state_round_trip() -> None:
    # As in PyTorch, the schedule continues from the optimizer's current rate (the chainable form),
    # so a checkpoint restores both state dicts.
    opt = optim.Adam([tc.Tensor([1.0], requires_grad=True)], lr=1.0)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        opt.step()
        sched.step()
    opt2 = optim.Adam([tc.Tensor([1.0], requires_grad=True)], lr=1.0)
    sched2 = optim.lr_scheduler.CosineAnnealingLR(opt2, T_max=10)
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(sched.state_dict())
    sched.step()
    sched2.step()
    assert sched.get_last_lr() == sched2.get_last_lr() and opt2.param_groups[0]["lr"] == sched2.get_last_lr()[0]


def test_memory_is_flat_over_1000_steps() -> None:
    """No graph, gradient or optimiser garbage survives a step: memory after 1,000 steps equals
    memory after the first few."""
    nn.init.manual_seed(0)
    # A small CNN with the main job's layers, and BatchNorm, whose running statistics change in place.
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(8, 4))
    opt = optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    x = tc.Tensor(rng.standard_normal((8, 1, 6, 6)).astype(np.float32))
    y = tc.Tensor(rng.integers(0, 4, 8))

    def step():
        loss = L.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    for _ in range(20):  # warm up: optimiser state, caches
        step()
    last = step()
    node_ref = weakref.ref(last.grad_fn)
    del last
    gc.collect()
    assert node_ref() is None, "the previous step's graph is still alive"
    tracemalloc.start()
    try:
        for _ in range(20):
            step()
        gc.collect()
        base, _ = tracemalloc.get_traced_memory()
        for _ in range(1000):
            step()
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - base < 32 * 1024, f"memory grew by {after - base} bytes over 1,000 steps"


NEW_OPTIMIZERS = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"]


@pytest.mark.parametrize("name", NEW_OPTIMIZERS)
def test_signature_groups_and_state_layout_match_torch(torch, name: str) -> None:
    """PyTorch's parameter names, defaults and keyword-only markers; the same group keys and values;
    the same state entries after a step (and Adagrad's state before the first one)."""
    import inspect

    ours_sig = inspect.signature(getattr(optim, name).__init__).parameters
    theirs_sig = inspect.signature(getattr(torch.optim, name).__init__).parameters
    assert list(ours_sig) == list(theirs_sig)
    for key, param in ours_sig.items():
        assert param.kind == theirs_sig[key].kind, key
        if key not in ("self", "params"):
            assert param.default == theirs_sig[key].default, key
    ours = _mlp(np.float64)
    theirs = _torch_mlp(torch, ours)
    opt = getattr(optim, name)(ours.parameters())
    topt = getattr(torch.optim, name)(theirs.parameters())
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sd["param_groups"] == tsd["param_groups"]
    assert sorted(sd["state"]) == sorted(tsd["state"])  # Adagrad: filled at construction
    x, y = _batches(np.float64, 1)[0]
    L.cross_entropy(ours(tc.Tensor(x)), tc.Tensor(y)).backward()
    torch.nn.functional.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y)).backward()
    opt.step()
    topt.step()
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sorted(sd["state"]) == sorted(tsd["state"])
    for i in tsd["state"]:
        assert sorted(sd["state"][i]) == sorted(tsd["state"][i])
        for k, v in tsd["state"][i].items():
            np.testing.assert_allclose(np.asarray(sd["state"][i][k], dtype=np.float64), v.numpy(),
                                       rtol=1e-12, err_msg=f"{i}/{k}")


@pytest.mark.parametrize("name,kwargs", [
    ("RMSprop", {"momentum": 0.5, "centered": True}), ("Adagrad", {"lr_decay": 0.5}), ("Adadelta", {}),
])
def test_new_optimizers_match_torch_in_float64_with_random_gradients(torch, name: str, kwargs: dict) -> None:
    """Set the same random gradients on both sides (no model in between) for 6 steps, in two
    parameter groups with their own hyper-parameters; the parameters agree to float64 rounding."""
    rng = np.random.default_rng(9)
    shapes = [(3, 4), (4,), (2, 2, 3)]
    values = [rng.standard_normal(s) for s in shapes]
    ours = [tc.Tensor(v.copy(), requires_grad=True) for v in values]
    theirs = [torch.tensor(v.copy(), requires_grad=True) for v in values]
    groups = [{"params": ours[:2]}, {"params": ours[2:], "lr": 0.05, "weight_decay": 0.1}]
    tgroups = [{"params": theirs[:2]}, {"params": theirs[2:], "lr": 0.05, "weight_decay": 0.1}]
    opt = getattr(optim, name)(groups, **kwargs)
    topt = getattr(torch.optim, name)(tgroups, **kwargs)
    for _ in range(6):
        for p, tp in zip(ours, theirs):
            g = rng.standard_normal(p.shape)
            p.grad = tc.Tensor(g)
            tp.grad = torch.tensor(g)
        opt.step()
        topt.step()
    for p, tp in zip(ours, theirs):
        np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_new_optimizer_argument_errors_match_torch(torch) -> None:
    w = tc.Tensor([1.0, 2.0], requires_grad=True)
    tw = torch.tensor([1.0, 2.0], requires_grad=True)
    bad = [("RMSprop", {"alpha": -0.1}, "alpha"), ("RMSprop", {"eps": -1.0}, "eps"),
           ("RMSprop", {"momentum": -0.5}, "momentum"), ("RMSprop", {"weight_decay": -1}, "weight_decay"),
           ("RMSprop", {"lr": -1}, "learning rate"), ("Adagrad", {"lr_decay": -1}, "lr_decay"),
           ("Adagrad", {"initial_accumulator_value": -1}, "initial_accumulator_value"),
           ("Adagrad", {"eps": -1}, "eps"), ("Adadelta", {"rho": 1.5}, "rho"), ("Adadelta", {"eps": -1}, "eps")]
    for name, kwargs, word in bad:
        with pytest.raises(ValueError):
            getattr(torch.optim, name)([tw], **kwargs)
        with pytest.raises(ValueError, match=f"{name}: invalid {word}"):
            getattr(optim, name)([w], **kwargs)
    with pytest.raises(RuntimeError):
        torch.optim.Adagrad([tw], fused=True, foreach=True)
    with pytest.raises(RuntimeError, match="fused=True and foreach=True"):
        optim.Adagrad([w], fused=True, foreach=True)


@pytest.mark.parametrize("name", ["RMSprop", "Adadelta", "Adam"])
def test_capturable_is_refused_at_step_as_torch_does_on_the_cpu(torch, name: str) -> None:
    w = tc.Tensor([1.0, 2.0], requires_grad=True)
    tw = torch.tensor([1.0, 2.0], requires_grad=True)
    opt = getattr(optim, name)([w], capturable=True)
    topt = getattr(torch.optim, name)([tw], capturable=True)
    w.grad = tc.Tensor([1.0, 1.0])
    tw.grad = torch.tensor([1.0, 1.0])
    with pytest.raises(AssertionError):
        topt.step()
    with pytest.raises(RuntimeError, match="capturable=True .*CPU"):
        opt.step()
    assert w.tolist() == [1.0, 2.0]  # nothing was updated


@pytest.mark.parametrize("name", NEW_OPTIMIZERS)
def test_differentiable_is_refused_with_the_reason(name: str) -> None:
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        getattr(optim, name)([tc.Tensor([1.0], requires_grad=True)], differentiable=True)


def test_named_parameters_as_torch(torch) -> None:
    ours = _mlp()
    theirs = _torch_mlp(torch, ours)
    opt = optim.SGD(ours.named_parameters(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(theirs.named_parameters(), lr=0.1, momentum=0.9)
    assert opt.param_groups[0]["param_names"] == topt.param_groups[0]["param_names"]
    assert opt.state_dict()["param_groups"] == topt.state_dict()["param_groups"]
    with pytest.raises(ValueError, match="with names"):
        opt.add_param_group({"params": [tc.Tensor([1.0], requires_grad=True)]})
    with pytest.raises(TypeError, match="ordered collection"):
        optim.SGD([{"params": set(ours.parameters())}], lr=0.1)


def test_adagrad_state_exists_before_the_first_step_and_resumes(tmp_path: Path) -> None:
    w = tc.Tensor([1.0, -1.0], requires_grad=True)
    opt = optim.Adagrad([w], lr=0.1, initial_accumulator_value=0.5)
    sd = opt.state_dict()
    assert sd["state"][0]["step"] == 0 and sd["state"][0]["sum"].tolist() == [0.5, 0.5]
    io.save(sd, tmp_path / "a.npz")
    w2 = tc.Tensor([1.0, -1.0], requires_grad=True)
    opt2 = optim.Adagrad([w2], lr=0.1)
    opt2.load_state_dict(io.load(tmp_path / "a.npz"))
    for p, o in ((w, opt), (w2, opt2)):
        p.grad = tc.Tensor([2.0, 3.0])
        o.step()
    assert w.tolist() == w2.tolist()

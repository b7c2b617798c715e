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
]


def _mlp(dtype=np.float32) -> nn.Module:
    nn.init.manual_seed(1)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).to(dtype)


def _torch_mlp(torch, ours: nn.Module):
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    model.load_state_dict({k: torch.tensor(v.data) for k, v in ours.state_dict().items()})
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
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=rtol * 10, atol=rtol, err_msg=k)


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
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-5, atol=1e-7, err_msg=k)


@pytest.mark.parametrize("name,kwargs", [("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
                                         ("Adam", {"lr": 1e-2, "amsgrad": True}), ("AdamW", {"lr": 1e-2})])
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
        assert np.array_equal(a.data, b.data), k


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
    assert w.grad is not None and not w.grad.data.any()
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
    data, version = w.data, w._version
    opt = optim.Adam([w], lr=0.1)
    (w * w).sum().backward()
    opt.step()
    assert w.data is data and w._version == version + 1 and w.is_leaf and w.requires_grad


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
    opt = optim.Adam([tc.Tensor([1.0], requires_grad=True)], lr=1.0)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        sched.step()
    state = sched.state_dict()
    opt2 = optim.Adam([tc.Tensor([1.0], requires_grad=True)], lr=1.0)
    sched2 = optim.lr_scheduler.CosineAnnealingLR(opt2, T_max=10)
    sched2.load_state_dict(state)
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

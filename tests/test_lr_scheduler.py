"""Learning-rate schedulers against torch.optim.lr_scheduler: the rates (and OneCycleLR's momenta)
step by step with two parameter groups, the closed form of step(epoch), chaining, state dicts
through a checkpoint file, warnings, and argument errors."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tinygrad_conv as tc
from tinygrad_conv import io, optim

sched_mod = optim.lr_scheduler


def _pair(torch: Any, opt_name: str = "SGD", **opt_kwargs: Any) -> tuple[Any, Any]:
    """Our optimizer and PyTorch's over two groups (base rates 0.1 and 0.02)."""
    opt_kwargs = {"lr": 0.1, **opt_kwargs}
    ours = getattr(optim, opt_name)([{"params": [tc.Tensor([1.0], requires_grad=True)]},
                                     {"params": [tc.Tensor([2.0], requires_grad=True)], "lr": 0.02}], **opt_kwargs)
    theirs = getattr(torch.optim, opt_name)([{"params": [torch.tensor([1.0], requires_grad=True)]},
                                             {"params": [torch.tensor([2.0], requires_grad=True)], "lr": 0.02}],
                                            **opt_kwargs)
    return ours, theirs


def _build(module: Any, opt: Any, spec: tuple[str, dict[str, Any]] | list[Any]) -> Any:
    """A scheduler from (name, kwargs); SequentialLR's kwargs list its inner specs under 'inner'."""
    name, kwargs = spec
    kwargs = dict(kwargs)
    if name == "ChainedScheduler":
        return module.ChainedScheduler([_build(module, opt, inner) for inner in kwargs["inner"]])
    if name == "SequentialLR":
        kwargs["schedulers"] = [_build(module, opt, inner) for inner in kwargs.pop("inner")]
    return getattr(module, name)(opt, **kwargs)


def _same_groups(opt: Any, topt: Any) -> None:
    for g, tg in zip(opt.param_groups, topt.param_groups):
        for key in ("lr", "momentum", "betas", "initial_lr", "max_lr", "min_lr"):
            if key in tg:
                np.testing.assert_allclose(np.asarray(g[key], dtype=float), np.asarray(tg[key], dtype=float),
                                           rtol=1e-12, atol=1e-16, err_msg=key)


SPECS: list[tuple[str, dict[str, Any]]] = [
    ("StepLR", {"step_size": 3, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [2, 5, 5, 9], "gamma": 0.3}),
    ("ExponentialLR", {"gamma": 0.8}),
    ("LambdaLR", {"lr_lambda": lambda e: 1.0 / (1 + e)}),
    ("LambdaLR", {"lr_lambda": [lambda e: 0.9 ** e, lambda e: 1 + 0.1 * e]}),
    ("LinearLR", {}),
    ("LinearLR", {"start_factor": 0.1, "end_factor": 0.6, "total_iters": 7}),
    ("CosineAnnealingLR", {"T_max": 4, "eta_min": 0.001}),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": 20}),
    ("OneCycleLR", {"max_lr": [1.0, 0.5], "epochs": 4, "steps_per_epoch": 5, "pct_start": 0.25,
                    "anneal_strategy": "linear", "base_momentum": [0.8, 0.7], "max_momentum": 0.9,
                    "div_factor": 10.0, "final_div_factor": 100.0}),
    ("OneCycleLR", {"max_lr": 0.4, "total_steps": 20, "three_phase": True, "cycle_momentum": False}),
    ("SequentialLR", {"inner": [("LinearLR", {"start_factor": 0.25, "total_iters": 3}),
                                ("ExponentialLR", {"gamma": 0.7})], "milestones": [3]}),
    ("SequentialLR", {"inner": [("ConstantLikeLambda", {}), ("CosineAnnealingLR", {"T_max": 5}),
                                ("MultiStepLR", {"milestones": [2, 4]})], "milestones": [2, 8]}),
    ("MultiplicativeLR", {"lr_lambda": lambda e: 0.95 if e % 2 else 1.01}),
    ("ConstantLR", {}),
    ("ConstantLR", {"factor": 0.2, "total_iters": 3}),
    ("PolynomialLR", {}),
    ("PolynomialLR", {"total_iters": 8, "power": 2.5}),
    ("CosineAnnealingWarmRestarts", {"T_0": 3, "T_mult": 2, "eta_min": 0.001}),
    ("CosineAnnealingWarmRestarts", {"T_0": 4}),
    ("ChainedScheduler", {"inner": [("ConstantLR", {"factor": 0.5, "total_iters": 4}),
                                    ("ExponentialLR", {"gamma": 0.9})]}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": [0.1, 0.05], "step_size_up": 3, "step_size_down": 2}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 2, "mode": "triangular2",
                  "base_momentum": 0.7, "max_momentum": 0.95}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 3, "mode": "exp_range", "gamma": 0.9}),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 2, "scale_fn": lambda x: 0.8 ** x,
                  "scale_mode": "iterations", "cycle_momentum": False}),
    ("SequentialLR", {"inner": [("ConstantLR", {"factor": 0.1, "total_iters": 2}),
                                ("PolynomialLR", {"total_iters": 6, "power": 2.0})], "milestones": [2]}),
]


def _with_constant(module: Any) -> Any:
    """The module, plus a 'ConstantLikeLambda' (LambdaLR with factor 1) for the SequentialLR spec."""

    class Namespace:
        def __getattr__(self, name: str) -> Any:
            if name == "ConstantLikeLambda":
                return lambda opt: module.LambdaLR(opt, lambda e: 1.0)
            return getattr(module, name)

    return Namespace()


@pytest.mark.parametrize("spec", SPECS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SPECS)])
@pytest.mark.parametrize("opt_name,opt_kwargs", [("SGD", {"momentum": 0.9}), ("Adam", {})])
def test_rates_match_torch_step_by_step(torch, spec: tuple[str, dict[str, Any]], opt_name: str,
                                        opt_kwargs: dict[str, Any]) -> None:
    opt, topt = _pair(torch, opt_name, **opt_kwargs)
    sched = _build(_with_constant(sched_mod), opt, spec)
    tsched = _build(_with_constant(torch.optim.lr_scheduler), topt, spec)
    steps = 19 if spec[0] == "OneCycleLR" else 14  # OneCycleLR refuses to go past total_steps
    for _ in range(steps):
        np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12, atol=1e-16)
        _same_groups(opt, topt)
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
    np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12, atol=1e-16)


def test_one_cycle_refuses_steps_past_the_end(torch) -> None:
    opt, topt = _pair(torch)
    sched = sched_mod.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        opt.step(), topt.step(), sched.step(), tsched.step()
    with pytest.raises(ValueError):
        tsched.step()
    with pytest.raises(ValueError, match="tried to step 4 times; the specified number of total steps is 3"):
        sched.step()


@pytest.mark.parametrize("kwargs", [
    {},
    {"mode": "max", "factor": 0.5, "patience": 1, "threshold": 0.05, "cooldown": 2},
    {"threshold_mode": "abs", "threshold": 0.1, "patience": 0, "min_lr": [0.02, 0.019], "factor": 0.3},
    {"patience": 2, "eps": 0.05, "factor": 0.9},
])
def test_reduce_on_plateau_matches_torch(torch, kwargs: dict[str, Any]) -> None:
    opt, topt = _pair(torch)
    sched = sched_mod.ReduceLROnPlateau(opt, **kwargs)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    metrics = np.random.default_rng(0).uniform(0.5, 1.5, 40) * np.linspace(1.0, 0.8, 40)
    for i, m in enumerate(metrics):
        value = tc.Tensor(np.float32(m)) if i % 3 == 0 else float(m)  # a 0-d Tensor or a number
        opt.step()
        topt.step()
        sched.step(value)
        tsched.step(float(np.float32(m)) if i % 3 == 0 else float(m))
        assert sched.get_last_lr() == tsched.get_last_lr()
        assert (sched.num_bad_epochs, sched.cooldown_counter, sched.best) == \
            (tsched.num_bad_epochs, tsched.cooldown_counter, tsched.best)


@pytest.mark.parametrize("spec", [("StepLR", {"step_size": 2, "gamma": 0.5}),
                                  ("MultiStepLR", {"milestones": [1, 4], "gamma": 0.1}),
                                  ("ExponentialLR", {"gamma": 0.9}), ("LinearLR", {"total_iters": 3}),
                                  ("CosineAnnealingLR", {"T_max": 6}), ("LambdaLR", {"lr_lambda": lambda e: e + 1}),
                                  ("ConstantLR", {"total_iters": 4}), ("PolynomialLR", {"power": 0.5})])
def test_step_with_epoch_uses_the_closed_form_and_warns(torch, spec: tuple[str, dict[str, Any]]) -> None:
    opt, topt = _pair(torch)
    sched = _build(sched_mod, opt, spec)
    tsched = _build(torch.optim.lr_scheduler, topt, spec)
    for epoch in (3, 1, 5, 5, 0, 7):
        opt.step()
        topt.step()
        with pytest.warns(UserWarning, match="epoch parameter"):
            sched.step(epoch)
        with pytest.warns(UserWarning):
            tsched.step(epoch)
        np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12)


@pytest.mark.parametrize("T_mult", [1, 3])
def test_warm_restarts_with_fractional_epochs_match_torch(torch, T_mult: int) -> None:
    opt, topt = _pair(torch)
    sched = sched_mod.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=T_mult, eta_min=0.01)
    tsched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, T_0=2, T_mult=T_mult, eta_min=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # per-batch fractional epochs are its documented use
        for epoch in range(12):
            for batch in range(4):
                opt.step()
                topt.step()
                sched.step(epoch + batch / 4)
                tsched.step(epoch + batch / 4)
                np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12, atol=1e-16)
    with pytest.raises(ValueError, match="non-negative epoch"):
        sched.step(-1)


def test_two_schedulers_on_one_optimizer_chain_as_in_torch(torch) -> None:
    opt, topt = _pair(torch)
    ours = [sched_mod.ExponentialLR(opt, gamma=0.9), sched_mod.MultiStepLR(opt, milestones=[3, 6], gamma=0.1),
            sched_mod.CosineAnnealingLR(opt, T_max=5)]
    theirs = [torch.optim.lr_scheduler.ExponentialLR(topt, gamma=0.9),
              torch.optim.lr_scheduler.MultiStepLR(topt, milestones=[3, 6], gamma=0.1),
              torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=5)]
    for epoch in range(10):
        opt.step()
        topt.step()
        for s, ts in zip(ours, theirs):
            s.step()
            ts.step()
        if epoch == 4:  # a rate changed by hand is kept by the chainable forms
            opt.param_groups[0]["lr"] *= 3
            topt.param_groups[0]["lr"] *= 3
        _same_groups(opt, topt)


@pytest.mark.parametrize("spec", SPECS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SPECS)])
def test_state_dicts_through_a_checkpoint_resume_exactly(torch, tmp_path: Path,
                                                         spec: tuple[str, dict[str, Any]]) -> None:
    """Stop after 6 steps, save the optimizer's and scheduler's state dicts with tc.save, rebuild both
    from scratch, load: the next rates equal the uninterrupted run's and PyTorch's."""
    module = _with_constant(sched_mod)
    opt, topt = _pair(torch, "SGD", momentum=0.9)
    sched = _build(module, opt, spec)
    tsched = _build(_with_constant(torch.optim.lr_scheduler), topt, spec)
    for _ in range(6):
        opt.step(), topt.step(), sched.step(), tsched.step()
    io.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, tmp_path / "s.npz")
    ckpt = io.load(tmp_path / "s.npz")
    opt2, _ = _pair(torch, "SGD", momentum=0.9)
    sched2 = _build(module, opt2, spec)
    opt2.load_state_dict(ckpt["opt"])
    sched2.load_state_dict(ckpt["sched"])
    for _ in range(8):
        for o, s in ((opt, sched), (opt2, sched2)):
            o.step()
            s.step()
        topt.step()
        tsched.step()
        assert sched2.get_last_lr() == sched.get_last_lr()
        np.testing.assert_allclose(sched2.get_last_lr(), tsched.get_last_lr(), rtol=1e-12, atol=1e-16)
        _same_groups(opt2, topt)


def test_lambda_state_dict_keeps_callable_objects_state(torch) -> None:
    class Warmup:
        def __init__(self, n: int) -> None:
            self.n = n

        def __call__(self, epoch: int) -> float:
            return min(1.0, (epoch + 1) / self.n)

    opt, topt = _pair(torch)
    sched = sched_mod.LambdaLR(opt, [Warmup(4), lambda e: 1.0])
    tsched = torch.optim.lr_scheduler.LambdaLR(topt, [Warmup(4), lambda e: 1.0])
    sd, tsd = sched.state_dict(), tsched.state_dict()
    assert sd["lr_lambdas"] == tsd["lr_lambdas"] == [{"n": 4}, None]
    sd["lr_lambdas"][0] = {"n": 8}
    other, _ = _pair(torch)
    sched2 = sched_mod.LambdaLR(other, [Warmup(4), lambda e: 1.0])
    sched2.load_state_dict(sd)
    assert sched2.lr_lambdas[0].n == 8


def test_warnings_as_in_torch(torch) -> None:
    opt, topt = _pair(torch)
    sched = sched_mod.StepLR(opt, step_size=2)
    tsched = torch.optim.lr_scheduler.StepLR(topt, step_size=2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        tsched.step()
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched.get_lr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the right order warns of nothing
        opt2, _ = _pair(torch)
        sched2 = sched_mod.ExponentialLR(opt2, gamma=0.5)
        opt2.step()
        sched2.step()


def test_sequential_lr_and_resuming_errors_match_torch(torch) -> None:
    opt, topt = _pair(torch)
    other, tother = _pair(torch)
    cases = [
        (lambda m, o, x: m.SequentialLR(o, [], milestones=[]), ValueError, "at least one scheduler"),
        (lambda m, o, x: m.SequentialLR(o, [m.StepLR(o, 2), m.StepLR(o, 3)], milestones=[]), ValueError,
         "one milestone fewer"),
        (lambda m, o, x: m.SequentialLR(o, [m.StepLR(x, 2)], milestones=[]), ValueError, "same optimizer"),
        (lambda m, o, x: m.SequentialLR(o, [m.ReduceLROnPlateau(o)], milestones=[]), ValueError,
         "ReduceLROnPlateau"),
        (lambda m, o, x: m.LinearLR(o, start_factor=0), ValueError, "start_factor"),
        (lambda m, o, x: m.LinearLR(o, end_factor=1.5), ValueError, "end_factor"),
        (lambda m, o, x: m.OneCycleLR(o, max_lr=1.0), ValueError, "total_steps OR"),
        (lambda m, o, x: m.OneCycleLR(o, max_lr=1.0, total_steps=0), ValueError, "total_steps"),
        (lambda m, o, x: m.OneCycleLR(o, max_lr=1.0, total_steps=5, pct_start=1), ValueError, "pct_start"),
        (lambda m, o, x: m.OneCycleLR(o, max_lr=1.0, total_steps=5, anneal_strategy="exp"), ValueError,
         "anneal_strategy"),
        (lambda m, o, x: m.OneCycleLR(o, max_lr=[1.0], total_steps=5), ValueError, "max_lr"),
        (lambda m, o, x: m.ReduceLROnPlateau(o, factor=1.0), ValueError, "factor"),
        (lambda m, o, x: m.ReduceLROnPlateau(o, mode="mid"), ValueError, "mode"),
        (lambda m, o, x: m.ReduceLROnPlateau(o, threshold_mode="pct"), ValueError, "threshold mode"),
        (lambda m, o, x: m.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "min_lrs"),
        (lambda m, o, x: m.LambdaLR(o, [lambda e: 1.0]), ValueError, "lr_lambdas"),
        (lambda m, o, x: m.MultiplicativeLR(o, 0.5), TypeError, "lr_lambda should be a function"),
        (lambda m, o, x: m.ConstantLR(o, factor=1.5), ValueError, "factor"),
        (lambda m, o, x: m.CosineAnnealingWarmRestarts(o, T_0=0), ValueError, "T_0"),
        (lambda m, o, x: m.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=0), ValueError, "T_mult"),
        (lambda m, o, x: m.ChainedScheduler([]), ValueError, "at least one scheduler"),
        (lambda m, o, x: m.CyclicLR(o, 0.1, 1.0, mode="zigzag"), ValueError, "mode 'zigzag' is invalid"),
        (lambda m, o, x: m.CyclicLR(o, [0.1], 1.0), ValueError, "base_lr"),
        (lambda m, o, x: m.ChainedScheduler([m.StepLR(o, 2), m.StepLR(x, 2)]), ValueError, "same optimizer"),
        (lambda m, o, x: m.StepLR("not an optimizer", 2), TypeError, "Optimizer"),
    ]
    for build, exc, words in cases:
        with pytest.raises(exc):
            build(torch.optim.lr_scheduler, topt, tother)
        with pytest.raises(exc, match=words):
            build(sched_mod, opt, other)
    fresh, tfresh = _pair(torch)  # no scheduler has set 'initial_lr' on these groups
    with pytest.raises(KeyError):
        torch.optim.lr_scheduler.ExponentialLR(tfresh, gamma=0.5, last_epoch=3)
    with pytest.raises(KeyError, match="initial_lr"):
        sched_mod.ExponentialLR(fresh, gamma=0.5, last_epoch=3)
    adagrad = optim.Adagrad([tc.Tensor([1.0], requires_grad=True)])
    with pytest.raises(ValueError, match="momentum or beta1"):
        sched_mod.OneCycleLR(adagrad, max_lr=1.0, total_steps=5)

"""Programs in the style of PyTorch's own tutorials and examples, run with their imports swapped.

Each program is one function that takes its imports as arguments (``torch``, ``nn``, ``F``,
``optim``), so the very same text runs on PyTorch and on tinygrad_conv; the numbers must agree.
Where a program draws random weights, both sides start from the same ones (copied across with
``load_state_dict``), since the two libraries' random generators differ by design.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import tinygrad_conv as tc
import tinygrad_conv.nn.functional as tF


def _libs(torch: Any) -> list[tuple[Any, Any, Any, Any]]:
    import torch.nn.functional as F

    return [(tc, tc.nn, tF, tc.optim), (torch, torch.nn, F, torch.optim)]


def _copy_weights(src: Any, dst: Any, torch: Any) -> None:
    dst.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy()) for k, v in src.state_dict().items()})


# ------------------------------------------------------------------ the custom Function tutorial
def legendre_fit(torch: Any, nn: Any, F: Any, optim: Any) -> list[float]:
    """'Defining new autograd functions': fit sin(x) with a*P3(c + d*x), P3 a custom Function."""

    class LegendrePolynomial3(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, input: Any) -> Any:
            ctx.save_for_backward(input)
            return 0.5 * (5 * input ** 3 - 3 * input)

        @staticmethod
        def backward(ctx: Any, grad_output: Any) -> Any:
            (input,) = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input ** 2 - 1)

    dtype = torch.float64
    x = torch.linspace(-math.pi, math.pi, 200, dtype=dtype)
    y = torch.sin(x)
    a = torch.full((), 0.0, dtype=dtype, requires_grad=True)
    b = torch.full((), -1.0, dtype=dtype, requires_grad=True)
    c = torch.full((), 0.0, dtype=dtype, requires_grad=True)
    d = torch.full((), 0.3, dtype=dtype, requires_grad=True)
    learning_rate = 5e-6
    losses = []
    for _ in range(300):
        P3 = LegendrePolynomial3.apply
        y_pred = a + b * P3(c + d * x)
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None
    return losses + [a.item(), b.item(), c.item(), d.item()]


def test_the_custom_function_tutorial_matches(torch: Any) -> None:
    ours, theirs = (legendre_fit(*libs) for libs in _libs(torch))
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ the 60-minute blitz network
def blitz_net(torch: Any, nn: Any, F: Any, optim: Any) -> Any:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, 6, 5)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, input: Any) -> Any:
            c1 = F.relu(self.conv1(input))
            s2 = F.max_pool2d(c1, (2, 2))
            c3 = F.relu(self.conv2(s2))
            s4 = F.max_pool2d(c3, 2)
            s4 = torch.flatten(s4, 1)
            f5 = F.relu(self.fc1(s4))
            f6 = F.relu(self.fc2(f5))
            return self.fc3(f6)

    return Net()


def blitz_step(torch: Any, nn: Any, F: Any, optim: Any, net: Any) -> list[Any]:
    rng = np.random.default_rng(0)
    input = torch.tensor(rng.standard_normal((1, 1, 32, 32)).astype(np.float32))
    target = torch.tensor(rng.standard_normal(10).astype(np.float32)).view(1, -1)
    criterion = nn.MSELoss()
    optimizer = optim.SGD(net.parameters(), lr=0.01)
    out = []
    for _ in range(3):
        optimizer.zero_grad()
        output = net(input)
        loss = criterion(output, target)
        loss.backward()
        out.append(loss.item())
        out.append(net.conv1.bias.grad.detach().numpy().copy())
        optimizer.step()
    return out


def test_the_blitz_network_matches(torch: Any) -> None:
    (ours_libs, theirs_libs) = _libs(torch)
    ours, theirs = blitz_net(*ours_libs), blitz_net(*theirs_libs)
    _copy_weights(ours, theirs, torch)
    a, b = blitz_step(*ours_libs, ours), blitz_step(*theirs_libs, theirs)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=2e-4, atol=1e-6)


# ------------------------------------------------------------------ WGAN-GP's gradient penalty
def gradient_penalty(torch: Any, nn: Any, F: Any, optim: Any, critic: Any) -> list[Any]:
    rng = np.random.default_rng(3)
    real = torch.tensor(rng.standard_normal((4, 8)).astype(np.float32))
    fake = torch.tensor(rng.standard_normal((4, 8)).astype(np.float32))
    alpha = torch.tensor(rng.random((4, 1)).astype(np.float32)).expand(real.size())
    interpolates = alpha * real + ((1 - alpha) * fake)
    interpolates.requires_grad_(True)
    disc_interpolates = critic(interpolates)
    gradients = torch.autograd.grad(outputs=disc_interpolates, inputs=interpolates,
                                    grad_outputs=torch.ones(disc_interpolates.size()),
                                    create_graph=True, retain_graph=True, only_inputs=True)[0]
    penalty = ((gradients.norm(2, dim=1) - 1) ** 2).mean() * 10
    penalty.backward()
    # (the last bias does not change the gradient with respect to the input: its grad stays None)
    return [penalty.item()] + [None if p.grad is None else p.grad.detach().numpy().copy()
                               for p in critic.parameters()]


def test_the_wgan_gp_gradient_penalty_matches(torch: Any) -> None:
    (ours_libs, theirs_libs) = _libs(torch)

    def critic(nn: Any) -> Any:
        return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))

    ours, theirs = critic(tc.nn), critic(torch.nn)
    _copy_weights(ours, theirs, torch)
    a = gradient_penalty(*ours_libs, ours)
    b = gradient_penalty(*theirs_libs, theirs)
    assert [u is None for u in a] == [v is None for v in b]
    for u, v in zip(a, b):
        if u is not None:
            np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-6)


# ------------------------------------------------------------------ in-place code found in the wild
@pytest.mark.parametrize("program", ["relu_inplace_model", "buffer_assignment", "running_average"])
def test_in_place_idioms_match(program: str, torch: Any) -> None:
    def relu_inplace_model(torch: Any, nn: Any, F: Any, optim: Any) -> Any:
        model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(inplace=True), nn.Linear(6, 2))
        return model, lambda x: model(x).sum()

    def buffer_assignment(torch: Any, nn: Any, F: Any, optim: Any) -> Any:
        lin = nn.Linear(4, 3)

        def run(x: Any) -> Any:
            h = lin(x)
            out = torch.zeros(h.shape)
            out[:, 1:] = h[:, :2] * 2     # filling a buffer from values that require grad
            out[:, 0] += h[:, 2]
            return (out * out).sum()
        return lin, run

    def running_average(torch: Any, nn: Any, F: Any, optim: Any) -> Any:
        lin = nn.Linear(4, 4)

        def run(x: Any) -> Any:
            h = lin(x)
            acc = h.clone()
            for _ in range(3):
                acc.mul_(0.5).add_(torch.tanh(h), alpha=0.5)
            return acc.sum()
        return lin, run

    fns = {"relu_inplace_model": relu_inplace_model, "buffer_assignment": buffer_assignment,
           "running_average": running_average}
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    (ours_libs, theirs_libs) = _libs(torch)
    ours, run_ours = fns[program](*ours_libs)
    theirs, run_theirs = fns[program](*theirs_libs)
    _copy_weights(ours, theirs, torch)
    loss_a, loss_b = run_ours(tc.tensor(x)), run_theirs(torch.tensor(x))
    loss_a.backward()
    loss_b.backward()
    np.testing.assert_allclose(loss_a.item(), loss_b.item(), rtol=1e-5)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.detach().numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-6)

"""Two stacked 3x3 convolutions are one 5x5 convolution: fit the pair to a given 5x5 filter.

Convolution is linear and shift-invariant, so conv(conv(x, a), b) = conv(x, a * b), where a * b is
the full 2-d convolution of the kernels: a 5x5 kernel. Here a 5x5 target filter is given; a layer
of 3x3 filters (1 -> 16 channels) followed by a 3x3 layer (16 -> 1) learns, by gradient descent on
random images, to act exactly like it. Sixteen middle channels are enough to express any 5x5
filter (nine would do: one per position of the first 3x3 kernel).

    python examples/fit_two_convs.py
"""

from __future__ import annotations

import numpy as np

import tinygrad_conv as tc
import tinygrad_conv.functional as F
from tinygrad_conv import nn, optim


def effective_kernel(model: nn.Module) -> np.ndarray:
    """The 5x5 kernel the two layers compute together, read off their response to a single 1.

    For a cross-correlation y[i, j] = sum_uv x[i + u, j + v] k[u, v], an impulse at the centre of a
    9x9 image gives y[i, j] = k[4 - i, 4 - j]: the kernel, flipped.
    """
    impulse = np.zeros((1, 1, 9, 9), np.float32)
    impulse[0, 0, 4, 4] = 1.0
    with tc.no_grad():
        response = model(tc.Tensor(impulse)).detach().numpy()[0, 0]
    return response[::-1, ::-1]


def main() -> None:
    rng = np.random.default_rng(0)
    nn.init.manual_seed(0)
    # The filter to imitate: a difference of Gaussians (a blob detector) plus a little noise.
    yy, xx = np.mgrid[-2:3, -2:3]
    target = np.exp(-(xx ** 2 + yy ** 2) / 2.0) - 0.5 * np.exp(-(xx ** 2 + yy ** 2) / 8.0)
    target = (target + 0.05 * rng.standard_normal((5, 5))).astype(np.float32)
    target_weight = tc.Tensor(target[None, None])  # (out=1, in=1, 5, 5)

    model = nn.Sequential(nn.Conv2d(1, 16, 3, bias=False), nn.Conv2d(16, 1, 3, bias=False))
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    schedule = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=600)
    for step in range(600):
        x = tc.Tensor(rng.standard_normal((16, 1, 12, 12)).astype(np.float32))
        want = F.conv2d(x, target_weight)  # (16, 1, 8, 8): what the 5x5 filter gives
        loss = F.mse_loss(model(x), want)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 100 == 0 or step == 599:
            print(f"step {step:4d}  mean squared error {loss.item():.2e}")

    learned = effective_kernel(model)
    np.set_printoptions(precision=3, suppress=True)
    print("target 5x5 filter:\n", target)
    print("the two 3x3 layers together:\n", learned)
    print(f"largest difference: {np.abs(learned - target).max():.1e}")


if __name__ == "__main__":
    main()

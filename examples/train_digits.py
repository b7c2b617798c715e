"""Train a small CNN on the bundled 8x8 handwritten digits, in plain code.

This is what ``tinygrad-conv train`` does, without the progress bar and plots:

    python examples/train_digits.py

It prints the loss and test accuracy per epoch (about 98% after 15 epochs, a few seconds on a
laptop) and saves the trained weights to ``digits_cnn.npz``.
"""

from __future__ import annotations

import numpy as np

import tinygrad_conv as tc
import tinygrad_conv.functional as F
from tinygrad_conv import nn, optim
from tinygrad_conv.data import DataLoader, TensorDataset, load_digits


class DigitsCNN(nn.Module):
    """conv -> relu -> max-pool, twice, then two linear layers: 8x8 -> 4x4 -> 2x2 -> 10 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * 2 * 2, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x: tc.Tensor) -> tc.Tensor:
        return self.classifier(self.features(x))


def accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    model.eval()  # no training-only behaviour while testing
    with tc.no_grad():  # no graph is recorded: faster and lighter
        predicted = model(tc.Tensor(images)).detach().numpy().argmax(axis=1)
    model.train()
    return float((predicted == labels).mean())


def main() -> None:
    nn.init.manual_seed(0)  # the same initial weights on every run
    train_x, train_y = load_digits("train")  # (1438, 1, 8, 8) floats in [0, 1], labels 0..9
    test_x, test_y = load_digits("test")  # 359 held-out images
    loader = DataLoader(TensorDataset(train_x, train_y), batch_size=32, shuffle=True, seed=0)

    model = DigitsCNN()
    epochs = 15
    optimizer = optim.Adam(model.parameters(), lr=3e-3)
    schedule = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)

    for epoch in range(epochs):
        total = 0.0
        for images, labels in loader:
            loss = F.cross_entropy(model(images), labels, label_smoothing=0.1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(images)
        schedule.step()
        print(f"epoch {epoch + 1:2d}  loss {total / len(train_x):.4f}  "
              f"test accuracy {100 * accuracy(model, test_x, test_y):.2f}%")

    tc.save(model.state_dict(), "digits_cnn.npz")
    print("saved the weights to digits_cnn.npz (load them with model.load_state_dict(tc.load(...)))")


if __name__ == "__main__":
    main()

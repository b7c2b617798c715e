"""A convolutional autoencoder on the bundled digits: squeeze each 8x8 image through a 32-number code
and rebuild it with transposed convolutions.

    python examples/autoencoder.py

Prints the reconstruction error per epoch and, when matplotlib is installed, saves
``autoencoder.png`` with test images above their reconstructions.
"""

from __future__ import annotations

import numpy as np

import tinygrad_conv as tc
import tinygrad_conv.functional as F
from tinygrad_conv import nn, optim
from tinygrad_conv.data import DataLoader, TensorDataset, load_digits


class ConvAutoencoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        # 1x8x8 -> 32x4x4 -> 8x2x2: a code of 32 numbers for 64 pixels
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        # Each transposed convolution (kernel 4, stride 2, padding 1) doubles the height and width:
        # 8x2x2 -> 32x4x4 -> 1x8x8, then a sigmoid keeps pixels in [0, 1].
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(8, 32, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1), nn.Sigmoid(),
        )

    def forward(self, x: tc.Tensor) -> tc.Tensor:
        return self.decoder(self.encoder(x))


def main() -> None:
    nn.init.manual_seed(0)
    train_x, _ = load_digits("train")
    test_x, _ = load_digits("test")
    loader = DataLoader(TensorDataset(train_x), batch_size=32, shuffle=True, seed=0)
    model = ConvAutoencoder()
    epochs = 15
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    schedule = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    baseline = float(((test_x - train_x.mean(axis=0)) ** 2).mean())
    print(f"predicting the average image gives a mean squared error of {baseline:.4f}")

    for epoch in range(epochs):
        for (images,) in loader:
            loss = F.mse_loss(model(images), images)  # the input is its own target
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        schedule.step()
        with tc.no_grad():
            test_error = F.mse_loss(model(tc.Tensor(test_x)), tc.Tensor(test_x)).item()
        print(f"epoch {epoch + 1:2d}  test reconstruction error {test_error:.4f}")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no picture (pip install matplotlib)")
        return
    with tc.no_grad():
        rebuilt = model(tc.Tensor(test_x[:10])).detach().numpy()
    fig, axes = plt.subplots(2, 10, figsize=(10, 2.2))
    for i in range(10):
        for row, image in enumerate((test_x[i, 0], rebuilt[i, 0])):
            axes[row, i].imshow(np.clip(image, 0, 1), cmap="gray_r", vmin=0, vmax=1)
            axes[row, i].axis("off")
    fig.savefig("autoencoder.png", dpi=100)
    print("saved autoencoder.png (top: test images, bottom: reconstructions)")


if __name__ == "__main__":
    main()

"""The models ``tinygrad-conv train`` builds: a LeNet-style CNN and a convolutional autoencoder.

Both are sized for the data set they train on: the bundled 8x8 digits or 28x28 MNIST.

>>> import tinygrad_conv as tc
>>> from tinygrad_conv.nn.models import build_model
>>> model = build_model("lenet", "digits")
>>> model(tc.zeros(2, 1, 8, 8)).shape
(2, 10)
>>> build_model("autoencoder", "digits")(tc.zeros(2, 1, 8, 8)).shape
(2, 1, 8, 8)
"""

from __future__ import annotations

from ..tensor import Tensor
from .layers import Conv2d, ConvTranspose2d, Flatten, Linear, MaxPool2d, ReLU, Sigmoid
from .module import Module, Sequential

#: Image side length and number of classes of each data set the models know.
DATASETS: dict[str, tuple[int, int]] = {"digits": (8, 10), "mnist": (28, 10)}
MODELS = ("lenet", "autoencoder")


class LeNet(Module):
    """Conv, ReLU, max-pool twice, then two linear layers (LeCun et al.'s LeNet shape).

    For 8x8 digits the convolutions are 3x3 with padding 1 (8 -> 4 -> 2 pixels); for 28x28 images
    they are 5x5 with padding 2 (28 -> 14 -> 7).
    """

    def __init__(self, image_size: int = 8, in_channels: int = 1, num_classes: int = 10,
                 channels: tuple[int, int] = (32, 64), hidden: int = 128) -> None:
        super().__init__()
        if image_size % 4:
            raise ValueError(f"LeNet: image_size must be divisible by 4 (two 2x2 poolings), got {image_size}")
        k = 3 if image_size <= 12 else 5
        c1, c2 = channels
        self.features = Sequential(
            Conv2d(in_channels, c1, k, padding=k // 2), ReLU(), MaxPool2d(2),
            Conv2d(c1, c2, k, padding=k // 2), ReLU(), MaxPool2d(2))
        side = image_size // 4
        self.classifier = Sequential(Flatten(), Linear(c2 * side * side, hidden), ReLU(),
                                     Linear(hidden, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


class ConvAutoencoder(Module):
    """Encoder: conv, ReLU, max-pool twice (down to a quarter of the side); decoder: two
    stride-2 transposed convolutions back up, then a sigmoid so outputs are pixels in [0, 1]."""

    def __init__(self, image_size: int = 8, in_channels: int = 1, channels: tuple[int, int] = (32, 8)) -> None:
        super().__init__()
        if image_size % 4:
            raise ValueError(f"ConvAutoencoder: image_size must be divisible by 4, got {image_size}")
        c1, c2 = channels
        self.encoder = Sequential(
            Conv2d(in_channels, c1, 3, padding=1), ReLU(), MaxPool2d(2),
            Conv2d(c1, c2, 3, padding=1), ReLU(), MaxPool2d(2))
        # Kernel 4, stride 2, padding 1 doubles the size with overlapping windows, so each output
        # pixel mixes several latent positions (a 2x2 kernel with stride 2 would tile them apart).
        self.decoder = Sequential(
            ConvTranspose2d(c2, c1, 4, stride=2, padding=1), ReLU(),
            ConvTranspose2d(c1, in_channels, 4, stride=2, padding=1), Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.encoder(x))


def build_model(name: str, data: str = "digits") -> Module:
    """The default model ``name`` ('lenet' or 'autoencoder') for data set ``data`` ('digits' or 'mnist').

    Initial weights come from ``nn.init``'s generator: call ``nn.init.manual_seed(seed)`` first for
    reproducible weights.
    """
    if data not in DATASETS:
        raise ValueError(f"build_model: unknown data set {data!r}; choose one of {', '.join(DATASETS)}")
    size, classes = DATASETS[data]
    if name == "lenet":
        if data == "digits":
            return LeNet(size, num_classes=classes, channels=(32, 64), hidden=128)
        return LeNet(size, num_classes=classes, channels=(6, 16), hidden=120)
    if name == "autoencoder":
        return ConvAutoencoder(size)
    raise ValueError(f"build_model: unknown model {name!r}; choose one of {', '.join(MODELS)}")

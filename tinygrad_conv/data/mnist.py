"""Load MNIST (or Fashion-MNIST) from the standard IDX files in a local directory.

Nothing is downloaded: put the four files (gzip-compressed or not) in a directory and
point ``load_mnist`` at it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .idx import PathLike, read_idx

MNIST_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

WHERE_TO_GET = (
    "MNIST: https://yann.lecun.com/exdb/mnist/ (or a mirror such as "
    "https://ossci-datasets.s3.amazonaws.com/mnist/); Fashion-MNIST, which uses the same "
    "file names and loads unchanged: https://github.com/zalandoresearch/fashion-mnist"
)


def _find(directory: Path, name: str, split: str) -> Path:
    candidates = [name, name + ".gz"]
    for candidate in candidates:
        path = directory / candidate
        if path.is_file():
            return path
    state = "" if directory.is_dir() else " (the directory does not exist)"
    raise FileNotFoundError(
        f"MNIST {split} data not found in {directory}{state}: looked for "
        f"{' or '.join(candidates)}. Download the four IDX files into that directory. {WHERE_TO_GET}"
    )


def load_mnist(
    directory: PathLike, split: str = "train", normalize: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of MNIST-format data as ``(images, labels)`` NumPy arrays.

    Looks in ``directory`` for ``train-images-idx3-ubyte`` / ``train-labels-idx1-ubyte``
    (``split="train"``) or ``t10k-images-idx3-ubyte`` / ``t10k-labels-idx1-ubyte``
    (``split="test"``), each with or without ``.gz``. ``images`` is float32 of shape
    ``(N, 1, 28, 28)``, divided by 255 into [0, 1] when ``normalize`` is true (else left
    at 0..255); ``labels`` is int64. A missing file raises ``FileNotFoundError`` saying
    what was looked for and where to get it.

    >>> import tempfile
    >>> from tinygrad_conv.data import load_mnist, write_idx
    >>> d = tempfile.mkdtemp()
    >>> write_idx(f"{d}/t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8))
    >>> write_idx(f"{d}/t10k-labels-idx1-ubyte", np.array([7, 2], np.uint8))
    >>> x, y = load_mnist(d, split="test")
    >>> x.shape, x.dtype, y.tolist()
    ((2, 1, 28, 28), dtype('float32'), [7, 2])
    """
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    directory = Path(directory)
    image_name, label_name = MNIST_FILES[split]
    image_path = _find(directory, image_name, split)
    label_path = _find(directory, label_name, split)

    images = read_idx(image_path)
    labels = read_idx(label_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"{image_path}: expected uint8 images of shape (N, rows, cols), got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1:
        raise ValueError(f"{label_path}: expected 1-d labels, got shape {labels.shape}")
    if labels.shape[0] != images.shape[0]:
        raise ValueError(
            f"{image_path} holds {images.shape[0]} images but {label_path} holds {labels.shape[0]} labels"
        )

    x = images.astype(np.float32)[:, None, :, :]
    if normalize:
        x /= np.float32(255.0)
    return np.ascontiguousarray(x), labels.astype(np.int64)
